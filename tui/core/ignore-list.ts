import path from 'node:path';
import { z } from 'zod';
import { ChatError, asChatError } from '../../shared/errors.js';
import { nameKey, validateUserName } from '../../shared/names.js';
import type { EventHub } from './event-hub.js';
import type { ChatEvent } from './events.js';
import { ensurePrivateDir, readPrivateFile, writePrivateFileAtomic } from './private-file.js';

/** The ignore list's file in a user's data folder (next to the key pins). */
export const IGNORE_FILE_NAME = 'ignore.json';
/** Far more names than anyone ignores; bounds the file read at start. */
const MAX_IGNORED = 10_000;
const MAX_FILE_BYTES = 1024 * 1024;

const IgnoreFile = z.object({ version: z.literal(1), users: z.array(z.string().min(1).max(64)).max(MAX_IGNORED) });

/**
 * `/ignore USER`, client side, as irssi's: the user's room messages and whispers are dropped
 * before any front end sees them, silently (no line per hidden message). Kept per local user in
 * `ignore.json` of their data folder, written atomically, so it holds across restarts and relays.
 * Names are kept as typed and compared by name key; a name that has no account (yet) is fine.
 */
export class IgnoreList {
  private readonly names = new Map<string, string>();

  constructor(private readonly file: string) {}

  /** `<userDataDir>/ignore.json`. */
  static inFolder(dir: string): IgnoreList {
    return new IgnoreList(path.join(dir, IGNORE_FILE_NAME));
  }

  /** Reads the file (a missing one is an empty list). E_CORRUPT_FILE when it is not an ignore list. */
  async load(): Promise<void> {
    const text = await readPrivateFile(this.file, MAX_FILE_BYTES, []);
    if (text === undefined) return;
    let parsed;
    try {
      parsed = IgnoreFile.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (!parsed?.success) throw new ChatError('E_CORRUPT_FILE', `${this.file} is not an ignore list; it was left untouched`, { path: this.file });
    this.names.clear();
    for (const user of parsed.data.users) this.names.set(nameKey(user), user);
  }

  has(user: string): boolean {
    return this.names.size > 0 && this.names.has(nameKey(user));
  }

  /** The names ignored, sorted by key. */
  list(): string[] {
    return [...this.names].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, name]) => name);
  }

  /** Adds `user`; false when already there (nothing written). */
  async add(user: string): Promise<boolean> {
    if (this.has(user)) return false;
    if (this.names.size >= MAX_IGNORED) throw new ChatError('E_TOO_LARGE', `at most ${MAX_IGNORED} users can be ignored`);
    this.names.set(nameKey(user), user);
    await this.save();
    return true;
  }

  /** Removes `user`; false when not there. */
  async remove(user: string): Promise<boolean> {
    if (!this.names.delete(nameKey(user))) return false;
    await this.save();
    return true;
  }

  private async save(): Promise<void> {
    await ensurePrivateDir(path.dirname(this.file));
    await writePrivateFileAtomic(this.file, JSON.stringify({ version: 1, users: this.list() }, null, 2) + '\n');
  }
}

/**
 * The event a front end should see with `ignored` users hidden: their room messages and
 * whispers dropped (null), and left out of `joined` and `history` batches. Own messages and
 * everything else pass unchanged. Pure.
 */
export function withoutIgnored(event: ChatEvent, ignored: (user: string) => boolean): ChatEvent | null {
  switch (event.type) {
    case 'message':
      return event.own !== true && ignored(event.from) ? null : event;
    case 'whisper':
      return event.own !== true && ignored(event.from) ? null : event;
    case 'joined': {
      const history = event.history.filter((m) => m.own === true || !ignored(m.from));
      return history.length === event.history.length ? event : { ...event, history };
    }
    case 'history': {
      const messages = event.messages.filter((m) => m.own === true || !ignored(m.from));
      return messages.length === event.messages.length ? event : { ...event, messages };
    }
    default:
      return event;
  }
}

/**
 * /ignore and /unignore of one client: the list read once (a damaged file is reported at the
 * first connect and the list starts empty), the filter on the client's events, and an
 * `ignored` event for each change and listing.
 */
export class Ignoring {
  private readonly loaded: Promise<void>;
  private problem: ChatError | undefined;

  constructor(
    private readonly names: IgnoreList,
    private readonly events: EventHub,
    private readonly self: () => string,
  ) {
    this.loaded = names.load().catch((error: unknown) => {
      this.problem = asChatError(error);
    });
    events.setFilter((event) => withoutIgnored(event, (name) => names.has(name)));
  }

  /** Waits for the list (so ignored users are hidden from the first message on); reports a damaged file once. */
  async ready(): Promise<void> {
    await this.loaded;
    if (this.problem) this.events.emitError(this.problem, 'ignore');
    this.problem = undefined;
  }

  async ignore(user?: string): Promise<string[]> {
    await this.loaded;
    const { names, events } = this;
    if (user === undefined) {
      events.emit({ type: 'ignored', users: names.list(), change: 'list' });
      return names.list();
    }
    validateUserName(user);
    if (nameKey(user) === nameKey(this.self())) throw new ChatError('E_SELF', 'you cannot ignore yourself');
    const added = await names.add(user);
    events.emit({ type: 'ignored', users: names.list(), change: added ? 'added' : 'already', user });
    return names.list();
  }

  async unignore(user: string): Promise<string[]> {
    await this.loaded;
    validateUserName(user);
    const removed = await this.names.remove(user);
    this.events.emit({ type: 'ignored', users: this.names.list(), change: removed ? 'removed' : 'not-listed', user });
    return this.names.list();
  }
}
