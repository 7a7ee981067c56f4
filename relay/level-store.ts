/**
 * The relay's durable store (see store.ts for the contract) in one LevelDB (`level` v10 / classic-level) under `<dataDir>/db`.
 *
 * Key layout (also in docs/storage.md). Every sublevel stores JSON values; keys are UTF-8
 * strings. `userKey` and `roomKey` are `nameKey(name)` (lower case); valid names never contain
 * `!`, and `!` (0x21) sorts before every name character, so `<key>!` .. `<key>"` is exactly the
 * range of one user or room. Numbers inside keys are zero-padded so they sort numerically.
 *
 *   sublevel   key                                   value
 *   meta       'schema'                              1
 *   accounts   userKey                               AccountRecord {name, passwordHash, created, disabled?, keys?}
 *   tokens     hex(sha256(token))                    {userKey, expires}   (the token itself is never stored)
 *   userTokens userKey '!' hex(sha256(token))        expires              (index to revoke a user's tokens)
 *   rooms      roomKey                               {room}               (display name; every room with messages)
 *   messages   roomKey '!' seq(16 digits)            StoredMessage
 *   msgIds     userKey '!' clientId                  {roomKey, seq, time} (idempotent retries; kept as long as the message)
 *   audit      time(15 digits) '!' n(10) '!' rand    AuditEvent & {time}
 *   files      roomKey '!' fileId                    StoredRoomFile (index of <dataDir>/files/<path>)
 *   prekeys    userKey '!' device                    {keys, signedPrekey, oneTime[]} (relay/prekey-level.ts)
 *
 * Hot paths (`appendMessages`, `lastMessages`, `messagesSince`, `findByClientId`) are one batch
 * write or one bounded range read each; nothing on them scans a whole sublevel.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Level } from 'level';
import { ChatError } from '../shared/errors.js';
import { isValidName, nameKey } from '../shared/names.js';
import type { PublicKeyBundle } from '../shared/crypto/identity.js';
import { AuditQueue } from './audit-queue.js';
import { LevelPrekeys } from './prekey-level.js';
import type { ClaimedPrekeys, PrekeyUpload } from './prekey-records.js';
import { checkDraft, isRoomKey, isStorableClientId, type AccountRecord, type AppendOutcome, type AuditEvent, type AuditRecord, type MessageDraft, type MessagePage, type RelayStore, type StoredMessage, type StoredRoomFile } from './store.js';
import { DEFAULT_AUDIT_RETENTION_MS, isTokenOwner, isTokenShaped, newResumeToken, reportSafely, tokenHash, wholeLimit } from './store-common.js';

export interface LevelStoreOptions {
  /** Called when a background write (the audit log) fails; such failures never reach callers. */
  onError?: (error: unknown) => void;
  /** Audit events older than this are deleted when the store opens (default 365 days, ms). */
  auditRetentionMs?: number;
  /** Clock for audit times and token expiry (tests), ms since the epoch. */
  now?: () => number;
}

interface TokenRecord {
  userKey: string;
  expires: number;
}

const SCHEMA_VERSION = 1;
const SEQ_DIGITS = 16; // Number.MAX_SAFE_INTEGER has 16 digits
const TIME_DIGITS = 15;
/** Upper bound of a `<key>!...` range: '"' is the character right after '!'. */
const RANGE_END = '"';

function pad(value: number, digits: number): string {
  return String(value).padStart(digits, '0');
}

function messageKey(roomKey: string, seq: number): string {
  return `${roomKey}!${pad(seq, SEQ_DIGITS)}`;
}

function isLockError(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === 'LEVEL_LOCKED' || e?.cause?.code === 'LEVEL_LOCKED';
}

/** Accounts, resume tokens, room logs and the audit log of one relay. One process owns it. */
export class LevelStore implements RelayStore {
  readonly dataDir: string;
  private readonly db: Level<string, unknown>;
  private readonly meta;
  private readonly accounts;
  private readonly tokens;
  private readonly userTokens;
  private readonly rooms;
  private readonly messages;
  private readonly msgIds;
  private readonly auditLog;
  private readonly roomFiles;
  private readonly prekeys: LevelPrekeys;
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  /** Highest stored seq per room key; advanced only after a batch is written. */
  private lastSeqs = new Map<string, number>();
  /** Each append waits for the one before it (appendChain), so more under way would gain nothing. */
  readonly appendsInFlight = 1;
  /** Message appends run one after another (see appendMessages). */
  private appendChain: Promise<unknown> = Promise.resolve();
  /** Account writes run one after another so check-then-put cannot race. */
  private accountChain: Promise<unknown> = Promise.resolve();
  private readonly auditQueue: AuditQueue;
  private auditCounter = 0;
  private readonly auditSalt = randomBytes(3).toString('hex');
  private closing: Promise<void> | undefined;

  private constructor(dataDir: string, db: Level<string, unknown>, options: LevelStoreOptions) {
    this.dataDir = dataDir;
    this.db = db;
    this.onError = options.onError ?? ((error) => console.error('relay store:', error));
    this.now = options.now ?? Date.now;
    const json = { valueEncoding: 'json' } as const;
    this.meta = db.sublevel<string, unknown>('meta', json);
    this.accounts = db.sublevel<string, AccountRecord>('accounts', json);
    this.tokens = db.sublevel<string, TokenRecord>('tokens', json);
    this.userTokens = db.sublevel<string, number>('userTokens', json);
    this.rooms = db.sublevel<string, { room: string }>('rooms', json);
    this.messages = db.sublevel<string, StoredMessage>('messages', json);
    this.msgIds = db.sublevel<string, { roomKey: string; seq: number; time: number }>('msgIds', json);
    this.auditLog = db.sublevel<string, AuditRecord>('audit', json);
    this.roomFiles = db.sublevel<string, StoredRoomFile>('files', json);
    this.prekeys = new LevelPrekeys(db);
    // A failed write is reported and its events lost: LevelDB failing is not an outage that passes.
    this.auditQueue = new AuditQueue({ write: (records) => this.writeAudit(records), backend: 'the disk', onError: this.onError, now: this.now });
  }

  /**
   * Open (creating if needed) the store in `dataDir` (made with mode 0700); LevelDB lives in
   * `<dataDir>/db`. Throws `E_DATA_LOCKED` when another relay or CLI holds the folder.
   */
  static async open(dataDir: string, options: LevelStoreOptions = {}): Promise<LevelStore> {
    const dir = resolve(dataDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const db = new Level<string, unknown>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'json' });
    try {
      await db.open();
    } catch (error) {
      if (isLockError(error)) {
        throw new ChatError(
          'E_DATA_LOCKED',
          `data folder ${dir} is in use by a running relay (its database is locked); stop that relay first`,
          { dataDir: dir },
        );
      }
      throw error;
    }
    const store = new LevelStore(dir, db, options);
    try {
      await store.init(options.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    return store;
  }

  private async init(auditRetentionMs: number): Promise<void> {
    const schema = await this.meta.get('schema');
    if (schema === undefined) {
      await this.meta.put('schema', SCHEMA_VERSION);
    } else if (schema !== SCHEMA_VERSION) {
      throw new ChatError('E_INTERNAL', `data folder ${this.dataDir} has storage schema ${String(schema)}; this relay understands ${SCHEMA_VERSION}`);
    }
    const now = this.now();
    await this.pruneExpiredTokens(now);
    this.lastSeqs = await this.roomSeqs();
    // Audit keys start with the time, so old events are one range delete.
    await this.auditLog.clear({ lt: pad(Math.max(0, now - auditRetentionMs), TIME_DIGITS) });
  }

  /** Flush the audit queue and close LevelDB. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.accountChain.catch(() => undefined);
      await this.appendChain.catch(() => undefined);
      await this.auditQueue.close();
      await this.db.close();
    })();
    return this.closing;
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  // ---------------------------------------------------------------- accounts

  /** The account named `user` in any letter case, or undefined (also for invalid names). */
  async getAccount(user: string): Promise<AccountRecord | undefined> {
    if (!isValidName(user)) return undefined;
    return this.accounts.get(nameKey(user));
  }

  /** See RelayStore.getAccounts: one LevelDB getMany (one trip to the thread pool, not one per user). */
  async getAccounts(users: readonly string[]): Promise<Array<AccountRecord | undefined>> {
    const valid = users.filter(isValidName);
    const found = valid.length > 0 ? await this.accounts.getMany(valid.map(nameKey)) : [];
    const byUser = new Map(valid.map((user, i) => [user, found[i]]));
    return users.map((user) => byUser.get(user));
  }

  /** Create an account; `E_USER_EXISTS` when the name is taken in any letter case, `E_BAD_NAME` when invalid. */
  createAccount(name: string, passwordHash: string, keys?: PublicKeyBundle): Promise<void> {
    if (!isValidName(name)) return Promise.reject(new ChatError('E_BAD_NAME'));
    return this.serializeAccounts(async () => {
      const key = nameKey(name);
      if ((await this.accounts.get(key)) !== undefined) {
        throw new ChatError('E_USER_EXISTS', `the user name ${name} is taken`);
      }
      await this.accounts.put(key, { name, passwordHash, created: this.now(), ...(keys ? { keys } : {}) });
    });
  }

  /** Replace an account's password hash; false when there is no such account. Tokens are kept (see revokeTokens). */
  setPasswordHash(user: string, passwordHash: string): Promise<boolean> {
    return this.updateAccount(user, { passwordHash });
  }

  /** Replace an account's public keys (verified by the caller); false when there is no such account. */
  setKeys(user: string, keys: PublicKeyBundle): Promise<boolean> {
    return this.updateAccount(user, { keys });
  }

  /** Changes fields of an existing account; false when there is no such account. */
  private updateAccount(user: string, change: Partial<AccountRecord>): Promise<boolean> {
    if (!isValidName(user)) return Promise.resolve(false);
    return this.serializeAccounts(async () => {
      const key = nameKey(user);
      const record = await this.accounts.get(key);
      if (record === undefined) return false;
      await this.accounts.put(key, { ...record, ...change });
      return true;
    });
  }

  /** Delete an account and every resume token it holds; false when there is no such account. */
  removeAccount(user: string): Promise<boolean> {
    if (!isValidName(user)) return Promise.resolve(false);
    return this.serializeAccounts(async () => {
      const key = nameKey(user);
      if ((await this.accounts.get(key)) === undefined) return false;
      const batch = this.db.batch();
      batch.del(key, { sublevel: this.accounts });
      await this.addTokenDeletes(batch, key);
      await batch.write();
      return true;
    });
  }

  putPrekeys(user: string, upload: PrekeyUpload): Promise<number> {
    return this.prekeys.put(user, upload);
  }

  claimPrekeys(user: string): Promise<ClaimedPrekeys[]> {
    return this.prekeys.claim(user);
  }

  removePrekeys(user: string): Promise<void> {
    return this.prekeys.removeUser(user);
  }

  /** Every account, sorted by key (an admin operation: reads the whole sublevel). */
  async listAccounts(): Promise<AccountRecord[]> {
    return this.accounts.values().all();
  }

  private serializeAccounts<T>(work: () => Promise<T>): Promise<T> {
    const run = this.accountChain.then(work, work);
    this.accountChain = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------- resume tokens

  /** Issue a resume token for `user`, valid for `ttlMs`; only its SHA-256 is stored. Returns 43 base64url characters. */
  async issueToken(user: string, ttlMs: number): Promise<string> {
    if (!isValidName(user)) throw new ChatError('E_BAD_NAME');
    const { token, hash } = newResumeToken();
    const userKey = nameKey(user);
    const expires = this.now() + Math.max(0, ttlMs);
    const batch = this.db.batch();
    batch.put(hash, { userKey, expires }, { sublevel: this.tokens });
    batch.put(`${userKey}!${hash}`, expires, { sublevel: this.userTokens });
    await batch.write();
    return token;
  }

  /**
   * True when `token` was issued to `user` (any case), has not expired and the account still
   * exists and is enabled. The lookup is by SHA-256 of the token, so timing reveals nothing
   * that helps guess a token; the owner comparison is constant-time as well.
   */
  async checkToken(user: string, token: string): Promise<boolean> {
    if (!isTokenShaped(token)) return false;
    if (typeof user !== 'string' || !isValidName(user)) return false;
    const hash = tokenHash(token);
    const record = await this.tokens.get(hash);
    if (record === undefined) return false;
    if (record.expires <= this.now()) {
      this.deleteTokenHash(hash, record.userKey).catch(this.onError);
      return false;
    }
    if (!isTokenOwner(record.userKey, nameKey(user))) return false;
    const account = await this.accounts.get(record.userKey);
    return account !== undefined && account.disabled !== true;
  }

  /** Forget one token (logout). Unknown tokens are ignored. */
  async revokeToken(token: string): Promise<void> {
    if (!isTokenShaped(token)) return;
    const hash = tokenHash(token);
    const record = await this.tokens.get(hash);
    if (record !== undefined) await this.deleteTokenHash(hash, record.userKey);
  }

  /** Forget every token of `user` (password change, account removal). */
  async revokeTokens(user: string): Promise<void> {
    const batch = this.db.batch();
    await this.addTokenDeletes(batch, nameKey(user));
    await batch.write();
  }

  private async deleteTokenHash(hash: string, userKey: string): Promise<void> {
    const batch = this.db.batch();
    batch.del(hash, { sublevel: this.tokens });
    batch.del(`${userKey}!${hash}`, { sublevel: this.userTokens });
    await batch.write();
  }

  private async addTokenDeletes(batch: ReturnType<Level<string, unknown>['batch']>, userKey: string): Promise<void> {
    const keys = await this.userTokens.keys({ gt: `${userKey}!`, lt: `${userKey}${RANGE_END}` }).all();
    for (const key of keys) {
      batch.del(key, { sublevel: this.userTokens });
      batch.del(key.slice(userKey.length + 1), { sublevel: this.tokens });
    }
  }

  private async pruneExpiredTokens(now: number): Promise<void> {
    const batch = this.db.batch();
    for await (const [key, expires] of this.userTokens.iterator()) {
      if (expires <= now) {
        batch.del(key, { sublevel: this.userTokens });
        batch.del(key.slice(key.indexOf('!') + 1), { sublevel: this.tokens });
      }
    }
    await batch.write();
  }

  // ---------------------------------------------------------------- room messages

  /**
   * Highest stored seq of every room that has messages (roomKey -> seq), to continue
   * numbering after a restart. One short seek per room, no scan of the messages.
   */
  private async roomSeqs(): Promise<Map<string, number>> {
    const result = new Map<string, number>();
    for await (const roomKey of this.rooms.keys()) {
      const last = await this.messages.values({ gt: `${roomKey}!`, lt: `${roomKey}${RANGE_END}`, reverse: true, limit: 1 }).all();
      if (last.length > 0) result.set(roomKey, last[0].seq);
    }
    return result;
  }

  /**
   * Numbers and stores drafts in ONE atomic batch with their client-id index. Appends run one
   * after another (a chain), so the ids read here cannot change before the batch is written,
   * and sequence numbers advance only once a batch is on disk: a failed write leaves no gap.
   */
  appendMessages(drafts: readonly MessageDraft[]): Promise<AppendOutcome[]> {
    const run = this.appendChain.then(() => this.appendNow(drafts));
    this.appendChain = run.catch(() => undefined);
    return run;
  }

  private async appendNow(drafts: readonly MessageDraft[]): Promise<AppendOutcome[]> {
    if (drafts.length === 0) return [];
    for (const draft of drafts) checkDraft(draft);
    const idKeys = drafts.map((draft) => `${nameKey(draft.from)}!${draft.id}`);
    const earlier = await this.msgIds.getMany(idKeys);
    // Retries are rare: the originals are read only when some id was seen before.
    const originals = earlier.some((ref) => ref !== undefined) ? await this.messages.getMany(earlier.map((ref) => (ref ? messageKey(ref.roomKey, ref.seq) : ''))) : [];
    // One array batch on the root with keys prefixed and values JSON-encoded here: the same
    // bytes on disk as sublevel puts, at well under half the cost per message (measured with
    // bench/: 158 -> 66 us for a batch of one, 24 -> 9 us per message in batches of 50).
    const ops: Array<{ type: 'put'; key: string; value: string }> = [];
    const outcomes: AppendOutcome[] = [];
    const numbered = new Map<string, StoredMessage>();
    const nextSeqs = new Map<string, number>();
    drafts.forEach((draft, i) => {
      const ref = earlier[i];
      const retried = numbered.get(idKeys[i]) ?? (ref ? (originals[i] ?? { ...draft, roomKey: ref.roomKey, seq: ref.seq, time: ref.time }) : undefined);
      if (retried) {
        outcomes.push({ message: retried, duplicate: true });
        return;
      }
      const { roomKey } = draft;
      const seq = (nextSeqs.get(roomKey) ?? this.lastSeqs.get(roomKey) ?? 0) + 1;
      const message: StoredMessage = { room: draft.room, roomKey, seq, from: draft.from, text: draft.text, time: draft.time, id: draft.id };
      ops.push({ type: 'put', key: this.messages.prefixKey(messageKey(roomKey, seq), 'utf8'), value: JSON.stringify(message) });
      ops.push({ type: 'put', key: this.msgIds.prefixKey(idKeys[i], 'utf8'), value: JSON.stringify({ roomKey, seq, time: message.time }) });
      // Record each room once per batch so roomSeqs() finds it after a restart.
      if (!nextSeqs.has(roomKey)) ops.push({ type: 'put', key: this.rooms.prefixKey(roomKey, 'utf8'), value: JSON.stringify({ room: draft.room }) });
      nextSeqs.set(roomKey, seq);
      numbered.set(idKeys[i], message);
      outcomes.push({ message, duplicate: false });
    });
    if (ops.length > 0) await this.db.batch(ops, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    for (const [roomKey, seq] of nextSeqs) this.lastSeqs.set(roomKey, seq);
    return outcomes;
  }

  /**
   * The newest `limit` messages of a room with seq < `before` (all when omitted), oldest first.
   * `hasMore` tells whether older messages exist beyond those returned.
   */
  async lastMessages(roomKey: string, limit: number, before?: number): Promise<MessagePage> {
    const lt = before === undefined || Number.isNaN(before) || before > Number.MAX_SAFE_INTEGER ? `${roomKey}${RANGE_END}` : messageKey(roomKey, Math.max(0, Math.floor(before)));
    const want = wholeLimit(limit);
    const rows = await this.messages.values({ gt: `${roomKey}!`, lt, reverse: true, limit: want + 1 }).all();
    const hasMore = rows.length > want;
    if (hasMore) rows.pop();
    return { messages: rows.reverse(), hasMore };
  }

  /** Messages of a room with seq > `since`, oldest first, at most `limit`; `hasMore` when more follow. */
  async messagesSince(roomKey: string, since: number, limit: number): Promise<MessagePage> {
    const want = wholeLimit(limit);
    if (since >= Number.MAX_SAFE_INTEGER) return { messages: [], hasMore: false };
    const gt = since < 0 || Number.isNaN(since) ? `${roomKey}!` : messageKey(roomKey, Math.floor(since));
    const rows = await this.messages.values({ gt, lt: `${roomKey}${RANGE_END}`, limit: want + 1 }).all();
    const hasMore = rows.length > want;
    if (hasMore) rows.pop();
    return { messages: rows, hasMore };
  }

  /** The message stored with this client id from this user, if any. */
  async findByClientId(user: string, id: string): Promise<StoredMessage | undefined> {
    if (!isValidName(user) || !isStorableClientId(id)) return undefined;
    const ref = await this.msgIds.get(`${nameKey(user)}!${id}`);
    return ref ? this.messages.get(messageKey(ref.roomKey, ref.seq)) : undefined;
  }

  // ---------------------------------------------------------------- room files (index only)

  /** Index a stored room file under `roomKey!id`. */
  async putRoomFile(roomKey: string, file: StoredRoomFile): Promise<void> {
    if (!isRoomKey(roomKey) || typeof file.id !== 'string' || file.id.includes('!')) throw new ChatError('E_INTERNAL', 'bad room file key');
    await this.roomFiles.put(`${roomKey}!${file.id}`, file);
  }

  async deleteRoomFile(roomKey: string, id: string): Promise<void> {
    await this.roomFiles.del(`${roomKey}!${id}`);
  }

  /** The files of one room, by id (one bounded range read). */
  async listRoomFiles(roomKey: string): Promise<StoredRoomFile[]> {
    return this.roomFiles.values({ gt: `${roomKey}!`, lt: `${roomKey}${RANGE_END}` }).all();
  }

  /** Every indexed room file with its room key (startup and the age sweep). */
  async allRoomFiles(): Promise<Array<{ roomKey: string; file: StoredRoomFile }>> {
    const result: Array<{ roomKey: string; file: StoredRoomFile }> = [];
    for await (const [key, file] of this.roomFiles.iterator()) result.push({ roomKey: key.slice(0, key.indexOf('!')), file });
    return result;
  }

  // ---------------------------------------------------------------- audit log

  /**
   * Record an audit event with the current time. Never throws and never waits: events are
   * queued and written in batches shortly after (and on close()). Long fields are clipped.
   */
  audit(event: AuditEvent): void {
    this.auditQueue.add(event);
  }

  /** Write every queued audit event now. */
  flushAudit(): Promise<void> {
    return this.auditQueue.flush();
  }

  /** The newest `limit` audit events, newest first. */
  async listAudit(limit: number): Promise<AuditRecord[]> {
    await this.flushAudit();
    return this.auditLog.values({ reverse: true, limit: Math.max(0, Math.floor(limit)) }).all();
  }

  /** One batch; a failure is reported and the events given up (AuditQueue). */
  private async writeAudit(records: AuditRecord[]): Promise<AuditRecord[]> {
    const batch = this.db.batch();
    for (const record of records) {
      const key = `${pad(record.time, TIME_DIGITS)}!${pad(this.auditCounter++ % 1e10, 10)}!${this.auditSalt}`;
      batch.put(key, record, { sublevel: this.auditLog });
    }
    await batch.write().catch((error) => reportSafely(this.onError, error));
    return [];
  }
}
