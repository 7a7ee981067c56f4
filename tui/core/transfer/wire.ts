import { z } from 'zod';
import { ChatError, type ErrorCode } from '../../../shared/errors.js';
import { MAX_RAW_NAME_CHARS } from '../../../shared/filename.js';
import { FOLDER_LIMITS } from '../../../shared/limits.js';
import { FILE_HASH_HEX } from './file-hash.js';

/**
 * The two message sets of a file transfer, validated with zod like shared/messages.ts.
 *
 * 1. {@link TransferPeerMessage}: between the two users, carried end-to-end encrypted and
 *    authenticated by the whisper layer through the relay (the relay never reads them). The
 *    certificate fingerprints in them are what binds the data connection to the two
 *    identities, so they must only ever travel that way.
 * 2. {@link ChannelMessage}: control frames inside the peers' own TLS 1.3 data connection
 *    (direct or relay pipe), next to raw data frames carrying file bytes.
 */

export const TRANSFER_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const transferId = z.string().regex(TRANSFER_ID_PATTERN);
/** SHA-256 of the certificate's DER, as node prints it (`fingerprint256`): `AB:CD:...`. */
const fingerprint = z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
/** The whole file's hash (file-hash.ts: SHA-256), lower-case hex. */
const fileHash = z.string().regex(FILE_HASH_HEX);
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** Codes a receiver may give when it declines an offer. */
export const REJECT_CODES = ['E_REJECTED', 'E_FILE_TOO_LARGE', 'E_NO_SPACE', 'E_PATH_REFUSED'] as const satisfies readonly ErrorCode[];
export type RejectCode = (typeof REJECT_CODES)[number];

/** Codes either side may give when it stops a running transfer. */
export const ABORT_CODES = [
  'E_CANCELLED',
  'E_TRANSFER_TIMEOUT',
  'E_PEER_GONE',
  'E_FILE_CHANGED',
  'E_HASH_MISMATCH',
  'E_NO_SPACE',
  'E_FILE_TOO_LARGE',
  'E_FILE_UNREADABLE',
  'E_PATH_REFUSED',
  'E_PROTOCOL',
  'E_INTERNAL',
  /** A transfer restored after a restart found the peer's key changed since it was agreed. */
  'E_KEY_CHANGED',
] as const satisfies readonly ErrorCode[];
export type AbortCode = (typeof ABORT_CODES)[number];

export const TransferPeerMessage = z.discriminatedUnion('t', [
  /** Sender -> receiver. `name` is untrusted; the receiver sanitizes it. */
  z.object({
    t: z.literal('file-offer'),
    transferId,
    name: z.string().min(1).max(MAX_RAW_NAME_CHARS),
    size: byteCount,
    /**
     * The whole file's hash, from senders that hash before offering. Today's senders leave it
     * out and give it in the data channel's `end` instead (hashed while sending).
     */
    hash: fileHash.optional(),
    fingerprint,
    /**
     * Present when the file is one of a folder the receiver accepted (`folder-offer`): the
     * folder's id, the file's place in it and its relative path (untrusted: checked by
     * `FolderPathChecker`). Such an offer is accepted without asking again.
     */
    folder: z
      .object({ id: transferId, index: z.number().int().nonnegative().max(FOLDER_LIMITS.maxFiles), path: z.string().min(1).max(MAX_RAW_NAME_CHARS) })
      .optional(),
  }),
  /**
   * Sender -> receiver: a folder (`/send USER DIR/`): its name (untrusted, sanitized), how many
   * files and bytes. Once accepted, each file follows as an ordinary `file-offer` with `folder`.
   */
  z.object({
    t: z.literal('folder-offer'),
    transferId,
    name: z.string().min(1).max(MAX_RAW_NAME_CHARS),
    files: z.number().int().min(1).max(FOLDER_LIMITS.maxFiles),
    size: byteCount,
  }),
  /**
   * Receiver -> sender: yes. Said again by a receiver restarted without the file under way
   * (folders.ts): the sender offers that file again (or answers folder-cancel if it gave up).
   */
  z.object({ t: z.literal('folder-accept'), transferId }),
  z.object({ t: z.literal('folder-reject'), transferId, code: z.enum(REJECT_CODES).optional() }),
  /** Either way: the folder transfer stops (the file under way is cancelled on its own). */
  z.object({ t: z.literal('folder-cancel'), transferId, code: z.enum(ABORT_CODES).optional() }),
  /** Receiver -> sender: yes, and here is my certificate's fingerprint. */
  z.object({ t: z.literal('file-accept'), transferId, fingerprint }),
  z.object({ t: z.literal('file-reject'), transferId, code: z.enum(REJECT_CODES).optional() }),
  /**
   * Either way, possibly several times: addresses to dial. `final` says no more will come
   * (the port mapping finished or gave up), so the relay may be dialled early.
   */
  z.object({
    t: z.literal('file-candidates'),
    transferId,
    /** Checked in detail by `checkCandidates` (IP literals only, port range, loopback policy). */
    candidates: z.array(z.unknown()).max(64),
    final: z.boolean(),
  }),
  z.object({ t: z.literal('file-cancel'), transferId, code: z.enum(ABORT_CODES).optional() }),
]);
export type TransferPeerMessage = z.infer<typeof TransferPeerMessage>;
export type TransferPeerMessageOf<T extends TransferPeerMessage['t']> = Extract<TransferPeerMessage, { t: T }>;

export const ChannelMessage = z.discriminatedUnion('t', [
  /**
   * Leader (sender) -> follower: this connection won; the session starts on it. `path`: how
   * the sender names it (lan, direct, relay), which the receiver then uses too, so both ends
   * say the same (each side's own guess can differ: a LAN address dialled one way is a
   * public one seen from the other). Absent from older senders: the receiver keeps its own.
   */
  z.object({ t: z.literal('go'), transferId, path: z.enum(['lan', 'direct', 'relay']).optional() }),
  /** Receiver -> sender, first in a session: send from this offset (bytes already in the partial file). */
  z.object({ t: z.literal('resume'), offset: byteCount }),
  /** Receiver -> sender: every byte below `offset` is written to the partial file. */
  z.object({ t: z.literal('ack'), offset: byteCount }),
  /**
   * Sender -> receiver: that was the last byte, the file did not change while it was read,
   * and `hash` is the whole file's hash (the sender hashed what it sent, and the
   * bytes before a resume offset again). Inside the peers' mutual TLS, so only the peer whose
   * certificate the sealed offer named can say it. Required unless the offer carried one.
   */
  z.object({ t: z.literal('end'), hash: fileHash.optional() }),
  /** Receiver -> sender: the hash matched and the file is in place. */
  z.object({ t: z.literal('done') }),
  /** Either way: the transfer stops with this code. */
  z.object({ t: z.literal('abort'), code: z.enum(ABORT_CODES) }),
]);
export type ChannelMessage = z.infer<typeof ChannelMessage>;
export type ChannelMessageOf<T extends ChannelMessage['t']> = Extract<ChannelMessage, { t: T }>;

function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new ChatError('E_PROTOCOL', `invalid ${what}`, { issues: result.error.issues.length });
  return result.data;
}

/** Validates an end-to-end transfer message from the other user; throws `E_PROTOCOL`. */
export function parseTransferPeerMessage(value: unknown): TransferPeerMessage {
  return parseWith(TransferPeerMessage, value, 'transfer message');
}

/** Validates a control frame from the data connection; throws `E_PROTOCOL`. */
export function parseChannelMessage(value: unknown): ChannelMessage {
  return parseWith(ChannelMessage, value, 'data channel message');
}
