import { z } from 'zod';
import { PublicKeyBundleSchema } from './crypto/identity.js';
import { DeviceIdSchema, OneTimePrekeySchema, PrekeyBundleSchema, SignedPrekeySchema } from './crypto/prekeys.js';
import { MAX_HISTORY_MESSAGES, MAX_KEYS_PER_REQUEST, PREKEY_LIMITS } from './limits.js';

/**
 * The wire contract: every control message in both directions, as zod schemas (one schema
 * source) with the TypeScript types inferred from them. The relay validates every inbound
 * message with `parseClientMessage`; the client validates every inbound message with
 * `parseRelayMessage`. Unknown fields are dropped, unknown types are refused.
 */
export const PROTOCOL_VERSION = 1;

/** Request and client message ids: also the bound the stores put on client ids they key by. */
export const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_NAME = 64;
const MAX_TEXT = 16 * 1024;
const requestId = z.string().regex(REQUEST_ID);
const name = z.string().min(1).max(MAX_NAME);
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const text = z.string().max(MAX_TEXT);
/** An away text (/away MSG) on the wire; the relay's limit (maxAwayBytes, E_TOO_LARGE) is far below this bound. */
const awayText = z.string().max(1024);
/** Who in a room is away and why, by user name (only users who are away). */
const awayUsers = z.record(name, awayText);
/** A file transfer's id, chosen by the sender. */
const transferId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
/** A base64 Ed25519 signature. */
const signature = z.string().max(128);
/** A room file's size in bytes. */
export const fileSize = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
/** A BLAKE2b-512 digest as 128 lowercase hex characters. */
export const blake2bHex = z.string().regex(/^[0-9a-f]{128}$/);
/** A room file's id, chosen by the relay. */
export const roomFileId = z.string().regex(/^[0-9a-f]{8,32}$/);

// ---- client -> relay --------------------------------------------------------------------

export const ClientMessage = z.discriminatedUnion('t', [
  z.object({ t: z.literal('hello'), v: z.number().int(), client: z.string().max(128).optional() }),
  /**
   * `keys` are the device's public identity keys (signed; login replaces stored keys with them,
   * as a new device would); `proof` signs the welcome's challenge bound to this TLS session,
   * proving possession of the signing key. Both are required.
   */
  z.object({ t: z.literal('register'), id: requestId, user: name, password: z.string().max(4096), keys: PublicKeyBundleSchema, proof: signature }),
  z.object({ t: z.literal('login'), id: requestId, user: name, password: z.string().max(4096), keys: PublicKeyBundleSchema, proof: signature }),
  z.object({
    t: z.literal('resume'),
    id: requestId,
    user: name,
    token: z.string().max(256),
    /** Required by the relay when the account has keys (every account made by a current client). */
    proof: signature.optional(),
    /** The room to return to after a reconnect, and the last sequence id seen in it. */
    room: name.optional(),
    since: seq.optional(),
  }),
  /** A room message. `id` is client-chosen and makes retries idempotent; `resent` marks a retry. */
  z.object({ t: z.literal('say'), id: requestId, text, resent: z.boolean().optional() }),
  z.object({ t: z.literal('create'), id: requestId, room: name }),
  z.object({ t: z.literal('join'), id: requestId, room: name, since: seq.optional() }),
  z.object({ t: z.literal('leave'), id: requestId }),
  z.object({ t: z.literal('users'), id: requestId }),
  /** Sets this user's away text, shown to the room in /users until cleared (no `text`, or an empty one). */
  z.object({ t: z.literal('away'), id: requestId, text: awayText.optional() }),
  z.object({ t: z.literal('rooms'), id: requestId }),
  /** `body` is opaque to the relay (end-to-end ciphertext once whispers are encrypted). */
  z.object({ t: z.literal('whisper'), id: requestId, to: name, body: z.string().max(32 * 1024) }),
  z.object({ t: z.literal('history'), id: requestId, before: seq.optional(), limit: z.number().int().min(1).max(MAX_HISTORY_MESSAGES).optional() }),
  z.object({ t: z.literal('ping'), id: requestId }),
  z.object({ t: z.literal('exit'), id: requestId }),
  /** A user's public identity keys, to encrypt whispers to them and check theirs. */
  z.object({ t: z.literal('keys'), id: requestId, user: name }),
  /** The public identity keys of several users at once (a room's members), at most MAX_KEYS_PER_REQUEST. */
  z.object({ t: z.literal('key-batch'), id: requestId, users: z.array(name).min(1).max(MAX_KEYS_PER_REQUEST) }),
  /**
   * Machine-to-machine end-to-end sealed messages (file transfer offers, answers and
   * candidates), routed like whispers to an online user but never shown as chat.
   */
  z.object({ t: z.literal('signal'), id: requestId, to: name, body: z.string().max(32 * 1024) }),
  /** Asks for a one-time ticket to open a relay pipe with `peer` for transfer `transfer`. */
  z.object({ t: z.literal('pipe-ticket'), id: requestId, transfer: transferId, peer: name }),
  /**
   * On a NEW connection, right after hello (instead of a login): join the pipe the ticket
   * names. After `pipe-ready` the connection carries raw bytes to and from the peer.
   */
  z.object({ t: z.literal('pipe'), id: requestId, ticket: z.string().max(128) }),
  // ---- room files (stored on the relay for the sender's current room) ----
  /** Asks to store a file for the current room; `name` is display metadata only (sanitized by the relay). */
  z.object({ t: z.literal('file-upload'), id: requestId, name: z.string().max(8192), size: fileSize, hash: blake2bHex }),
  /** Lists the current room's stored files. */
  z.object({ t: z.literal('files'), id: requestId }),
  /** Asks for a ticket to fetch one of the current room's files. */
  z.object({ t: z.literal('file-download'), id: requestId, fileId: roomFileId }),
  /** On a NEW connection right after hello: upload the ticket's file; after `file-ready` send exactly `size` raw bytes. */
  z.object({ t: z.literal('file-put'), id: requestId, ticket: z.string().max(128) }),
  /** On a NEW connection right after hello: fetch the ticket's file; `file-ready` is followed by its raw bytes. */
  z.object({ t: z.literal('file-get'), id: requestId, ticket: z.string().max(128) }),
  // ---- prekeys (sessions with forward secrecy, docs/crypto.md) ----
  /**
   * This device's signed prekey (replaces the stored one) and more one-time prekeys (added; none
   * is fine: the answer still says how many are left). Public keys only.
   */
  z.object({
    t: z.literal('prekeys'),
    id: requestId,
    device: DeviceIdSchema,
    signedPrekey: SignedPrekeySchema,
    oneTime: z.array(OneTimePrekeySchema).max(PREKEY_LIMITS.maxOneTimePerUpload),
  }),
  /** Each of `user`'s devices' prekey bundle, taking one one-time prekey of each (handed out once). */
  z.object({ t: z.literal('prekey-claim'), id: requestId, user: name }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export type ClientMessageType = ClientMessage['t'];

// ---- relay -> client --------------------------------------------------------------------

export const RoomMessage = z.object({
  room: name,
  seq,
  from: name,
  text,
  /** Milliseconds since the epoch, set by the relay when it stored the message. */
  time: z.number(),
  /** The sender's client-chosen id. */
  id: requestId,
});
export type RoomMessage = z.infer<typeof RoomMessage>;

/** One file stored on the relay for a room. `time`: when it was stored, ms since the epoch. */
export const RoomFileInfo = z.object({ id: roomFileId, name: z.string().max(1024), size: fileSize, hash: blake2bHex, from: name, time: z.number() });
export type RoomFileInfo = z.infer<typeof RoomFileInfo>;

export const RelayMessage = z.discriminatedUnion('t', [
  /**
   * `challenge`: base64 random bytes that the login proof signs (with the TLS session's exporter
   * value). `observed`: the client's IP address as the relay sees it (a file transfer candidate).
   */
  z.object({ t: z.literal('welcome'), v: z.number().int(), server: z.string().max(128), registration: z.enum(['open', 'closed']), challenge: z.string().max(256), observed: z.string().max(64).optional() }),
  z.object({ t: z.literal('session'), re: requestId, user: name, token: z.string().max(256), resumed: z.boolean() }),
  /** The room the client is now in: after login, create, join, leave, or a resume. */
  z.object({
    t: z.literal('joined'),
    re: requestId.optional(),
    room: name,
    users: z.array(name).max(100_000),
    history: z.array(RoomMessage).max(MAX_HISTORY_MESSAGES),
    /** True when older messages exist than the first in `history`. */
    hasMore: z.boolean(),
    /** Members who are away, with their away text (absent when nobody is). */
    away: awayUsers.optional(),
  }),
  z.object({ t: z.literal('ack'), re: requestId, room: name, seq, time: z.number() }),
  z.object({ t: z.literal('message'), ...RoomMessage.shape }),
  z.object({ t: z.literal('presence'), room: name, user: name, event: z.enum(['join', 'leave']) }),
  z.object({ t: z.literal('users'), re: requestId, room: name, users: z.array(name).max(100_000), away: awayUsers.optional() }),
  /** A member of the room set (`text`) or cleared (no `text`) their away text. */
  z.object({ t: z.literal('away'), room: name, user: name, text: awayText.optional() }),
  z.object({ t: z.literal('rooms'), re: requestId, rooms: z.array(z.object({ name, members: z.number().int().nonnegative() })).max(100_000) }),
  z.object({ t: z.literal('history'), re: requestId, room: name, messages: z.array(RoomMessage).max(MAX_HISTORY_MESSAGES), hasMore: z.boolean() }),
  z.object({ t: z.literal('whisper'), from: name, body: z.string().max(32 * 1024), time: z.number(), id: requestId }),
  z.object({ t: z.literal('keys'), re: requestId, user: name, keys: PublicKeyBundleSchema }),
  /**
   * The answer to `key-batch`: each user asked for is in `found` (with the relay's spelling of
   * the name) or in `missing` with the code a `keys` request would have failed with.
   */
  z.object({
    t: z.literal('key-batch'),
    re: requestId,
    found: z.array(z.object({ user: name, keys: PublicKeyBundleSchema })).max(MAX_KEYS_PER_REQUEST),
    missing: z.array(z.object({ user: name, code: z.enum(['E_NO_SUCH_USER', 'E_NO_KEY']) })).max(MAX_KEYS_PER_REQUEST),
  }),
  z.object({ t: z.literal('signal'), from: name, body: z.string().max(32 * 1024), time: z.number(), id: requestId }),
  z.object({ t: z.literal('pipe-ticket'), re: requestId, ticket: z.string().max(128), expiresInMs: z.number().int().nonnegative() }),
  /** Both sides are in: from the next byte on this connection is a raw pipe to the peer. */
  z.object({ t: z.literal('pipe-ready'), re: requestId }),
  /** `queued`: the target's connection had just dropped; the relay holds it for their return. */
  z.object({ t: z.literal('ok'), re: requestId, queued: z.boolean().optional() }),
  z.object({ t: z.literal('pong'), re: requestId, time: z.number() }),
  z.object({
    t: z.literal('error'),
    re: requestId.optional(),
    code: z.string().max(64),
    message: z.string().max(1024),
    retryAfterMs: z.number().nonnegative().optional(),
  }),
  /** The relay is closing this connection and says why. */
  z.object({ t: z.literal('bye'), code: z.string().max(64), message: z.string().max(1024) }),
  // ---- room files ----
  /** A one-time ticket for a side connection that uploads or downloads `fileId`. */
  z.object({ t: z.literal('file-ticket'), re: requestId, ticket: z.string().max(128), fileId: roomFileId }),
  /** On a file side connection: raw bytes follow (download: the file; upload: the client's). */
  z.object({ t: z.literal('file-ready'), re: requestId, size: fileSize.optional(), hash: blake2bHex.optional(), name: z.string().max(1024).optional() }),
  /** The uploaded bytes matched size and hash and the file is listed in its room. */
  z.object({ t: z.literal('file-stored'), re: requestId, fileId: roomFileId }),
  z.object({ t: z.literal('files'), re: requestId, room: name, files: z.array(RoomFileInfo).max(100_000) }),
  // ---- prekeys ----
  /** The answer to `prekeys`: stored; `remaining` one-time prekeys are left for this device. */
  z.object({ t: z.literal('prekeys-stored'), re: requestId, device: DeviceIdSchema, remaining: z.number().int().nonnegative().max(PREKEY_LIMITS.maxStoredOneTime) }),
  /** The answer to `prekey-claim`: one bundle per device of `user` (a one-time prekey while any are left). */
  z.object({ t: z.literal('prekey-bundle'), re: requestId, user: name, devices: z.array(PrekeyBundleSchema).min(1).max(PREKEY_LIMITS.maxDevicesPerUser) }),
  /** A claim left this device of yours with few one-time prekeys: upload more (`prekeys`). */
  z.object({ t: z.literal('prekeys-low'), device: DeviceIdSchema, remaining: z.number().int().nonnegative().max(PREKEY_LIMITS.maxStoredOneTime) }),
]);
export type RelayMessage = z.infer<typeof RelayMessage>;
export type RelayMessageType = RelayMessage['t'];

/** Narrows a relay message type by its tag, e.g. `RelayMessageOf<'ack'>`. */
export type RelayMessageOf<T extends RelayMessageType> = Extract<RelayMessage, { t: T }>;
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { t: T }>;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string; re?: string };

/**
 * The hot path of a client: a room `message`, checked by hand. It accepts only what the zod
 * schema accepts and returns what zod would (the known fields, nothing else); anything it
 * does not accept goes to zod, which gives the real error (test/unit/shared/codec-fast-path.test.ts checks
 * both agree on every field at and around its limits). Half the cost of the zod check, on the
 * message every client receives most.
 */
export function asRoomMessage(value: unknown): RelayMessageOf<'message'> | null {
  if (typeof value !== 'object' || value === null) return null;
  const { t, room, seq, from, text, time, id } = value as Record<string, unknown>;
  if (
    t !== 'message' ||
    typeof room !== 'string' || room.length < 1 || room.length > MAX_NAME ||
    typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 ||
    typeof from !== 'string' || from.length < 1 || from.length > MAX_NAME ||
    typeof text !== 'string' || text.length > MAX_TEXT ||
    typeof time !== 'number' || !Number.isFinite(time) ||
    typeof id !== 'string' || !REQUEST_ID.test(id)
  ) {
    return null;
  }
  return { t: 'message', room, seq, from, text, time, id };
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid message';
  const where = issue.path.length > 0 ? issue.path.join('.') : 'message';
  return `${where}: ${issue.message}`;
}

/** Salvages the request id of an invalid request so the error can name it. */
function salvageId(value: unknown): string | undefined {
  const id = (value as { id?: unknown })?.id;
  return typeof id === 'string' && requestId.safeParse(id).success ? id : undefined;
}

export function parseClientMessage(value: unknown): Parsed<ClientMessage> {
  const result = ClientMessage.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: describeIssue(result.error), re: salvageId(value) };
}

export function parseRelayMessage(value: unknown): Parsed<RelayMessage> {
  const message = asRoomMessage(value);
  if (message !== null) return { ok: true, value: message };
  const result = RelayMessage.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: describeIssue(result.error) };
}
