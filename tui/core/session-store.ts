import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Session, type SessionJson } from '../../shared/crypto/session.js';
import { ChatError } from '../../shared/errors.js';
import { SESSION_STORE_LIMITS } from '../../shared/limits.js';
import { isValidName, nameKey } from '../../shared/names.js';
import type { StateBox } from './device-file.js';
import { ensurePrivateDir, readPrivateFile } from './private-file.js';
import { StateJournal } from './state-journal.js';

/**
 * This device's Double Ratchet sessions with its contacts (docs/crypto.md "Client files"):
 * `sessions/<name>.json` per contact, 0600, sealed under the passphrase when the identity has one
 * (device-file.ts). A commit appends the contact's whole state to `sessions.journal` (one
 * fdatasync shared by all commits of a tick, state-journal.ts), which is compacted into the
 * contact files now and then, at exit, and replayed at the next start after a crash.
 *
 * The rule that keeps message keys single-use (deviation 3 of docs/crypto.md): a sealed body
 * leaves only after `commit` of its contact resolved, i.e. the advanced sending state is durable;
 * a crash between the two loses that whisper and never reuses its key. Received messages are
 * committed within `receiveCommitMs` (`commitLater`), with the next send, or at exit. Commits of
 * one contact are group-committed: the changes made while a write is in flight go into the next one.
 */
const KIND = 'securechat-sessions';

/** One session with one contact device, and whose identity keys it was made with (the pin then). */
export interface StoredSession {
  session: Session;
  /** The contact's identity keys (base64 `sign`, `box`) the session was made with. */
  sign: string;
  box: string;
  /** Higher is preferred for sending: bumped when a session is made or a message arrives on it. */
  rank: number;
}

interface FileData {
  user: string;
  clock: number;
  sessions: { sign: string; box: string; rank: number; session: SessionJson }[];
}

/** One contact's sessions, loaded once, written as a whole. */
export class PeerSessions {
  private inflight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly key: string,
    private readonly journal: StateJournal,
    private readonly box: StateBox,
    readonly user: string,
    private clock: number,
    readonly sessions: StoredSession[],
  ) {}

  /** Makes `stored` the most preferred (a message arrived on it, or it is new). */
  prefer(stored: StoredSession): void {
    stored.rank = ++this.clock;
  }

  /** Adds a session; beyond `maxSessionsPerDevice` for that device the least preferred goes. */
  add(session: Session, identity: { sign: string; box: string }): StoredSession {
    const stored: StoredSession = { session, ...identity, rank: 0 };
    this.prefer(stored);
    this.sessions.push(stored);
    const same = this.sessions.filter((s) => s.session.peerDevice === session.peerDevice).sort((a, b) => a.rank - b.rank);
    for (const old of same.slice(0, Math.max(0, same.length - SESSION_STORE_LIMITS.maxSessionsPerDevice))) this.sessions.splice(this.sessions.indexOf(old), 1);
    return stored;
  }

  /** Changes that may wait (received messages): committed within `delayMs`, or sooner by `commit`. */
  commitLater(delayMs: number, onError: (error: unknown) => void): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.commit().catch(onError);
    }, delayMs);
    this.timer.unref();
  }

  /** Whether `commitLater` changes are waiting. */
  get waiting(): boolean {
    return this.timer !== null;
  }

  /** Durable when this resolves: every change made before the call is on disk. */
  commit(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.inflight) {
      this.inflight = this.write().finally(() => (this.inflight = null));
      return this.inflight;
    }
    this.queued ??= this.inflight.catch(() => {}).then(() => {
      this.queued = null;
      return this.commit();
    });
    return this.queued;
  }

  private write(): Promise<void> {
    const data: FileData = {
      user: this.user,
      clock: this.clock,
      sessions: this.sessions.map((s) => ({ sign: s.sign, box: s.box, rank: s.rank, session: s.session.toJSON() })),
    };
    return this.journal.append(this.key, this.box.encode(KIND, data));
  }
}

export class SessionStore {
  private readonly peers = new Map<string, Promise<PeerSessions>>();

  private constructor(
    private readonly dir: string,
    private readonly journal: StateJournal,
    private readonly box: StateBox,
    private readonly warnings: string[],
    /**
     * Contacts with a file in `sessions/` (listed once at open) or with sessions made in this run:
     * a new contact is known to have no file without a failed stat each (an ENOENT error and its
     * stack were ~0.3 ms of a first contact in the whisper-mesh profile), and counted for maxPeers.
     */
    private readonly known: Set<string>,
  ) {}

  /** Opens `sessions/` in `dir`; a journal left by a crash is replayed into it first. */
  static async open(dir: string, box: StateBox, warnings: string[]): Promise<SessionStore> {
    const folder = path.join(dir, 'sessions');
    await ensurePrivateDir(folder);
    const journal = await StateJournal.open(path.join(dir, 'sessions.journal'), (key) => path.join(folder, `${key}.json`), (key) => key === nameKey(key) && isValidName(key), warnings);
    const names = (await fs.readdir(folder)).filter((n) => n.endsWith('.json'));
    return new SessionStore(folder, journal, box, warnings, new Set(names.map((n) => n.slice(0, -'.json'.length))));
  }

  /** Writes every contact's waiting changes now and compacts the journal into the contact files (at exit). */
  async flush(): Promise<void> {
    const loaded = await Promise.allSettled(this.peers.values());
    await Promise.all(loaded.map((p) => (p.status === 'fulfilled' && p.value.waiting ? p.value.commit() : undefined)));
    await this.journal.checkpoint();
  }

  /** `user`'s sessions (loaded on first use; none yet: an empty set, its file made on the first commit). */
  peer(user: string): Promise<PeerSessions> {
    const key = nameKey(user);
    let loading = this.peers.get(key);
    if (!loading) {
      loading = this.load(user, key);
      loading.catch(() => this.peers.delete(key));
      this.peers.set(key, loading);
    }
    return loading;
  }

  private async load(user: string, key: string): Promise<PeerSessions> {
    const file = path.join(this.dir, `${key}.json`);
    const text = this.known.has(key) ? await readPrivateFile(file, SESSION_STORE_LIMITS.maxFileBytes, this.warnings) : undefined;
    if (text === undefined) {
      await this.makeRoom();
      this.known.add(key);
      return new PeerSessions(key, this.journal, this.box, user, 0, []);
    }
    const data = this.box.decode(KIND, text, file) as Partial<FileData> | null;
    const corrupt = () => new ChatError('E_CORRUPT_FILE', `${file} is damaged; it was left untouched`, { path: file });
    if (typeof data !== 'object' || data === null || typeof data.user !== 'string' || nameKey(data.user) !== key || !Number.isSafeInteger(data.clock) || !Array.isArray(data.sessions)) throw corrupt();
    const sessions = data.sessions.map((s) => {
      if (typeof s?.sign !== 'string' || typeof s.box !== 'string' || !Number.isSafeInteger(s.rank)) throw corrupt();
      return { session: Session.fromJSON(s.session), sign: s.sign, box: s.box, rank: s.rank };
    });
    return new PeerSessions(key, this.journal, this.box, data.user, data.clock as number, sessions);
  }

  /** A new contact: beyond `maxPeers` files, the least recently written ones are removed (their sessions start afresh). */
  private async makeRoom(): Promise<void> {
    if (this.known.size < SESSION_STORE_LIMITS.maxPeers) return;
    const names = (await fs.readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const dated = await Promise.all(names.map(async (n) => ({ n, t: (await fs.stat(path.join(this.dir, n))).mtimeMs })));
    dated.sort((a, b) => a.t - b.t);
    // Contacts still only in the journal count, but only files can go (the bound is then a little soft).
    for (const { n } of dated.slice(0, Math.max(0, Math.min(names.length, this.known.size - SESSION_STORE_LIMITS.maxPeers + 1)))) {
      this.peers.delete(n.slice(0, -'.json'.length));
      this.journal.forget(n.slice(0, -'.json'.length));
      this.known.delete(n.slice(0, -'.json'.length));
      await fs.rm(path.join(this.dir, n), { force: true });
    }
  }
}
