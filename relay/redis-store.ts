/**
 * The relay's durable store (see store.ts for the contract) in Redis, shared by every relay of
 * a cluster. Key layout (also in docs/storage.md; `p` is the key prefix, `sc:` by default;
 * `userKey`/`roomKey` are lower-case valid names, so they never contain `:`):
 *
 *   key                           type    value                                   expiry
 *   p schema                      string  '1'                                     -
 *   p acct:{userKey}              hash    name, passwordHash, created, disabled?, keys? (JSON)  -
 *   p accounts                    set     every userKey with an account           -
 *   p tok:{sha256hex(token)}      string  {userKey, expires}                      PX token ttl
 *   p utok:{userKey}              set     the user's token hashes                 PX longest token
 *   p room:{roomKey}:seq          string  the room's last seq (INCR)              -
 *   p room:{roomKey}:log          stream  id `<seq>-0`, field m = StoredMessage JSON  -
 *   p msgid:{userKey}:{clientId}  string  {roomKey, seq, time}                    PX clientIdRetentionMs
 *   p files:{roomKey}             hash    fileId -> StoredRoomFile JSON           -
 *   p filerooms                   set     roomKeys that have files                -
 *   p pk:{userKey}:...            prekeys (relay/prekey-redis.ts)
 *   p audit                       stream  id `<time>-<n>`, field e = AuditRecord JSON   trimmed by age and length
 *   channel p room:{roomKey}      pub/sub every newly stored message's JSON, in seq order
 *
 * Every write that must be atomic is one Lua script (relay/redis-scripts.ts). Redis errors and
 * an unreachable Redis surface as `E_STORE_UNAVAILABLE`, fast: no offline queue, no retries
 * of a command, a command timeout; the connection comes back by itself when Redis does.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { ChatError } from '../shared/errors.js';
import { DEFAULT_LIMITS } from '../shared/limits.js';
import { isValidName, nameKey } from '../shared/names.js';
import type { PublicKeyBundle } from '../shared/crypto/identity.js';
import { AuditQueue } from './audit-queue.js';
import * as scripts from './redis-scripts.js';
import type { ClaimedPrekeys, PrekeyUpload } from './prekey-records.js';
import { RedisPrekeys } from './prekey-redis.js';
import { checkDraft, isRoomKey, isStorableClientId, type AccountRecord, type AppendOutcome, type AuditEvent, type AuditRecord, type MessageDraft, type MessagePage, type RelayStore, type StoredMessage, type StoredRoomFile } from './store.js';
import { DEFAULT_AUDIT_RETENTION_MS, isTokenOwner, isTokenShaped, newResumeToken, reportSafely, tokenHash, wholeLimit } from './store-common.js';

export interface RedisStoreOptions {
  /** Prefix of every key and channel (default `sc:`), so several chats can share one Redis. */
  keyPrefix?: string;
  /** How long a client id is recognised as a retry (default `clientIdRetentionMs` of shared/limits.ts). */
  clientIdRetentionMs?: number;
  /** Audit events older than this are trimmed (exactly at connect, approximately on each write; default 365 days). */
  auditRetentionMs?: number;
  /** Most audit events kept (approximately; default 1,000,000). */
  auditMaxEvents?: number;
  /** A command without an answer for this long fails with E_STORE_UNAVAILABLE (default 3,000 ms). */
  commandTimeoutMs?: number;
  /** Refuse a Redis without AOF or with an eviction policy (default true: either would lose acknowledged data). */
  requireSafeConfig?: boolean;
  /** Called when a background write (the audit log) fails, and once each time Redis becomes unreachable. */
  onError?: (error: unknown) => void;
  /** Clock for audit times, token expiry and account creation (tests), ms since the epoch. */
  now?: () => number;
  /** More ioredis options (TLS, password, ...); the fail-fast settings above win. */
  redis?: RedisOptions;
}

interface IdempotencyRecord {
  roomKey: string;
  seq: number;
  time: number;
}

const SCHEMA_VERSION = '1';
const DEFAULT_KEY_PREFIX = 'sc:';
const DEFAULT_AUDIT_MAX_EVENTS = 1_000_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 3_000;
/** After a failed audit write the events are kept and the write is tried again this much later. */
const AUDIT_RETRY_DELAY_MS = 1_000;
/** Audit events per script call: one call blocks Redis for its whole length. */
const AUDIT_EVENTS_PER_WRITE = 500;
/** A user's token set is pruned of expired members once it holds more than this. */
const USER_TOKENS_PRUNE_AT = 64;
/** Reconnect delays: quick at first (a restart takes ~100 ms), then every second. */
const RECONNECT_STEP_MS = 50;
const RECONNECT_MAX_MS = 1_000;
/** Room-file ids are relay-chosen hex; anything longer is not one of ours. */
const ROOM_FILE_ID_MAX_CHARS = 64;

/** Any failure of Redis itself (down, timed out, refusing writes) as the one code callers handle. */
function unavailable(error: unknown): ChatError {
  if (error instanceof ChatError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ChatError('E_STORE_UNAVAILABLE', `the relay's store (Redis) is unreachable: ${reason}`, { reason });
}

/** A stored message from its JSON (a room log entry, or a message published on a room channel). */
export function parseStoredMessage(json: string): StoredMessage {
  const m = JSON.parse(json) as StoredMessage;
  return { room: m.room, roomKey: m.roomKey, seq: m.seq, from: m.from, text: m.text, time: m.time, id: m.id };
}

/** Stream entries `[id, [field, value, ...]]` whose first value is a JSON document. */
function entryValues(entries: Array<[string, string[]]>): string[] {
  return entries.map(([, fields]) => fields[1]);
}

function toAccount(hash: Record<string, string>): AccountRecord | undefined {
  if (hash.name === undefined || hash.passwordHash === undefined) return undefined;
  const record: AccountRecord = { name: hash.name, passwordHash: hash.passwordHash, created: Number(hash.created) };
  if (hash.disabled === '1') record.disabled = true;
  if (hash.keys !== undefined) record.keys = JSON.parse(hash.keys) as PublicKeyBundle;
  return record;
}

/** The commands the scripts in redis-scripts.ts add to the client. */
interface ScriptCommands {
  scAppendMessage(msgIdKey: string, seqKey: string, logKey: string, ...args: string[]): Promise<[number, string, string?]>;
  scCreateAccount(accountKey: string, accountsKey: string, userKey: string, ...fields: string[]): Promise<number>;
  scSetAccountField(accountKey: string, field: string, value: string): Promise<number>;
  scRemoveAccount(accountKey: string, accountsKey: string, userTokensKey: string, userKey: string, tokenPrefix: string): Promise<number>;
  scRevokeTokens(userTokensKey: string, tokenPrefix: string): Promise<number>;
  scIssueToken(tokenKey: string, userTokensKey: string, value: string, ttlMs: string, hash: string, tokenPrefix: string, pruneAt: string): Promise<number>;
  scRevokeToken(tokenKey: string, userTokensPrefix: string, hash: string): Promise<number>;
  scPutRoomFile(filesKey: string, roomsKey: string, roomKey: string, id: string, json: string): Promise<number>;
  scDeleteRoomFile(filesKey: string, roomsKey: string, roomKey: string, id: string): Promise<number>;
  scAppendAudit(auditKey: string, minId: string, maxLen: string, ...timeJsonPairs: string[]): Promise<number>;
}

type ScriptedRedis = Redis & ScriptCommands;

const SCRIPTS: Record<keyof ScriptCommands, { lua: string; numberOfKeys: number }> = {
  scAppendMessage: { lua: scripts.APPEND_MESSAGE, numberOfKeys: 3 },
  scCreateAccount: { lua: scripts.CREATE_ACCOUNT, numberOfKeys: 2 },
  scSetAccountField: { lua: scripts.SET_ACCOUNT_FIELD, numberOfKeys: 1 },
  scRemoveAccount: { lua: scripts.REMOVE_ACCOUNT, numberOfKeys: 3 },
  scRevokeTokens: { lua: scripts.REVOKE_TOKENS, numberOfKeys: 1 },
  scIssueToken: { lua: scripts.ISSUE_TOKEN, numberOfKeys: 2 },
  scRevokeToken: { lua: scripts.REVOKE_TOKEN, numberOfKeys: 1 },
  scPutRoomFile: { lua: scripts.PUT_ROOM_FILE, numberOfKeys: 2 },
  scDeleteRoomFile: { lua: scripts.DELETE_ROOM_FILE, numberOfKeys: 2 },
  scAppendAudit: { lua: scripts.APPEND_AUDIT, numberOfKeys: 1 },
};

/** Accounts, resume tokens, room logs, the room-file index and the audit log, in one Redis shared by every relay. */
export class RedisStore implements RelayStore {
  /**
   * Appends pipeline on one connection (Redis runs them in the order sent): a message waits for
   * its own round trip, not for the batches ahead of it. Bounded so a stalled Redis does not
   * collect an unbounded pipeline.
   */
  readonly appendsInFlight = 8;
  private readonly redis: ScriptedRedis;
  private readonly prekeys: RedisPrekeys;
  private readonly prefix: string;
  private readonly clientIdRetentionMs: number;
  private readonly auditRetentionMs: number;
  private readonly auditMaxEvents: number;
  private readonly onError: (error: unknown) => void;
  private readonly now: () => number;
  private readonly auditQueue: AuditQueue;
  private closing: Promise<void> | undefined;
  /** Set while Redis is unreachable, so the outage is reported once, not on every reconnect attempt. */
  private down = false;

  private constructor(redis: ScriptedRedis, options: RedisStoreOptions) {
    this.redis = redis;
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.prekeys = new RedisPrekeys(redis, this.prefix);
    this.clientIdRetentionMs = Math.max(1, Math.floor(options.clientIdRetentionMs ?? DEFAULT_LIMITS.clientIdRetentionMs));
    this.auditRetentionMs = options.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
    this.auditMaxEvents = Math.max(1, Math.floor(options.auditMaxEvents ?? DEFAULT_AUDIT_MAX_EVENTS));
    this.onError = options.onError ?? ((error) => console.error('relay store:', error));
    this.now = options.now ?? Date.now;
    // A failed write keeps its events for a later try: Redis being away is an outage that passes.
    this.auditQueue = new AuditQueue({ write: (records) => this.writeAudit(records), retryDelayMs: AUDIT_RETRY_DELAY_MS, backend: 'Redis', onError: this.onError, now: this.now });
    redis.on('error', (error: unknown) => {
      if (this.down || this.closing) return;
      this.down = true;
      reportSafely(this.onError, unavailable(error));
    });
    redis.on('ready', () => {
      this.down = false;
    });
  }

  /**
   * Connect to Redis at `url` (`redis://[user:password@]host:port[/db]`, or `rediss://` for
   * TLS) and check it keeps what it acknowledges (AOF on, no eviction) unless
   * `requireSafeConfig` is false. Throws E_STORE_UNAVAILABLE when Redis cannot be reached,
   * E_STORE_CONFIG when it is set up unsafely or holds another schema.
   */
  static async connect(url: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const redis = new Redis(url, {
      ...options.redis,
      lazyConnect: true,
      // Fail fast while Redis is down: nothing queues in the relay, the client retries its send.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      connectTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * RECONNECT_STEP_MS, RECONNECT_MAX_MS),
      // Commands issued in one tick go out in one write, still in order.
      enableAutoPipelining: true,
    }) as ScriptedRedis;
    for (const [name, definition] of Object.entries(SCRIPTS)) redis.defineCommand(name, definition);
    // Errors before the store exists go to the caller, not to a listener-less emitter.
    const early = (): void => undefined;
    redis.on('error', early);
    try {
      await redis.connect();
      const store = new RedisStore(redis, options);
      redis.off('error', early);
      await store.init(options.requireSafeConfig ?? true);
      return store;
    } catch (error) {
      redis.disconnect();
      throw unavailable(error);
    }
  }

  private async init(requireSafeConfig: boolean): Promise<void> {
    if (requireSafeConfig) {
      const info = `${await this.redis.info('persistence')}\n${await this.redis.info('memory')}`;
      const aof = /^aof_enabled:(\d)/m.exec(info)?.[1];
      const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
      if (aof !== '1' || policy !== 'noeviction') {
        throw new ChatError(
          'E_STORE_CONFIG',
          `Redis must run with appendonly yes and maxmemory-policy noeviction (it has aof_enabled:${aof ?? '?'}, maxmemory_policy:${policy ?? '?'}); without them acknowledged messages can be lost`,
        );
      }
    }
    const schemaKey = this.key('schema');
    await this.redis.set(schemaKey, SCHEMA_VERSION, 'NX');
    const schema = await this.redis.get(schemaKey);
    if (schema !== SCHEMA_VERSION) {
      throw new ChatError('E_STORE_CONFIG', `Redis keys under ${this.prefix} have storage schema ${String(schema)}; this relay understands ${SCHEMA_VERSION}`);
    }
    // Exact, once: the trims on each write are approximate (whole stream nodes only).
    await this.redis.xtrim(this.key('audit'), 'MINID', this.auditMinId());
  }

  /** Flush the audit queue and close the connection (after the replies of commands already sent). Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const unwritten = await this.auditQueue.close();
      if (unwritten > 0) reportSafely(this.onError, new ChatError('E_STORE_UNAVAILABLE', `audit log: ${unwritten} events were not written (Redis unreachable at close)`));
      try {
        await this.redis.quit();
      } catch {
        this.redis.disconnect();
      }
    })();
    return this.closing;
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Resolves once the connection to Redis is ready (at once when it is); for health checks and tests. */
  ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve) => this.redis.once('ready', () => resolve()));
  }

  /** The pub/sub channel on which every newly stored message of a room is published (as JSON, in seq order). */
  roomChannel(roomKey: string): string {
    return this.key(`room:${roomKey}`);
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  /** Runs one Redis call and turns every failure of Redis into E_STORE_UNAVAILABLE. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw unavailable(error);
    }
  }

  // ---------------------------------------------------------------- accounts

  async getAccount(user: string): Promise<AccountRecord | undefined> {
    if (!isValidName(user)) return undefined;
    return toAccount(await this.call(() => this.redis.hgetall(this.key(`acct:${nameKey(user)}`))));
  }

  /** See RelayStore.getAccounts: the reads go out in one write (auto-pipelining). */
  getAccounts(users: readonly string[]): Promise<Array<AccountRecord | undefined>> {
    return Promise.all(users.map((user) => this.getAccount(user)));
  }

  /** Create an account (one script: exactly one of several relays creating a name wins). */
  async createAccount(name: string, passwordHash: string, keys?: PublicKeyBundle): Promise<void> {
    if (!isValidName(name)) throw new ChatError('E_BAD_NAME');
    const userKey = nameKey(name);
    const fields = ['name', name, 'passwordHash', passwordHash, 'created', String(this.now())];
    if (keys) fields.push('keys', JSON.stringify(keys));
    const created = await this.call(() => this.redis.scCreateAccount(this.key(`acct:${userKey}`), this.key('accounts'), userKey, ...fields));
    if (created !== 1) throw new ChatError('E_USER_EXISTS', `the user name ${name} is taken`);
  }

  async setPasswordHash(user: string, passwordHash: string): Promise<boolean> {
    return this.setAccountField(user, 'passwordHash', passwordHash);
  }

  async setKeys(user: string, keys: PublicKeyBundle): Promise<boolean> {
    return this.setAccountField(user, 'keys', JSON.stringify(keys));
  }

  private async setAccountField(user: string, field: string, value: string): Promise<boolean> {
    if (!isValidName(user)) return false;
    return (await this.call(() => this.redis.scSetAccountField(this.key(`acct:${nameKey(user)}`), field, value))) === 1;
  }

  async removeAccount(user: string): Promise<boolean> {
    if (!isValidName(user)) return false;
    const userKey = nameKey(user);
    const removed = await this.call(() =>
      this.redis.scRemoveAccount(this.key(`acct:${userKey}`), this.key('accounts'), this.key(`utok:${userKey}`), userKey, this.key('tok:')),
    );
    return removed === 1;
  }

  putPrekeys(user: string, upload: PrekeyUpload): Promise<number> {
    return this.call(() => this.prekeys.put(user, upload));
  }

  claimPrekeys(user: string): Promise<ClaimedPrekeys[]> {
    return this.call(() => this.prekeys.claim(user));
  }

  removePrekeys(user: string): Promise<void> {
    return this.call(() => this.prekeys.removeUser(user));
  }

  /** Every account, sorted by key (an admin operation: one read per account, pipelined). */
  async listAccounts(): Promise<AccountRecord[]> {
    return this.call(async () => {
      const userKeys = (await this.redis.smembers(this.key('accounts'))).sort();
      const hashes = await Promise.all(userKeys.map((userKey) => this.redis.hgetall(this.key(`acct:${userKey}`))));
      return hashes.map(toAccount).filter((record): record is AccountRecord => record !== undefined);
    });
  }

  // ---------------------------------------------------------------- resume tokens

  async issueToken(user: string, ttlMs: number): Promise<string> {
    if (!isValidName(user)) throw new ChatError('E_BAD_NAME');
    const { token, hash } = newResumeToken();
    const userKey = nameKey(user);
    const ttl = Math.max(1, Math.floor(ttlMs));
    const value = JSON.stringify({ userKey, expires: this.now() + Math.max(0, ttlMs) });
    await this.call(() =>
      this.redis.scIssueToken(this.key(`tok:${hash}`), this.key(`utok:${userKey}`), value, String(ttl), hash, this.key('tok:'), String(USER_TOKENS_PRUNE_AT)),
    );
    return token;
  }

  /**
   * True when `token` was issued to `user`, has not expired and the account exists and is
   * enabled. Redis expires the token key (PX); `expires` is checked as well, against this
   * store's clock. Lookup by SHA-256, owner comparison constant-time (as in LevelStore).
   */
  async checkToken(user: string, token: string): Promise<boolean> {
    if (!isTokenShaped(token)) return false;
    if (typeof user !== 'string' || !isValidName(user)) return false;
    const value = await this.call(() => this.redis.get(this.key(`tok:${tokenHash(token)}`)));
    if (value === null) return false;
    const record = JSON.parse(value) as { userKey: string; expires: number };
    if (record.expires <= this.now()) return false;
    if (!isTokenOwner(record.userKey, nameKey(user))) return false;
    const [name, disabled] = await this.call(() => this.redis.hmget(this.key(`acct:${record.userKey}`), 'name', 'disabled'));
    return name !== null && disabled !== '1';
  }

  async revokeToken(token: string): Promise<void> {
    if (!isTokenShaped(token)) return;
    const hash = tokenHash(token);
    await this.call(() => this.redis.scRevokeToken(this.key(`tok:${hash}`), this.key('utok:'), hash));
  }

  async revokeTokens(user: string): Promise<void> {
    if (!isValidName(user)) return;
    await this.call(() => this.redis.scRevokeTokens(this.key(`utok:${nameKey(user)}`), this.key('tok:')));
  }

  // ---------------------------------------------------------------- room messages

  /**
   * One script per draft (idempotency check, INCR, XADD, the client-id key, PUBLISH), all sent
   * in this call before it awaits anything. One connection runs commands in the order they
   * were sent, so drafts are numbered in call order, also across calls; a retry in the same
   * batch finds the key its first copy set a moment earlier.
   */
  async appendMessages(drafts: readonly MessageDraft[]): Promise<AppendOutcome[]> {
    for (const draft of drafts) checkDraft(draft);
    const retention = String(this.clientIdRetentionMs);
    const sent = drafts.map((draft) => {
      const { room, roomKey, from, text, time, id } = draft;
      const head = `{"room":${JSON.stringify(room)},"roomKey":${JSON.stringify(roomKey)},"seq":`;
      const tail = `,"from":${JSON.stringify(from)},"text":${JSON.stringify(text)},"time":${JSON.stringify(time)},"id":${JSON.stringify(id)}}`;
      const reply = this.redis.scAppendMessage(
        this.key(`msgid:${nameKey(from)}:${id}`),
        this.key(`room:${roomKey}:seq`),
        this.key(`room:${roomKey}:log`),
        retention,
        this.roomChannel(roomKey),
        head,
        tail,
        roomKey,
        JSON.stringify(time),
        this.prefix,
      );
      return reply.then(([stored, json, ref]): AppendOutcome => {
        if (json) return { message: parseStoredMessage(json), duplicate: stored !== 1 };
        // The original left the log (not done today): answer with what the id record knows.
        const known = JSON.parse(ref ?? '{}') as IdempotencyRecord;
        return { message: { ...draft, roomKey: known.roomKey, seq: known.seq, time: known.time }, duplicate: true };
      });
    });
    return this.call(() => Promise.all(sent));
  }

  async lastMessages(roomKey: string, limit: number, before?: number): Promise<MessagePage> {
    if (!isRoomKey(roomKey)) return { messages: [], hasMore: false };
    const want = wholeLimit(limit);
    let end = '+';
    if (before !== undefined && !Number.isNaN(before) && before <= Number.MAX_SAFE_INTEGER) {
      const below = Math.floor(before);
      if (below <= 1) return { messages: [], hasMore: false };
      end = `(${below}-0`;
    }
    const entries = (await this.call(() => this.redis.xrevrange(this.key(`room:${roomKey}:log`), end, '-', 'COUNT', want + 1))) as Array<[string, string[]]>;
    const hasMore = entries.length > want;
    if (hasMore) entries.pop();
    return { messages: entryValues(entries).map(parseStoredMessage).reverse(), hasMore };
  }

  async messagesSince(roomKey: string, since: number, limit: number): Promise<MessagePage> {
    if (!isRoomKey(roomKey) || since >= Number.MAX_SAFE_INTEGER) return { messages: [], hasMore: false };
    const want = wholeLimit(limit);
    const start = since < 0 || Number.isNaN(since) ? '-' : `(${Math.floor(since)}-0`;
    const entries = (await this.call(() => this.redis.xrange(this.key(`room:${roomKey}:log`), start, '+', 'COUNT', want + 1))) as Array<[string, string[]]>;
    const hasMore = entries.length > want;
    if (hasMore) entries.pop();
    return { messages: entryValues(entries).map(parseStoredMessage), hasMore };
  }

  async findByClientId(user: string, id: string): Promise<StoredMessage | undefined> {
    if (!isValidName(user) || !isStorableClientId(id)) return undefined;
    const ref = await this.call(() => this.redis.get(this.key(`msgid:${nameKey(user)}:${id}`)));
    if (ref === null) return undefined;
    const { roomKey, seq } = JSON.parse(ref) as IdempotencyRecord;
    const entries = (await this.call(() => this.redis.xrange(this.key(`room:${roomKey}:log`), `${seq}-0`, `${seq}-0`))) as Array<[string, string[]]>;
    return entries.length > 0 ? parseStoredMessage(entryValues(entries)[0]) : undefined;
  }

  // ---------------------------------------------------------------- room files (index only)

  async putRoomFile(roomKey: string, file: StoredRoomFile): Promise<void> {
    this.checkRoomFileKey(roomKey, file.id);
    await this.call(() => this.redis.scPutRoomFile(this.key(`files:${roomKey}`), this.key('filerooms'), roomKey, file.id, JSON.stringify(file)));
  }

  async deleteRoomFile(roomKey: string, id: string): Promise<void> {
    this.checkRoomFileKey(roomKey, id);
    await this.call(() => this.redis.scDeleteRoomFile(this.key(`files:${roomKey}`), this.key('filerooms'), roomKey, id));
  }

  /** The files of one room, by id (as LevelStore lists them). */
  async listRoomFiles(roomKey: string): Promise<StoredRoomFile[]> {
    if (!isRoomKey(roomKey)) return [];
    const values = await this.call(() => this.redis.hvals(this.key(`files:${roomKey}`)));
    return values.map((json) => JSON.parse(json) as StoredRoomFile).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async allRoomFiles(): Promise<Array<{ roomKey: string; file: StoredRoomFile }>> {
    return this.call(async () => {
      const roomKeys = (await this.redis.smembers(this.key('filerooms'))).sort();
      const perRoom = await Promise.all(roomKeys.map((roomKey) => this.listRoomFiles(roomKey)));
      return perRoom.flatMap((files, i) => files.map((file) => ({ roomKey: roomKeys[i], file })));
    });
  }

  private checkRoomFileKey(roomKey: string, id: string): void {
    if (!isRoomKey(roomKey) || typeof id !== 'string' || id.length === 0 || id.length > ROOM_FILE_ID_MAX_CHARS) {
      throw new ChatError('E_INTERNAL', 'bad room file key');
    }
  }

  // ---------------------------------------------------------------- audit log

  /** Record an audit event with the current time. Never throws and never waits (see LevelStore.audit). */
  audit(event: AuditEvent): void {
    this.auditQueue.add(event);
  }

  /**
   * Write every audit event queued so far (waiting for a write in flight first). When Redis is
   * unreachable the events stay queued for a later try; this never throws.
   */
  flushAudit(): Promise<void> {
    return this.auditQueue.flush();
  }

  async listAudit(limit: number): Promise<AuditRecord[]> {
    await this.flushAudit();
    const want = wholeLimit(limit);
    if (want === 0) return [];
    const entries = (await this.call(() => this.redis.xrevrange(this.key('audit'), '+', '-', 'COUNT', want))) as Array<[string, string[]]>;
    return entryValues(entries).map((json) => JSON.parse(json) as AuditRecord);
  }

  private auditMinId(): string {
    return String(Math.max(0, Math.floor(this.now() - this.auditRetentionMs)));
  }

  /** In script calls of AUDIT_EVENTS_PER_WRITE; on a failure, the events not written are handed back to try again (AuditQueue). */
  private async writeAudit(records: AuditRecord[]): Promise<AuditRecord[]> {
    for (let start = 0; start < records.length; start += AUDIT_EVENTS_PER_WRITE) {
      const chunk = records.slice(start, start + AUDIT_EVENTS_PER_WRITE);
      const pairs = chunk.flatMap((record) => [String(Math.max(0, Math.floor(record.time))), JSON.stringify(record)]);
      try {
        await this.redis.scAppendAudit(this.key('audit'), this.auditMinId(), String(this.auditMaxEvents), ...pairs);
      } catch (error) {
        if (!this.down) reportSafely(this.onError, unavailable(error)); // an outage is reported once, by the 'error' listener
        return records.slice(start);
      }
    }
    return [];
  }
}
