/**
 * The relay's durable store: what must survive a restart and be the same on every relay of a
 * cluster. Two implementations run the same contract tests (test/integration/relay/store-contract.test.ts):
 * `LevelStore` (one process, embedded LevelDB: the default) and `RedisStore` (several relays
 * on one Redis). docs/storage.md lists what each keeps where.
 *
 * Rules every implementation keeps:
 * - `appendMessages` assigns each room's dense sequence ids and checks client ids in the same
 *   atomic step: a (sender, client id) pair the store has accepted within `clientIdRetentionMs`
 *   is answered with its first stored message and never stored twice, on any relay, after any
 *   restart. Appends are applied in call order. When `appendMessages` throws, a leading part
 *   of the drafts may have been stored all the same (LevelStore: none, it writes one batch;
 *   RedisStore: those whose scripts ran before the connection failed, already published);
 *   retrying their ids answers with them (`duplicate: true`).
 * - An outcome is returned only once the message is durable in the store's sense (LevelDB:
 *   written to the log; Redis: accepted under AOF, `appendfsync everysec` by default).
 * - Whispers, transfer signals and file bytes are never given to the store.
 */
import type { PublicKeyBundle } from '../shared/crypto/identity.js';
import { ChatError } from '../shared/errors.js';
import type { ClaimedPrekeys, PrekeyUpload } from './prekey-records.js';
import { REQUEST_ID } from '../shared/messages.js';
import { isValidName, nameKey } from '../shared/names.js';

export interface AccountRecord {
  /** Display name as registered (case kept). */
  name: string;
  /** PHC string of the password hash (argon2id, parameters inside the string). */
  passwordHash: string;
  /** Creation time, ms since the epoch. */
  created: number;
  disabled?: boolean;
  /** The user's public identity keys (Ed25519 + X25519, signed); replaced when a device's keys change. */
  keys?: PublicKeyBundle;
}

export interface StoredMessage {
  /** Room display name. */
  room: string;
  /** `nameKey(room)`; must not contain `!`. */
  roomKey: string;
  /** Per-room sequence id: 1, 2, 3, ... with no gaps. */
  seq: number;
  from: string;
  text: string;
  /** Relay time when stored, ms since the epoch. */
  time: number;
  /** The sender's client-chosen message id. */
  id: string;
}

/** A room message before the store numbers it. */
export type MessageDraft = Omit<StoredMessage, 'seq'>;

/** What became of one draft: stored now, or recognised as a retry of `message` (stored earlier). */
export interface AppendOutcome {
  message: StoredMessage;
  duplicate: boolean;
}

export interface MessagePage {
  /** Oldest first. */
  messages: StoredMessage[];
  /** More messages exist beyond the page (older for `lastMessages`, newer for `messagesSince`). */
  hasMore: boolean;
}

export interface AuditEvent {
  event:
    | 'login'
    | 'login-failed'
    | 'register'
    | 'resume'
    | 'resume-failed'
    | 'logout'
    | 'account-added'
    | 'account-removed'
    | 'password-changed'
    | 'rate-limited'
    | 'keys-changed';
  user?: string;
  address?: string;
  detail?: string;
}

export type AuditRecord = AuditEvent & { time: number };

/** One room file in the index; the bytes live in the room-files folder under `path`. */
export interface StoredRoomFile {
  /** Relay-chosen id (hex). */
  id: string;
  /** Room display name. */
  room: string;
  /** Display name only, already sanitized; never used as a path. */
  name: string;
  /** Bytes. */
  size: number;
  /** BLAKE2b-512, hex. */
  hash: string;
  /** Uploader's user name. */
  from: string;
  /** Upload time, ms since the epoch. */
  time: number;
  /** Relay-generated file name (random hex) inside the room-files folder. */
  path: string;
}

export interface RelayStore {
  /** Flushes what is queued (the audit log) and closes. Safe to call more than once. */
  close(): Promise<void>;
  readonly isClosed: boolean;

  // ---- accounts
  /** The account named `user` in any letter case, or undefined (also for invalid names). */
  getAccount(user: string): Promise<AccountRecord | undefined>;
  /** The accounts of `users` in one read, in the same order (undefined where getAccount would give it). */
  getAccounts(users: readonly string[]): Promise<Array<AccountRecord | undefined>>;
  /** `E_USER_EXISTS` when the name is taken in any letter case, `E_BAD_NAME` when invalid. */
  createAccount(name: string, passwordHash: string, keys?: PublicKeyBundle): Promise<void>;
  /** False when there is no such account. Tokens are kept (see revokeTokens). */
  setPasswordHash(user: string, passwordHash: string): Promise<boolean>;
  /** Replaces an account's public keys (verified by the caller); false when there is no such account. */
  setKeys(user: string, keys: PublicKeyBundle): Promise<boolean>;
  /** Deletes an account and every resume token it holds; false when there is no such account. */
  removeAccount(user: string): Promise<boolean>;
  /** Every account, sorted by key (an admin operation). */
  listAccounts(): Promise<AccountRecord[]>;

  // ---- resume tokens (only a hash of each token is stored)
  /** A new token for `user`, valid for `ttlMs`: 43 base64url characters. `E_BAD_NAME` when the name is invalid. */
  issueToken(user: string, ttlMs: number): Promise<string>;
  /** True when `token` was issued to `user` (any case), has not expired, and the account exists and is enabled. */
  checkToken(user: string, token: string): Promise<boolean>;
  /** Forgets one token (logout); unknown tokens are ignored. */
  revokeToken(token: string): Promise<void>;
  /** Forgets every token of `user` (password change, account removal). */
  revokeTokens(user: string): Promise<void>;

  // ---- room logs
  /**
   * How many `appendMessages` calls the relay keeps under way at once: 1 where a call waits for
   * the one before it anyway (LevelStore), more where calls pipeline (RedisStore, one connection).
   */
  readonly appendsInFlight: number;
  /** Numbers and stores drafts in order, recognising retried client ids (see the rules above). */
  appendMessages(drafts: readonly MessageDraft[]): Promise<AppendOutcome[]>;
  /** The newest `limit` messages of a room with seq < `before` (all when omitted), oldest first. */
  lastMessages(roomKey: string, limit: number, before?: number): Promise<MessagePage>;
  /** Messages of a room with seq > `since`, oldest first, at most `limit`. */
  messagesSince(roomKey: string, since: number, limit: number): Promise<MessagePage>;
  /** Where a message with this client id from this user was stored, if it was (within the retention). */
  findByClientId(user: string, id: string): Promise<StoredMessage | undefined>;

  // ---- room files (the index; bytes live in a folder all relays share)
  putRoomFile(roomKey: string, file: StoredRoomFile): Promise<void>;
  deleteRoomFile(roomKey: string, id: string): Promise<void>;
  /** The files of one room. */
  listRoomFiles(roomKey: string): Promise<StoredRoomFile[]>;
  /** Every indexed room file with its room key (start-up and the age sweep). */
  allRoomFiles(): Promise<Array<{ roomKey: string; file: StoredRoomFile }>>;

  // ---- prekeys (public keys only; relay/prekey-records.ts, docs/crypto.md "Prekeys on the relay")
  /**
   * Stores a device's identity keys and signed prekey (replacing the old ones) and adds its new
   * one-time prekeys (ids already stored are skipped); resolves with how many it now holds.
   * `E_TOO_MANY_PREKEYS` (nothing stored) beyond PREKEY_LIMITS.maxStoredOneTime per device or
   * maxDevicesPerUser devices.
   */
  putPrekeys(user: string, upload: PrekeyUpload): Promise<number>;
  /**
   * Every device of `user` (sorted by device id) with its signed prekey and its oldest one-time
   * prekey, which is deleted in the same atomic step: no two claims, on any relay, get the
   * same one. A device without one-time prekeys left is still listed, without one. [] when none.
   */
  claimPrekeys(user: string): Promise<ClaimedPrekeys[]>;
  /** Forgets every prekey of `user` (account removal). */
  removePrekeys(user: string): Promise<void>;

  // ---- audit log
  /** Records an event with the current time; never throws, never waits (written in batches). */
  audit(event: AuditEvent): void;
  /** Writes every queued audit event now. */
  flushAudit(): Promise<void>;
  /** The newest `limit` audit events, newest first. */
  listAudit(limit: number): Promise<AuditRecord[]>;
}

/**
 * Refuses drafts whose keys could break a store's key layout (`E_INTERNAL`: the relay validates
 * names and ids before drafting, so this is a second line). A room key is a lower-case valid
 * name, the sender a valid name, the client id what the wire accepts as an id (it comes from
 * the network: at most 64 characters, `A-Z a-z 0-9 _ -`).
 */
export function checkDraft(draft: MessageDraft): void {
  const { roomKey, from, id, text, time } = draft;
  const fine =
    isRoomKey(roomKey) &&
    isValidName(from) &&
    typeof id === 'string' &&
    REQUEST_ID.test(id) &&
    typeof draft.room === 'string' &&
    typeof text === 'string' &&
    typeof time === 'number' &&
    Number.isFinite(time);
  if (!fine) throw new ChatError('E_INTERNAL', `cannot store a message with roomKey ${JSON.stringify(roomKey)} and id ${JSON.stringify(id)}`);
}

/** True for a client id a store may key by (see checkDraft). */
export function isStorableClientId(id: unknown): id is string {
  return typeof id === 'string' && REQUEST_ID.test(id);
}

/** True for a room key: a valid room name in lower case (`nameKey`), so never `!` or `:`. */
export function isRoomKey(roomKey: unknown): roomKey is string {
  return isValidName(roomKey) && roomKey === nameKey(roomKey);
}
