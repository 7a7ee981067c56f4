/**
 * Tab completion for the input line, WeeChat style: Tab completes the word before the cursor
 * and, pressed again, cycles through the other matches; Shift-Tab cycles backwards.
 *
 * - `/jo` at the start of the line completes a command (`/join `).
 * - The first argument of /whisper (and its aliases) completes a nick in the room; of /join a
 *   room name from the last /chatrooms answer; other arguments complete nicks.
 * - A nick at the start of a line gets `: ` after it (addressing someone), elsewhere a space.
 * - The first argument of /accept, /reject and /cancel completes a transfer id; of /download
 *   a room file id (from the last /files answer and own uploads).
 * - The argument of /upload and the second argument of /send complete a local path, from the
 *   `paths` source (the caller lists the folder; a folder comes back with its `/`, and nothing
 *   is added after it so Tab can go on into it). The DIR of /accept and /download completes
 *   folders only.
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
  /** Transfer ids (running ones, offers waiting) for /accept, /reject, /cancel. */
  transferIds?: readonly string[];
  /** Commands whose first argument is a transfer id (`accept`, `reject`, `cancel`), without the slash. */
  transferArgCommands?: readonly string[];
  /** Commands whose second argument is a local path (`send`, `accept`, `download`), without the slash. */
  pathArgCommands?: readonly string[];
  /** Commands whose first argument is a local path (`upload`), without the slash. */
  firstPathArgCommands?: readonly string[];
  /** Commands whose path argument is a folder (`accept`, `download`): only folders are offered. */
  folderArgCommands?: readonly string[];
  /** Room file ids (the current room's, as last listed) for /download. */
  fileIds?: readonly string[];
  /** Commands whose first argument is a room file id (`download`), without the slash. */
  fileArgCommands?: readonly string[];
  /**
   * Local paths starting with `word` (as typed, `~/` allowed): folders end with `/`;
   * `foldersOnly` asks for folders alone (others are filtered out anyway). Absent: no path
   * completion.
   */
  paths?: (word: string, options?: { foldersOnly?: boolean }) => readonly string[];
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

export type CompletionKind = 'command' | 'nick' | 'room' | 'path' | 'transfer' | 'file';

export interface CompletionTarget {
  kind: CompletionKind;
  /** Where the word being completed starts and ends (code units). */
  start: number;
  end: number;
  word: string;
  /** What follows an inserted match. */
  suffix: string;
  /** A path that must be a folder (the DIR of /accept and /download). */
  foldersOnly?: true;
}

const DEFAULT_USER_ARG = ['whisper', 'w', 'msg'];
const DEFAULT_ROOM_ARG = ['join'];
const DEFAULT_PATH_ARG = ['send', 'accept', 'download'];
const DEFAULT_FIRST_PATH_ARG = ['upload'];
const DEFAULT_FOLDER_ARG = ['accept', 'download'];
const DEFAULT_TRANSFER_ARG = ['accept', 'reject', 'cancel'];
const DEFAULT_FILE_ARG = ['download'];

type TargetSources = Pick<
  CompletionSources,
  'userArgCommands' | 'roomArgCommands' | 'pathArgCommands' | 'firstPathArgCommands' | 'folderArgCommands' | 'transferArgCommands' | 'fileArgCommands'
>;

function pathTarget(command: string, start: number, end: number, word: string, sources: TargetSources): CompletionTarget {
  const target: CompletionTarget = { kind: 'path', start, end, word, suffix: '' };
  if ((sources.folderArgCommands ?? DEFAULT_FOLDER_ARG).includes(command)) target.foldersOnly = true;
  return target;
}

/** Works out what the word before `cursor` is and what kind of thing completes it. */
export function completionTarget(line: string, cursor: number, sources: TargetSources = {}): CompletionTarget {
  const at = Math.max(0, Math.min(cursor, line.length));
  let start = at;
  while (start > 0 && !/\s/.test(line[start - 1])) start -= 1;
  const word = line.slice(start, at);
  // Text right after the cursor that belongs to the same word is replaced as well.
  let end = at;
  while (end < line.length && !/\s/.test(line[end])) end += 1;

  if (start === 0 && word.startsWith('/')) return { kind: 'command', start, end, word, suffix: ' ' };

  const before = line.slice(0, start);
  const secondArg = /^\/(\S+)\s+\S+\s+$/.exec(before);
  if (secondArg && (sources.pathArgCommands ?? DEFAULT_PATH_ARG).includes(secondArg[1].toLowerCase())) {
    return pathTarget(secondArg[1].toLowerCase(), start, end, word, sources);
  }
  const firstArg = /^\/(\S+)\s+$/.exec(before);
  if (firstArg) {
    const name = firstArg[1].toLowerCase();
    if ((sources.firstPathArgCommands ?? DEFAULT_FIRST_PATH_ARG).includes(name)) return pathTarget(name, start, end, word, sources);
    if ((sources.roomArgCommands ?? DEFAULT_ROOM_ARG).includes(name)) return { kind: 'room', start, end, word, suffix: ' ' };
    if ((sources.transferArgCommands ?? DEFAULT_TRANSFER_ARG).includes(name)) return { kind: 'transfer', start, end, word, suffix: ' ' };
    if ((sources.fileArgCommands ?? DEFAULT_FILE_ARG).includes(name)) return { kind: 'file', start, end, word, suffix: ' ' };
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
    case 'path':
      return [];
    case 'transfer':
      return sources.transferIds ?? [];
    case 'file':
      return sources.fileIds ?? [];
  }
}

/** Matches for a target: paths come from the caller's lister (case matters there), the rest by prefix. */
function matchesOf(target: CompletionTarget, sources: CompletionSources): string[] {
  if (target.kind === 'path') {
    const found = sources.paths?.(target.word, target.foldersOnly ? { foldersOnly: true } : undefined) ?? [];
    return [...new Set(found.filter((p) => p.startsWith(target.word) && (!target.foldersOnly || p.endsWith('/'))))].sort();
  }
  return matchesFor(target.word, candidatesFor(target.kind, sources));
}

/** What follows an inserted match: a folder gets nothing (Tab goes on into it), a file a space. */
function suffixFor(target: CompletionTarget, match: string): CompletionTarget {
  if (target.kind !== 'path') return target;
  return { ...target, suffix: match.endsWith('/') ? '' : ' ' };
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
  const matches = matchesOf(target, sources);
  if (matches.length === 0) return null;
  return { ...insert(line, suffixFor(target, matches[0]), matches[0]), matches, index: 0 };
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
      const inserted = insert(s.base, suffixFor(s.target, s.matches[s.index]), s.matches[s.index]);
      s.line = inserted.line;
      s.cursor = inserted.cursor;
      return { ...inserted, matches: [...s.matches], index: s.index };
    }
    const target = completionTarget(line, cursor, sources);
    const matches = matchesOf(target, sources);
    if (matches.length === 0) {
      this.session = null;
      return null;
    }
    const index = direction === 1 ? 0 : matches.length - 1;
    const inserted = insert(line, suffixFor(target, matches[index]), matches[index]);
    this.session = { base: line, target, matches, index, line: inserted.line, cursor: inserted.cursor };
    return { ...inserted, matches, index };
  }
}
