import { formatClock } from './render.js';
import type { RoomBuffer, ViewLine } from './state.js';

/** Matches listed by one /search at most (the newest); the rest are counted. */
export const MAX_SEARCH_RESULTS = 20;

/** What a line says, as the search sees it and as a result shows it: `<nick> text`, `* nick acts`, `*nick* whisper`. */
function spoken(line: ViewLine): string {
  switch (line.kind) {
    case 'message':
      return line.action ? `* ${line.nick ?? ''} ${line.text}` : `<${line.nick ?? ''}> ${line.text}`;
    case 'whisper':
      return line.own ? `-> *${line.nick ?? ''}* ${line.text}` : `*${line.nick ?? ''}* ${line.text}`;
    default:
      return line.text;
  }
}

/** `14:03`, or `1 Dec 14:03` when the line is from another day than `now`. */
function when(ms: number, now: number): string {
  const d = new Date(ms);
  if (d.toDateString() === new Date(now).toDateString()) return formatClock(ms);
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getMonth()];
  return `${d.getDate()} ${month} ${formatClock(ms)}`;
}

/**
 * `/search TEXT` (irssi's /lastlog): the lines of a room's scrollback that contain `query`, any
 * case, among what people said (messages, actions, whispers) and joins and leaves, not the
 * client's own notices (earlier results included). The answer is one notice: a head line and
 * the newest MAX_SEARCH_RESULTS matches with their time, oldest first; or a line saying that
 * nothing matches. Pure: the lines are sanitized already.
 */
export function searchScrollback(buffer: RoomBuffer, query: string, now: number): string {
  const needle = query.toLocaleLowerCase();
  const matches = buffer.lines.filter((line) => line.kind !== 'system' && line.kind !== 'error' && spoken(line).toLocaleLowerCase().includes(needle));
  if (matches.length === 0) {
    const scope = buffer.hasMore ? '; /history loads older messages to search too' : '';
    return `no lines in ${buffer.name} match "${query}"${scope}`;
  }
  const shown = matches.slice(-MAX_SEARCH_RESULTS);
  const more = matches.length - shown.length;
  const head =
    `${matches.length} ${matches.length === 1 ? 'line' : 'lines'} in ${buffer.name} ${matches.length === 1 ? 'matches' : 'match'} "${query}"` +
    (more > 0 ? ` (the newest ${shown.length} shown)` : '') +
    ':';
  // A multi-line message shows its first line that matches (or its first line).
  const rows = shown.map((line) => {
    const text = spoken(line);
    const parts = text.split('\n');
    const row = parts.find((part) => part.toLocaleLowerCase().includes(needle)) ?? parts[0];
    // No indent of its own: the notice's rows are indented under its text already.
    return `${when(line.time, now)} ${row}${parts.length > 1 ? ' …' : ''}`;
  });
  return [head, ...rows].join('\n');
}
