import { ChatError } from '../../shared/errors.js';
import { MAX_HISTORY_MESSAGES } from '../../shared/limits.js';
import { validateRoomName, validateUserName } from '../../shared/names.js';
import { splitMessage } from './split-message.js';

/**
 * The one slash-command registry. Every front end (the TUI, the JSON mode, `ChatClient.run`
 * for tests and bots) runs input lines through one dispatcher (dispatch.ts), which reads
 * them with `parseCommandLine`; the TUI adds its local commands (/help, /clear, /reconnect)
 * to its own copy with `createCommandRegistry().add(...)` and generates /help from `list()`.
 *
 * A command parses its argument text (throwing E_USAGE with the usage string) apart from
 * running it, so a line can be checked before anything is sent. What a front end does with a
 * command besides running it is said by its flags, never by its name.
 */
export interface Command<A = unknown, T = CommandClient> {
  /** Without the slash, lowercase. */
  name: string;
  /** Other names, without the slash (one name space with the names: a clash is refused by `add`). */
  aliases?: string[];
  /** e.g. `/whisper USER MESSAGE`. */
  usage: string;
  /** One line for /help. */
  help: string;
  /** Runs in the front end on its own context (the TUI's screen), never on the client. */
  local?: boolean;
  /** Only useful while online: a front end that holds lines keeps it until then. Default: every command not `local`. */
  needsConnection?: boolean;
  /** May run for minutes (a file to or from the relay): a front end shows it as a job instead of waiting for it. */
  job?: boolean;
  /** Ends the session (/exit): a front end may leave its own way (the TUI's grace period, the JSON mode's wait for transfers). */
  ends?: boolean;
  /** Parses what follows the command name; throws ChatError E_USAGE (or E_BAD_NAME). */
  parse(args: string): A;
  run(target: T, args: A): Promise<unknown>;
}

/** Whether a front end should hold `command` while not online. */
export function needsConnection(command: Command<any, any>): boolean {
  return command.needsConnection ?? command.local !== true;
}

/**
 * What the relay commands act on: the part of the client core the registry needs. Declared
 * here so that this module does not import the client (ChatClient implements it).
 */
export interface CommandClient {
  /** Longest room message or whisper text, in UTF-8 bytes: longer text is sent as several (split-message.ts). */
  readonly maxMessageBytes: number;
  say(text: string): Promise<unknown>;
  users(): Promise<unknown>;
  away(text?: string): Promise<unknown>;
  ignore(user?: string): Promise<unknown>;
  unignore(user: string): Promise<unknown>;
  whisper(to: string, text: string): Promise<unknown>;
  verify(user: string): Promise<unknown>;
  trust(user: string): Promise<unknown>;
  create(room: string): Promise<unknown>;
  join(room: string): Promise<unknown>;
  rooms(): Promise<unknown>;
  leave(): Promise<unknown>;
  history(count?: number): Promise<unknown>;
  sendFile(to: string, file: string): Promise<unknown>;
  acceptTransfer(id: string, directory?: string): Promise<unknown>;
  rejectTransfer(id: string): unknown;
  cancelTransfer(id: string): unknown;
  listTransfers(): unknown;
  uploadFile(file: string): Promise<unknown>;
  listFiles(): Promise<unknown>;
  downloadFile(fileId: string, directory?: string): Promise<unknown>;
  ping(): Promise<unknown>;
  exit(): Promise<unknown>;
}

export type ParsedLine =
  /** Text for the current room (a line without a slash; `//text` says `/text`). */
  | { kind: 'say'; text: string }
  /** A command to run: `command.run(client, args)`. `name` is what was typed (an alias maybe). */
  | { kind: 'command'; command: Command<any, any>; name: string; args: unknown }
  /** E_USAGE or E_UNKNOWN_COMMAND (or E_BAD_NAME); `name` is the command typed, if any. */
  | { kind: 'error'; error: ChatError; name?: string }
  /** A blank line: nothing to do. */
  | { kind: 'empty' };

export class CommandRegistry {
  private readonly byName = new Map<string, Command<any, any>>();
  private readonly commands: Command<any, any>[] = [];

  /** Adds a command; a name or alias already taken is a programming error. */
  add<A, T>(command: Command<A, T>): this {
    for (const name of [command.name, ...(command.aliases ?? [])]) {
      const key = name.toLowerCase();
      if (this.byName.has(key)) throw new Error(`command /${key} is registered twice`);
      this.byName.set(key, command);
    }
    this.commands.push(command);
    return this;
  }

  /** Looks up a command by name or alias, without the slash, any case. */
  get(name: string): Command<any, any> | undefined {
    return this.byName.get(name.toLowerCase());
  }

  /** Every command, in registration order (for /help). */
  list(): readonly Command<any, any>[] {
    return this.commands;
  }

  /** Names and aliases with their slash, sorted (for tab completion). */
  names(): string[] {
    return [...this.byName.keys()].map((n) => '/' + n).sort();
  }

  /** A copy to extend without changing this one. */
  clone(): CommandRegistry {
    const copy = new CommandRegistry();
    for (const command of this.commands) copy.add(command);
    return copy;
  }
}

function usage(command: { usage: string }, why?: string): ChatError {
  return new ChatError('E_USAGE', why ? `${why}; usage: ${command.usage}` : `usage: ${command.usage}`, { usage: command.usage });
}

/** A command without arguments (the TUI's local ones too: `T` is what it runs on). */
export function noArgs<T = CommandClient>(name: string, aliases: string[], help: string, run: (target: T) => Promise<unknown>): Command<null, T> {
  const command: Command<null, T> = {
    name,
    aliases,
    usage: `/${name}`,
    help,
    parse(args) {
      if (args.trim() !== '') throw usage(command, `/${name} takes no arguments`);
      return null;
    },
    run: (target) => run(target),
  };
  return command;
}

/** A command with exactly one name argument. */
function oneName(
  name: string,
  placeholder: string,
  help: string,
  validate: (value: string) => string,
  run: (client: CommandClient, value: string) => Promise<unknown>,
): Command<string> {
  const command: Command<string> = {
    name,
    usage: `/${name} ${placeholder}`,
    help,
    parse(args) {
      const words = args.trim().split(/\s+/).filter(Boolean);
      if (words.length !== 1) throw usage(command);
      return validate(words[0]);
    },
    run,
  };
  return command;
}

const whisper: Command<{ to: string; text: string }> = {
  name: 'whisper',
  aliases: ['w', 'msg', 'query'],
  usage: '/whisper USER MESSAGE',
  help: 'send an end-to-end encrypted private message to USER (who must be in your room)',
  parse(args) {
    const match = /^\s*(\S+)\s(.*)$/s.exec(args);
    if (!match || match[2].trim() === '') throw usage(whisper);
    return { to: validateUserName(match[1]), text: match[2] };
  },
  run: async (client, { to, text }) => {
    // One after the other: each part is sealed and sent in order.
    for (const part of splitMessage(text, client.maxMessageBytes)) await client.whisper(to, part);
  },
};

/**
 * A room message that starts with this is an action (`/me waves` shows as `* alice waves`), as
 * IRC clients show CTCP ACTION. It travels as the plain text, so a client that does not know
 * the convention shows the line as typed; the receiving view makes it an action.
 */
export const ACTION_PREFIX = '/me ';

const me: Command<string> = {
  name: 'me',
  usage: '/me ACTION',
  help: 'say what you do, shown as "* you ACTION" (IRC\'s /me)',
  parse(args) {
    if (args.trim() === '') throw usage(me);
    return args;
  },
  // A long action is several actions, each with the prefix.
  run: (client, action) =>
    Promise.all(splitMessage(action, client.maxMessageBytes - Buffer.byteLength(ACTION_PREFIX)).map((part) => client.say(ACTION_PREFIX + part))),
};

const away: Command<string | undefined> = {
  name: 'away',
  usage: '/away [MESSAGE]',
  help: 'mark yourself away with MESSAGE, shown to your room in /users and the users list; without it you are back',
  parse(args) {
    const text = args.trim();
    return text === '' ? undefined : text;
  },
  run: (client, text) => client.away(text),
};

const ignore: Command<string | undefined> = {
  name: 'ignore',
  usage: '/ignore [USER]',
  help: "hide USER's room messages and whispers (kept in your data folder, silently, as irssi does); alone: list who is ignored",
  // Acts on this machine only: also while offline.
  needsConnection: false,
  parse(args) {
    const words = args.trim().split(/\s+/).filter(Boolean);
    if (words.length > 1) throw usage(ignore);
    return words[0] === undefined ? undefined : validateUserName(words[0]);
  },
  run: (client, user) => client.ignore(user),
};

const history: Command<number | undefined> = {
  name: 'history',
  usage: '/history [N]',
  help: 'show N older messages of this room (default 50); again to page further back',
  parse(args) {
    const text = args.trim();
    if (text === '') return undefined;
    if (!/^\d{1,5}$/.test(text)) throw usage(history, 'N is a whole number');
    const n = Number(text);
    if (n < 1 || n > MAX_HISTORY_MESSAGES) throw usage(history, `N is from 1 to ${MAX_HISTORY_MESSAGES}`);
    return n;
  },
  run: (client, n) => client.history(n),
};

/** A transfer id (or a prefix of one) as typed. */
function transferIdArg(command: { usage: string }, word: string | undefined): string {
  if (word === undefined || !/^[A-Za-z0-9_-]{1,64}$/.test(word)) throw usage(command, 'ID is a transfer id from /transfers');
  return word;
}

/** A path as typed: surrounding quotes dropped (so names with spaces can be quoted, or not). */
function pathArg(text: string): string {
  const trimmed = text.trim();
  const quoted = /^(["'])(.*)\1$/s.exec(trimmed);
  return quoted ? quoted[2] : trimmed;
}

const send: Command<{ to: string; file: string }> = {
  name: 'send',
  usage: '/send USER PATH',
  help: 'offer a file, or a folder (PATH/), to USER (in your room); end-to-end encrypted, direct when possible, else through the relay',
  parse(args) {
    const match = /^\s*(\S+)\s+(.*\S.*)$/s.exec(args);
    if (!match) throw usage(send);
    return { to: validateUserName(match[1]), file: pathArg(match[2]) };
  },
  run: (client, { to, file }) => client.sendFile(to, file),
};

const accept: Command<{ id: string; dir?: string }> = {
  name: 'accept',
  usage: '/accept ID [DIR]',
  help: 'accept a file offer; saved in DIR (default: ~/Downloads if it exists, else the working folder)',
  parse(args) {
    const match = /^\s*(\S+)(?:\s+(.*\S.*))?\s*$/s.exec(args);
    if (!match) throw usage(accept);
    const id = transferIdArg(accept, match[1]);
    return match[2] !== undefined ? { id, dir: pathArg(match[2]) } : { id };
  },
  run: (client, { id, dir }) => client.acceptTransfer(id, dir),
};

/** A command taking one transfer id. */
function oneTransfer(name: string, help: string, run: (client: CommandClient, id: string) => Promise<unknown>): Command<string> {
  const command: Command<string> = {
    name,
    usage: `/${name} ID`,
    help,
    parse(args) {
      const words = args.trim().split(/\s+/).filter(Boolean);
      if (words.length !== 1) throw usage(command);
      return transferIdArg(command, words[0]);
    },
    run,
  };
  return command;
}

const upload: Command<string> = {
  name: 'upload',
  usage: '/upload PATH',
  help: 'store a file on the relay for your room; members see it in /files until it expires',
  job: true,
  parse(args) {
    const file = pathArg(args);
    if (file === '') throw usage(upload);
    return file;
  },
  run: (client, file) => client.uploadFile(file),
};

const download: Command<{ id: string; dir?: string }> = {
  name: 'download',
  usage: '/download ID [DIR]',
  help: 'fetch a file (ID from /files) into DIR, default ~/Downloads or the working folder',
  job: true,
  parse(args) {
    const match = /^\s*(\S+)(?:\s+(.*\S.*))?\s*$/s.exec(args);
    if (!match || !/^[0-9a-f]{4,32}$/.test(match[1])) throw usage(download, 'ID is a file id from /files, or its first 4 or more characters');
    return match[2] !== undefined ? { id: match[1], dir: pathArg(match[2]) } : { id: match[1] };
  },
  run: (client, { id, dir }) => client.downloadFile(id, dir),
};

/** The registry with every relay command. */
export function createCommandRegistry(): CommandRegistry {
  return new CommandRegistry()
    .add(noArgs('users', ['names'], 'list the users in your room', (c) => c.users()))
    .add(away)
    .add(noArgs('back', [], 'you are back: clears /away', (c) => c.away()))
    .add(ignore)
    .add({ ...oneName('unignore', 'USER', "show USER's messages again", validateUserName, (c, user) => c.unignore(user)), needsConnection: false })
    .add(whisper)
    .add(me)
    .add(
      oneName('verify', 'USER', "show the safety number of you and USER, to compare aloud (the same on both sides)", validateUserName, (c, user) =>
        c.verify(user),
      ),
    )
    .add(oneName('trust', 'USER', "mark USER's key verified, or accept USER's changed key after comparing with /verify", validateUserName, (c, user) => c.trust(user)))
    .add(oneName('create', 'ROOM', 'create a chatroom and enter it (from the global room)', validateRoomName, (c, room) => c.create(room)))
    .add(oneName('join', 'ROOM', 'enter a chatroom (from the global room)', validateRoomName, (c, room) => c.join(room)))
    .add(noArgs('chatrooms', ['rooms', 'list'], 'list the chatrooms (from the global room)', (c) => c.rooms()))
    .add(noArgs('leave', ['part'], 'go back to the global room', (c) => c.leave()))
    .add(history)
    .add(send)
    .add(accept)
    .add(oneTransfer('reject', 'decline a file offer', async (c, id) => c.rejectTransfer(id)))
    .add(oneTransfer('cancel', 'stop a file transfer, either way (a partial file is removed)', async (c, id) => c.cancelTransfer(id)))
    .add(noArgs('transfers', [], 'list file transfers: state, path (direct, lan, relay), progress, speed', async (c) => c.listTransfers()))
    .add(upload)
    .add(noArgs('files', [], 'list the files stored for your room: id, size, age, who, name', (c) => c.listFiles()))
    .add(download)
    .add(noArgs('ping', [], 'measure the round-trip time to the relay', (c) => c.ping()))
    .add({ ...noArgs('exit', ['quit'], 'leave once everything you sent is stored', (c) => c.exit()), ends: true });
}

/** The shared default registry. Extend a `clone()` of it rather than this one. */
export const commands: CommandRegistry = createCommandRegistry();

/** E_UNKNOWN_COMMAND for `/name`, with the nearest command when one is a typo away ("did you mean /part?"). */
export function unknownCommand(name: string, registry: CommandRegistry = commands): ChatError {
  const suggestion = name === '' ? undefined : closestName(name.toLowerCase(), registry.names().map((n) => n.slice(1)));
  const hint = suggestion ? `did you mean /${suggestion}?` : 'try /help';
  return new ChatError('E_UNKNOWN_COMMAND', `unknown command "/${name}"; ${hint}`, suggestion ? { name, suggestion } : { name });
}

/**
 * The name nearest to `typed` by optimal string alignment distance (insertions, deletions,
 * substitutions and swaps of two neighbours each cost 1), if it is at most 2 and shorter than
 * the word itself; ties go to the first in `names` order.
 */
export function closestName(typed: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, typed.length - 1);
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (distance <= bestDistance && (best === undefined || distance < editDistance(typed, best))) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1);
    }
  }
  return rows[a.length][b.length];
}

/**
 * Reads one input line: `/name args` is a command, `//text` is the text `/text`, anything
 * else is text for the current room. A trailing CR (CRLF input) is dropped.
 */
export function parseCommandLine(line: string, registry: CommandRegistry = commands): ParsedLine {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return { kind: 'empty' };
  if (!text.startsWith('/')) return { kind: 'say', text };
  if (text.startsWith('//')) return { kind: 'say', text: text.slice(1) };
  const match = /^\/(\S*)(?:\s(.*))?$/s.exec(text);
  const name = match?.[1] ?? '';
  const args = match?.[2] ?? '';
  const command = name === '' ? undefined : registry.get(name);
  if (!command) return { kind: 'error', name: name || undefined, error: unknownCommand(name, registry) };
  try {
    return { kind: 'command', command, name: name.toLowerCase(), args: command.parse(args) };
  } catch (error) {
    if (error instanceof ChatError) return { kind: 'error', error, name: command.name };
    throw error;
  }
}
