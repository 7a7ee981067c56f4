/**
 * One end-to-end session between two devices: X3DH to start it (DR §5.1), the Double Ratchet
 * to run it, and the byte layout of a session body (docs/crypto.md "Sessions"). Pure.
 *
 * Body (base64 on the wire):
 *   u8 version (2) || u8 kind (1 initial, 2 normal) || u8 len || from device || u8 len || to device
 *   || [kind 1: sign (32) || box (32) || EK (32) || u32 SPK id || u8 has OPK || u32 OPK id]
 *   || ratchet header (41) || XChaCha20-Poly1305 ciphertext of sodium_pad(plaintext, 256)
 * The device ids are not authenticated by themselves but are in AD: a body re-addressed to
 * another device, user or session fails to decrypt.
 */
import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../errors.js';
import { RATCHET_LIMITS } from '../limits.js';
import { concatBytes, fromBase64Strict, toBase64, utf8Bytes } from './bytes.js';
import { HEADER_BYTES, ratchetDecrypt, ratchetEncrypt, ratchetInitAlice, ratchetInitBob, skipSendingKeys, type RatchetState } from './double-ratchet.js';
import { pad } from './native-sodium.js';
import { DEVICE_ID, u32, type KeyPair, type VerifiedPrekeyBundle } from './prekeys.js';
import { ratchetStateFromJson, ratchetStateToJson, type RatchetStateJson } from './ratchet-state.js';
import { x3dhInitiate, x3dhRespond, type LocalDevice, type PrekeySecrets, type X3dhPrefix } from './x3dh.js';

export const BODY_VERSION = 2;
const KIND_INITIAL = 1;
const KIND_MESSAGE = 2;
const PREFIX_BYTES = 32 * 3 + 4 + 1 + 4;
const TAG_BYTES = 16;
/** Longest body a session makes, in base64 characters (the largest padded plaintext). */
export const MAX_SESSION_BODY_CHARS = Math.ceil((3 + 2 * 32 + PREFIX_BYTES + HEADER_BYTES + RATCHET_LIMITS.maxPlaintextBytes + RATCHET_LIMITS.padBlockBytes + TAG_BYTES) / 3) * 4;

export interface ParsedBody {
  readonly fromDevice: string;
  readonly toDevice: string;
  readonly prefix?: X3dhPrefix;
  readonly header: Uint8Array;
  readonly ciphertext: Uint8Array;
}

function format(detail: string): ChatError {
  return new ChatError('E_DECRYPT', `a session message is malformed (${detail})`, { reason: 'format' });
}

/** Parses a body's framing (no crypto). `E_DECRYPT` reason `format` / `size` on anything off. */
export function parseBody(body: unknown): ParsedBody {
  if (typeof body !== 'string' || body.length > MAX_SESSION_BODY_CHARS) throw new ChatError('E_DECRYPT', 'a session message is too large', { reason: 'size' });
  const bytes = fromBase64Strict(body);
  if (!bytes || bytes.length < 3) throw format('base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== BODY_VERSION) throw format('version');
  const kind = bytes[1];
  let at = 2;
  const device = (): string => {
    const length = bytes[at] ?? 0;
    const text = Buffer.from(bytes.subarray(at + 1, at + 1 + length)).toString('utf8');
    at += 1 + length;
    if (!DEVICE_ID.test(text)) throw format('device');
    return text;
  };
  const fromDevice = device();
  const toDevice = device();
  let prefix: X3dhPrefix | undefined;
  if (kind === KIND_INITIAL) {
    if (bytes.length < at + PREFIX_BYTES) throw format('truncated');
    const hasOpk = bytes[at + 100];
    if (hasOpk !== 0 && hasOpk !== 1) throw format('prefix');
    prefix = {
      sign: bytes.slice(at, at + 32),
      box: bytes.slice(at + 32, at + 64),
      ephemeral: bytes.slice(at + 64, at + 96),
      signedPrekeyId: view.getUint32(at + 96),
      ...(hasOpk === 1 ? { oneTimePrekeyId: view.getUint32(at + 101) } : {}),
    };
    at += PREFIX_BYTES;
  } else if (kind !== KIND_MESSAGE) throw format('kind');
  if (bytes.length < at + HEADER_BYTES + TAG_BYTES) throw format('truncated');
  return { fromDevice, toDevice, ...(prefix ? { prefix } : {}), header: bytes.slice(at, at + HEADER_BYTES), ciphertext: bytes.slice(at + HEADER_BYTES) };
}

function encodePrefix(prefix: X3dhPrefix): Uint8Array {
  const opk = prefix.oneTimePrekeyId;
  return concatBytes(prefix.sign, prefix.box, prefix.ephemeral, u32(prefix.signedPrekeyId), new Uint8Array([opk === undefined ? 0 : 1]), u32(opk ?? 0));
}

const lp8 = (text: string): Uint8Array => concatBytes(new Uint8Array([utf8Bytes(text).length]), utf8Bytes(text));

export interface SessionJson {
  v: 1;
  peer: { user: string; device: string };
  device: string;
  /** EK_A of the X3DH that made this session (base64): a prefix with the same EK belongs to it. */
  ephemeral: string;
  /** Alice's prefix, sent until Bob has answered (DR §5.1 note in docs/crypto.md). */
  pending: { sign: string; box: string; ephemeral: string; signedPrekeyId: number; oneTimePrekeyId?: number } | null;
  ratchet: RatchetStateJson;
}

export class Session {
  private constructor(
    readonly peerUser: string,
    readonly peerDevice: string,
    readonly localDevice: string,
    /** EK_A of the X3DH that made this session. */
    readonly ephemeral: Uint8Array,
    private pending: X3dhPrefix | undefined,
    private readonly state: RatchetState,
  ) {}

  /** Alice: X3DH with a verified bundle (X3DH §3.3), then RatchetInitAlice with SPK_B (DR §5.1). */
  static async initiate(me: LocalDevice, bundle: VerifiedPrekeyBundle, fixed: { ephemeral?: KeyPair; ratchetKey?: KeyPair } = {}): Promise<Session> {
    const { sk, ad, prefix } = await x3dhInitiate(me, bundle, fixed.ephemeral);
    const state = ratchetInitAlice(sk, bundle.signedPrekey, ad, fixed.ratchetKey);
    sodium.memzero(sk);
    return new Session(bundle.user, bundle.device, me.device, prefix.ephemeral, prefix, state);
  }

  /**
   * Bob: a body with an X3DH prefix (X3DH §3.4). `trusted` says whether the prefix's identity
   * keys are the ones we hold for that user and device (else `E_KEY_CHANGED`); `seenEphemeral`
   * whether a session was already made from this EK (then `E_REPLAY`: X3DH §4.2, a replayed
   * initial message without a one-time prekey). Nothing is kept unless the message decrypts;
   * then the caller deletes the one-time prekey `usedOneTimePrekeyId` and records the EK.
   */
  static async accept(
    me: LocalDevice,
    secrets: PrekeySecrets,
    fromUser: string,
    body: ParsedBody,
    checks: { trusted(sign: Uint8Array, box: Uint8Array): boolean; seenEphemeral(ephemeral: Uint8Array): boolean },
  ): Promise<{ session: Session; plaintext: Uint8Array; usedOneTimePrekeyId?: number }> {
    const prefix = body.prefix;
    if (!prefix) throw format('no X3DH prefix');
    checkAddress(me, body);
    if (!checks.trusted(prefix.sign, prefix.box)) throw new ChatError('E_KEY_CHANGED', 'the initial message comes from identity keys we do not trust for this device');
    if (checks.seenEphemeral(prefix.ephemeral)) throw new ChatError('E_REPLAY', 'this initial message was already received', { reason: 'replay' });
    const { sk, ad, signedPrekey } = await x3dhRespond(me, secrets, { user: fromUser, device: body.fromDevice }, prefix);
    const state = ratchetInitBob(sk, signedPrekey, ad);
    sodium.memzero(sk);
    const session = new Session(fromUser, body.fromDevice, me.device, prefix.ephemeral, undefined, state);
    const plaintext = session.open(body);
    return { session, plaintext, ...(prefix.oneTimePrekeyId === undefined ? {} : { usedOneTimePrekeyId: prefix.oneTimePrekeyId }) };
  }

  /** True when `body`'s prefix is the X3DH of this session (Alice resending it), not a new one. */
  ownsPrefix(body: ParsedBody): boolean {
    return !body.prefix || sodium.memcmp(body.prefix.ephemeral, this.ephemeral);
  }

  /** DR §3.4 RatchetEncrypt of a padded plaintext, framed as a body. The state moves on first. */
  seal(plaintext: Uint8Array): string {
    if (plaintext.length > RATCHET_LIMITS.maxPlaintextBytes) throw new ChatError('E_TOO_LARGE');
    const { header, ciphertext } = ratchetEncrypt(this.state, pad(plaintext, RATCHET_LIMITS.padBlockBytes));
    const prefix = this.pending ? encodePrefix(this.pending) : new Uint8Array(0);
    const head = new Uint8Array([BODY_VERSION, this.pending ? KIND_INITIAL : KIND_MESSAGE]);
    return toBase64(concatBytes(head, lp8(this.localDevice), lp8(this.peerDevice), prefix, header, ciphertext));
  }

  /**
   * The current sending chain: its ratchet public key (DHs, which names the chain: a fresh one
   * per DH ratchet step) and the number of its next message. Undefined until there is one (Bob
   * before his first message arrives).
   */
  sendingChain(): { key: Uint8Array; next: number } | undefined {
    return this.state.cks ? { key: this.state.dhs.publicKey, next: this.state.ns } : undefined;
  }

  /** Moves the sending chain on to message number `n`, its keys in between dropped (`skipSendingKeys`). */
  skipSendingTo(n: number): void {
    skipSendingKeys(this.state, n);
  }

  /**
   * DR §3.5 RatchetDecrypt of a parsed body for this session; the padding is removed. On
   * failure the state is as before. The first message from Bob ends Alice's prefix.
   */
  open(body: ParsedBody): Uint8Array {
    if (body.fromDevice !== this.peerDevice || body.toDevice !== this.localDevice) {
      throw new ChatError('E_MISADDRESSED', 'the message is for another session');
    }
    if (!this.ownsPrefix(body)) throw new ChatError('E_DECRYPT', 'the message starts another session', { reason: 'other-session' });
    const padded = ratchetDecrypt(this.state, body.header, body.ciphertext);
    this.pending = undefined;
    try {
      return sodium.unpad(padded, RATCHET_LIMITS.padBlockBytes);
    } catch {
      throw format('padding');
    }
  }

  toJSON(): SessionJson {
    const p = this.pending;
    return {
      v: 1,
      peer: { user: this.peerUser, device: this.peerDevice },
      device: this.localDevice,
      ephemeral: toBase64(this.ephemeral),
      pending: p ? {
        sign: toBase64(p.sign), box: toBase64(p.box), ephemeral: toBase64(p.ephemeral), signedPrekeyId: p.signedPrekeyId,
        ...(p.oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId: p.oneTimePrekeyId }),
      } : null,
      ratchet: ratchetStateToJson(this.state),
    };
  }

  /** `E_CORRUPT_FILE` for anything damaged. */
  static fromJSON(json: SessionJson): Session {
    const corrupt = () => new ChatError('E_CORRUPT_FILE', 'a saved session is damaged');
    const key = (text: unknown): Uint8Array => fromBase64Strict(text, 32) ?? (() => { throw corrupt(); })();
    if (json?.v !== 1 || !DEVICE_ID.test(json.peer?.device) || !DEVICE_ID.test(json.device) || typeof json.peer.user !== 'string') throw corrupt();
    const p = json.pending;
    const pending: X3dhPrefix | undefined = p ? {
      sign: key(p.sign), box: key(p.box), ephemeral: key(p.ephemeral), signedPrekeyId: p.signedPrekeyId,
      ...(p.oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId: p.oneTimePrekeyId }),
    } : undefined;
    return new Session(json.peer.user, json.peer.device, json.device, key(json.ephemeral), pending, ratchetStateFromJson(json.ratchet));
  }
}

function checkAddress(me: LocalDevice, body: ParsedBody): void {
  if (body.toDevice !== me.device) throw new ChatError('E_MISADDRESSED', 'the message is for another device');
}
