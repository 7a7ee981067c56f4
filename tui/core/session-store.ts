import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Session, type SessionJson } from '../../shared/crypto/session.js';
import { ChatError } from '../../shared/errors.js';
import { RATCHET_LIMITS, SESSION_STORE_LIMITS } from '../../shared/limits.js';
import { isValidName, nameKey } from '../../shared/names.js';
import type { StateBox } from './device-file.js';
import { ensurePrivateDir, readPrivateFile } from './private-file.js';
import { StateJournal } from './state-journal.js';

/** A sending chain's reservation as the records hold it (not itself saved: `reserve` in the file is `written`). */
interface Reservation {
  /** The chain's ratchet public key (DHs): a new chain is a new key. */
  readonly chain: Uint8Array;
  /** The reservation in the newest record written. */
  written: number;
  /** Sends with a lower number leave once written: every record a crash could leave has the chain at or past it, or not at all. */
  safe: number;
}

/**
 * This device's Double Ratchet sessions with its contacts (docs/crypto.md "Client files"):
 * `sessions/<name>.json` per contact, 0600, sealed under the passphrase when the identity has one
 * (device-file.ts). A commit appends the contact's whole state to `sessions.journal` (one write
 * for all commits of a tick, fdatasyncs in the background, state-journal.ts), which is compacted
 * into the contact files now and then, at exit, and replayed at the next start after a crash.
 *
 * The rule that keeps message keys single-use (deviation 3 of docs/crypto.md; docs/crypto.md
 * has the argument): a sealed body leaves only after `commitSend` resolved. Against a kill of
 * the process: the record with the advanced sending state is written first. Against a power
 * loss: every record gives each sending chain a reservation (`sendReserve` past what was sent,
 * raised when a send reaches it), a send beyond the reservation of the last durable record waits
 * for its own record's fdatasync, and after an unclean stop each chain jumps to the reservation
 * it was loaded with; a chain made since the last fdatasync needs no wait (its key pair was
 * fresh randomness: lost, it cannot be derived again). Received messages are committed within
 * `receiveCommitMs` (`commitLater`), with the next send, or at exit. Commits of one contact are
 * group-committed: the changes made while a write is in flight go into the next one.
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
  /** Its sending chain's reservation (kept in memory; the records carry `written` as `reserve`). */
  reservation?: Reservation;
}

interface FileData {
  user: string;
  clock: number;
  /** `reserve`: the sending chain's reservation (absent in files written before it, and without a sending chain). */
  sessions: { sign: string; box: string; rank: number; reserve?: number; session: SessionJson }[];
}

const sameKey = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** What a commit's record promises once it is written: when it is durable too (`sync` asks for that now). */
export interface Committed {
  readonly durable: Promise<void>;
  sync(): Promise<void>;
}

/** One contact's sessions, loaded once, written as a whole. */
export class PeerSessions {
  private inflight: Promise<Committed> | null = null;
  private queued: Promise<Committed> | null = null;
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

  /**
   * Written when this resolves (it survives a kill of the process): every change made before
   * the call is in a record of the journal; `durable` says when that record survives a power loss.
   */
  commit(): Promise<Committed> {
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

  /** Every change made before the call is durable when this resolves (a new session before its one-time prekey goes). */
  async commitDurable(): Promise<void> {
    await (await this.commit()).sync();
  }

  /**
   * After `stored.session.seal`, whose chain was `sent` (its key, and the number after the
   * message): resolves when the body may leave. Its record is written; and unless the message's
   * number is within the chain's reservation as the last durable record holds it (or the chain
   * is newer than that record), that record is durable too.
   */
  async commitSend(stored: StoredSession, sent: { key: Uint8Array; next: number }): Promise<void> {
    const committed = await this.commit();
    const r = stored.reservation;
    if (r && sameKey(r.chain, sent.key) && sent.next - 1 < r.safe) return;
    // Past the reservation (this record raised it), or the chain is gone from the record (a DH
    // step or a dropped session): once this record is durable, no crash leaves an earlier one.
    await committed.sync();
  }

  /**
   * At a clean close: records whose reservations are the chains' next numbers exactly, durable,
   * so the next start jumps over nothing. Only contacts that sent since they were loaded need it.
   */
  async commitExact(): Promise<void> {
    let changed = false;
    for (const s of this.sessions) {
      const chain = s.session.sendingChain();
      if (!chain || !s.reservation || s.reservation.written === chain.next) continue;
      // A new object: the durability of records written before must not raise it again.
      s.reservation = { chain: chain.key, written: chain.next, safe: chain.next };
      changed = true;
    }
    if (changed || this.timer) await this.commitDurable();
  }

  private write(): Promise<Committed> {
    const reserved: [Reservation, number][] = [];
    const data: FileData = {
      user: this.user,
      clock: this.clock,
      sessions: this.sessions.map((s) => {
        const reserve = this.reserve(s);
        if (reserve !== undefined) reserved.push([s.reservation as Reservation, reserve]);
        return { sign: s.sign, box: s.box, rank: s.rank, ...(reserve === undefined ? {} : { reserve }), session: s.session.toJSON() };
      }),
    };
    const { written, durable, sync } = this.journal.append(this.key, this.box.encode(KIND, data));
    // Once this record is durable, no crash leaves an earlier one, and every later record of a
    // chain holds at least this reservation (or the chain no more): sends below it are safe.
    durable.then(() => {
      for (const [r, reserve] of reserved) r.safe = Math.max(r.safe, reserve);
    }, () => {});
    return written.then(() => ({ durable, sync }));
  }

  /** The reservation this record gives `s`'s sending chain: new chains get one, a chain a send reached gets a higher one. */
  private reserve(s: StoredSession): number | undefined {
    const chain = s.session.sendingChain();
    if (!chain) return undefined;
    const ahead = Math.min(chain.next + SESSION_STORE_LIMITS.sendReserve, RATCHET_LIMITS.maxMessageNumber);
    const r = s.reservation;
    if (!r || !sameKey(r.chain, chain.key)) {
      // Made in this process from a fresh key pair: no earlier record holds it, and a crash that
      // loses this record loses the chain for good, so its reservation is safe at once.
      s.reservation = { chain: chain.key, written: ahead, safe: ahead };
    } else if (chain.next > r.written) {
      r.written = ahead;
    }
    return (s.reservation as Reservation).written;
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

  /**
   * Writes every contact's waiting changes now, with exact reservations, and compacts the
   * journal into the contact files (at exit).
   */
  async flush(): Promise<void> {
    const loaded = await Promise.allSettled(this.peers.values());
    await Promise.all(loaded.map((p) => (p.status === 'fulfilled' ? p.value.commitExact() : undefined)));
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
      const stored: StoredSession = { session: Session.fromJSON(s.session), sign: s.sign, box: s.box, rank: s.rank };
      const chain = stored.session.sendingChain();
      if (chain) {
        const reserve = s.reserve ?? chain.next;
        if (!Number.isSafeInteger(reserve) || reserve < chain.next || reserve - chain.next > RATCHET_LIMITS.maxSkip || reserve > RATCHET_LIMITS.maxMessageNumber) throw corrupt();
        // Sends up to the reservation may have left after this record (their own records not
        // durable, or written by a run that was killed): never send those numbers again. After
        // a clean close the reservation is the next number, and nothing is jumped.
        stored.session.skipSendingTo(reserve);
        stored.reservation = { chain: chain.key, written: reserve, safe: reserve };
      }
      return stored;
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
