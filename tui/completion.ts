/**
 * Tab completion for the input line, WeeChat style: Tab completes the word before the cursor
 * and, pressed again, cycles through the other matches; Shift-Tab cycles backwards.
 *
 * - `/jo` at the start of the line completes a command (`/join `).
 * - The first argument of /whisper (and its aliases) completes a nick in the room; of /join a
 *   room name from the last /chatrooms answer; other arguments complete nicks.
 * - A nick at the start of a line gets `: ` after it (addressing someone), elsewhere a space.
 *
 * Matching ignores case, as user and room names do on the relay. Pure: no I/O.
 */

export interface CompletionSources {
  /** Command names with their slash (`/join`), e.g. `registry.names()`. */
  commands: readonly string[];
  /** Nicks to offer (the users of the current room, usually without oneself). */
  nicks: readonly string[];
  /** Room names for /join. */
  rooms: readonly string[];
  /** Commands whose first argument is a user (`whisper`, `w`, `msg`), without the slash. */
  userArgCommands?: readonly string[];
  /** Commands whose first argument is a room (`join`), without the slash. */
  roomArgCommands?: readonly string[];
}

export interface CompletionResult {
  line: string;
  /** Cursor position in UTF-16 code units, just after the inserted text. */
  cursor: number;
  /** Every match for the word, in the order Tab cycles through them. */
  matches: string[];
  /** Index of the match inserted. */
  index: number;
}

export type CompletionKind = 'command' | 'nick' | 'room';

export interface CompletionTarget {
  kind: CompletionKind;
  /** Where the word being completed starts and ends (code units). */
  start: number;
  end: number;
  word: string;
  /** What follows an inserted match. */
  suffix: string;
}

const DEFAULT_USER_ARG = ['whisper', 'w', 'msg'];
const DEFAULT_ROOM_ARG = ['join'];

/** Works out what the word before `cursor` is and what kind of thing completes it. */
export function completionTarget(line: string, cursor: number, sources: Pick<CompletionSources, 'userArgCommands' | 'roomArgCommands'> = {}): CompletionTarget {
  const at = Math.max(0, Math.min(cursor, line.length));
  let start = at;
  while (start > 0 && !/\s/.test(line[start - 1])) start -= 1;
  const word = line.slice(start, at);
  // Text right after the cursor that belongs to the same word is replaced as well.
  let end = at;
  while (end < line.length && !/\s/.test(line[end])) end += 1;

  if (start === 0 && word.startsWith('/')) return { kind: 'command', start, end, word, suffix: ' ' };

  const before = line.slice(0, start);
  const firstArg = /^\/(\S+)\s+$/.exec(before);
  if (firstArg) {
    const name = firstArg[1].toLowerCase();
    if ((sources.roomArgCommands ?? DEFAULT_ROOM_ARG).includes(name)) return { kind: 'room', start, end, word, suffix: ' ' };
    if ((sources.userArgCommands ?? DEFAULT_USER_ARG).includes(name)) return { kind: 'nick', start, end, word, suffix: ' ' };
  }
  return { kind: 'nick', start, end, word, suffix: start === 0 ? ': ' : ' ' };
}

/** Candidates starting with `prefix` (any case), sorted without case, duplicates (by case-folded key) dropped. */
export function matchesFor(prefix: string, candidates: readonly string[]): string[] {
  const key = prefix.toLowerCase();
  const seen = new Set<string>();
  const out: string[] = [];
  for (const candidate of candidates) {
    const folded = candidate.toLowerCase();
    if (!folded.startsWith(key) || seen.has(folded)) continue;
    seen.add(folded);
    out.push(candidate);
  }
  return out.sort((a, b) => {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

function candidatesFor(kind: CompletionKind, sources: CompletionSources): readonly string[] {
  switch (kind) {
    case 'command':
      return sources.commands;
    case 'room':
      return sources.rooms;
    case 'nick':
      return sources.nicks;
  }
}

function insert(line: string, target: CompletionTarget, match: string): { line: string; cursor: number } {
  const rest = line.slice(target.end);
  if (rest.startsWith(' ')) {
    // The line already continues with a space: do not double it, step over it.
    const head = line.slice(0, target.start) + match + target.suffix.trimEnd();
    return { line: head + rest, cursor: head.length + 1 };
  }
  const head = line.slice(0, target.start) + match + target.suffix;
  return { line: head + rest, cursor: head.length };
}

/** One-shot completion: the first match inserted, or null when nothing matches. */
export function complete(line: string, cursor: number, sources: CompletionSources): CompletionResult | null {
  const target = completionTarget(line, cursor, sources);
  const matches = matchesFor(target.word, candidatesFor(target.kind, sources));
  if (matches.length === 0) return null;
  return { ...insert(line, target, matches[0]), matches, index: 0 };
}

/**
 * Tab completion with cycling. Call `next` on Tab and `previous` on Shift-Tab with the current
 * line and cursor; if they are what the last call returned, it moves on to the next match of
 * the same word, otherwise it starts over for the word now before the cursor.
 */
export class TabCompleter {
  private session: { base: string; target: CompletionTarget; matches: string[]; index: number; line: string; cursor: number } | null = null;

  next(line: string, cursor: number, sources: CompletionSources): CompletionResult | null {
    return this.step(line, cursor, sources, 1);
  }

  previous(line: string, cursor: number, sources: CompletionSources): CompletionResult | null {
    return this.step(line, cursor, sources, -1);
  }

  /** Forgets the cycle (call when the line changes by other means; also detected automatically). */
  reset(): void {
    this.session = null;
  }

  private step(line: string, cursor: number, sources: CompletionSources, direction: 1 | -1): CompletionResult | null {
    const s = this.session;
    if (s && s.line === line && s.cursor === cursor && s.matches.length > 0) {
      s.index = (s.index + direction + s.matches.length) % s.matches.length;
      const inserted = insert(s.base, s.target, s.matches[s.index]);
      s.line = inserted.line;
      s.cursor = inserted.cursor;
      return { ...inserted, matches: [...s.matches], index: s.index };
    }
    const target = completionTarget(line, cursor, sources);
    const matches = matchesFor(target.word, candidatesFor(target.kind, sources));
    if (matches.length === 0) {
      this.session = null;
      return null;
    }
    const index = direction === 1 ? 0 : matches.length - 1;
    const inserted = insert(line, target, matches[index]);
    this.session = { base: line, target, matches, index, line: inserted.line, cursor: inserted.cursor };
    return { ...inserted, matches, index };
  }
}
