import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { isValidName, nameKey } from '../names.js';
import { concatBytes, fromBase64Strict, randomBytes, toBase64, utf8Bytes } from './bytes.js';
import type { Identity } from './identity.js';

/**
 * Whisper envelopes: libsodium `crypto_box_easy` (X25519 + XSalsa20-Poly1305), one random
 * 24-byte nonce per message. The plaintext carries version, sender, recipient, counter and time,
 * so none of them can be changed without breaking the MAC, and it is padded (`sodium_pad`,
 * ISO/IEC 7816-4) to a multiple of 256 bytes so the relay learns only a coarse length.
 *
 * Body (standard base64 of):   [u8 version = 1][24-byte nonce][crypto_box_easy ciphertext]
 * Plaintext (before padding):  [u8 version = 1][u8 len][from][u8 len][to]
 *                              [u64 BE counter][u64 BE time, ms][UTF-8 text]
 * Names inside are `nameKey` (lower case) UTF-8.
 */
export const ENVELOPE_VERSION = 1;
/** Plaintext is padded to a multiple of this many bytes before encryption. */
export const ENVELOPE_PAD_BYTES = 256;

const NONCE_BYTES = 24;
const MAC_BYTES = 16;
const HEADER_BYTES = 1 + NONCE_BYTES;
const MIN_BOX_BYTES = MAC_BYTES + ENVELOPE_PAD_BYTES;

export interface SealWhisperInput {
  /** The sender's own identity (its X25519 secret key encrypts and authenticates). */
  sender: Identity;
  /** Sender's user name, bound inside the ciphertext. */
  from: string;
  /** Recipient's user name, bound inside the ciphertext. */
  to: string;
  /** Recipient's X25519 public key, 32 bytes, from the pinned and trusted bundle. */
  recipientBox: Uint8Array;
  /** Never-repeating counter from `WhisperCounter.next()`; a safe non-negative integer. */
  counter: number;
  /** Sender's clock, ms since the Unix epoch. */
  time: number;
  /** The message; at most `maxTextBytes` UTF-8 bytes. */
  text: string;
  /** Longest text in UTF-8 bytes; default `DEFAULT_LIMITS.maxMessageBytes` (4096). */
  maxTextBytes?: number;
}

export interface OpenWhisperInput {
  /** The receiver's own identity. */
  recipient: Identity;
  /** The receiver's user name; the envelope must be addressed to it. */
  me: string;
  /** The sender's user name as the relay reported it; the envelope must be from it. */
  from: string;
  /** The sender's X25519 public key, 32 bytes, from the pinned bundle of `from`. */
  senderBox: Uint8Array;
  /** The opaque body from the wire. */
  body: unknown;
  /** The replay guard kept for `from` (one per sender). Updated only on success. */
  guard: ReplayGuard;
  /** Longest body accepted, in characters; default `DEFAULT_LIMITS.maxWhisperBodyBytes`. */
  maxBodyChars?: number;
}

export interface OpenedWhisper {
  text: string;
  /** Sender's clock at sealing, ms since the Unix epoch (not checked against ours). */
  time: number;
  counter: number;
}

function isCounter(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Encrypts one whisper. Returns the opaque base64 body to put in the wire's `whisper.body`
 * (about 5.9 KB for a 4 KiB text). Throws `E_BAD_NAME` for bad names, `E_TOO_LARGE` for a long
 * text, `E_USAGE` for a bad counter or time, `E_BAD_KEYS` for an unusable recipient key.
 */
export async function sealWhisper(input: SealWhisperInput): Promise<string> {
  await sodium.ready;
  const { sender, from, to, recipientBox, counter, time, text } = input;
  if (!isValidName(from) || !isValidName(to)) throw new ChatError('E_BAD_NAME');
  if (!isCounter(counter)) throw new ChatError('E_USAGE', 'the whisper counter must be a non-negative safe integer');
  if (!isCounter(time)) throw new ChatError('E_USAGE', 'the whisper time must be a non-negative safe integer (ms)');
  if (typeof text !== 'string') throw new ChatError('E_USAGE', 'the whisper text must be a string');
  const textBytes = utf8Bytes(text);
  const maxTextBytes = input.maxTextBytes ?? DEFAULT_LIMITS.maxMessageBytes;
  if (textBytes.length > maxTextBytes) {
    throw new ChatError('E_TOO_LARGE', `a whisper is at most ${maxTextBytes} bytes`, { maxBytes: maxTextBytes });
  }
  if (!(recipientBox instanceof Uint8Array) || recipientBox.length !== sodium.crypto_box_PUBLICKEYBYTES) {
    throw new ChatError('E_BAD_KEYS', 'the recipient key has the wrong length');
  }
  const fromBytes = utf8Bytes(nameKey(from));
  const toBytes = utf8Bytes(nameKey(to));
  const numbers = new DataView(new ArrayBuffer(16));
  numbers.setBigUint64(0, BigInt(counter));
  numbers.setBigUint64(8, BigInt(time));
  const plain = concatBytes(
    new Uint8Array([ENVELOPE_VERSION, fromBytes.length]), fromBytes,
    new Uint8Array([toBytes.length]), toBytes,
    new Uint8Array(numbers.buffer), textBytes,
  );
  const nonce = randomBytes(NONCE_BYTES);
  let sealed: Uint8Array;
  try {
    sealed = sodium.crypto_box_easy_afternm(sodium.pad(plain, ENVELOPE_PAD_BYTES), nonce, sharedKey(sender.boxSecretKey, recipientBox));
  } catch {
    // libsodium refuses keys whose shared secret would be all zeros (small-order points).
    throw new ChatError('E_BAD_KEYS', 'the recipient key cannot be used for encryption');
  }
  return toBase64(concatBytes(new Uint8Array([ENVELOPE_VERSION]), nonce, sealed));
}

/** Precomputed crypto_box keys per peer, per own secret key (bounded; dropped with the identity). */
const SHARED_KEYS_PER_IDENTITY = 1024;
const sharedKeys = new WeakMap<Uint8Array, Map<string, Uint8Array>>();

/**
 * `crypto_box_beforenm(peerPublic, ownSecret)`: the X25519 step of crypto_box, done once per
 * peer instead of once per message (it is ~95% of a whisper's crypto cost). The ciphertext is
 * exactly what crypto_box_easy makes, so the wire format does not change.
 */
function sharedKey(ownSecret: Uint8Array, peerPublic: Uint8Array): Uint8Array {
  let perPeer = sharedKeys.get(ownSecret);
  if (!perPeer) {
    perPeer = new Map();
    sharedKeys.set(ownSecret, perPeer);
  }
  const peer = toBase64(peerPublic);
  let key = perPeer.get(peer);
  if (!key) {
    key = sodium.crypto_box_beforenm(peerPublic, ownSecret);
    if (perPeer.size >= SHARED_KEYS_PER_IDENTITY) perPeer.delete(perPeer.keys().next().value!);
    perPeer.set(peer, key);
  }
  return key;
}

function decryptFailed(reason: string): ChatError {
  return new ChatError('E_DECRYPT', undefined, { reason });
}

/**
 * Decrypts and checks one whisper. Order: size and base64, then decryption (authenticates the
 * whole plaintext against `senderBox`), then the inner addressing, then the replay guard, which
 * records the counter only when everything else passed.
 * Throws `E_DECRYPT` (garbage, tampered, truncated, wrong key, bad version), `E_MISADDRESSED`
 * (inner sender or recipient differ from `from` / `me`), `E_REPLAY` (counter already seen or
 * older than the guard's window).
 */
export async function openWhisper(input: OpenWhisperInput): Promise<OpenedWhisper> {
  await sodium.ready;
  const { recipient, me, from, senderBox, body, guard } = input;
  const maxBodyChars = input.maxBodyChars ?? DEFAULT_LIMITS.maxWhisperBodyBytes;
  if (typeof body !== 'string' || body.length > maxBodyChars) throw decryptFailed('size');
  const raw = fromBase64Strict(body);
  if (!raw) throw decryptFailed('base64');
  if (raw.length < HEADER_BYTES + MIN_BOX_BYTES) throw decryptFailed('truncated');
  if (raw[0] !== ENVELOPE_VERSION) throw decryptFailed('version');
  if (!(senderBox instanceof Uint8Array) || senderBox.length !== sodium.crypto_box_PUBLICKEYBYTES) {
    throw new ChatError('E_BAD_KEYS', 'the sender key has the wrong length');
  }
  let plain: Uint8Array;
  try {
    const padded = sodium.crypto_box_open_easy_afternm(
      raw.subarray(HEADER_BYTES),
      raw.subarray(1, HEADER_BYTES),
      sharedKey(recipient.boxSecretKey, senderBox),
    );
    plain = sodium.unpad(padded, ENVELOPE_PAD_BYTES);
  } catch {
    throw decryptFailed('authentication');
  }
  const inner = parsePlaintext(plain);
  if (inner.from !== nameKey(from) || inner.to !== nameKey(me)) {
    throw new ChatError('E_MISADDRESSED', undefined, { innerFrom: inner.from, innerTo: inner.to });
  }
  guard.accept(inner.counter);
  return { text: inner.text, time: inner.time, counter: inner.counter };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

interface Plaintext { from: string; to: string; counter: number; time: number; text: string }

/** Only a holder of the sender's key can produce a plaintext, but it is still parsed strictly. */
function parsePlaintext(plain: Uint8Array): Plaintext {
  try {
    let offset = 0;
    const take = (count: number): Uint8Array => {
      if (offset + count > plain.length) throw new RangeError('short');
      const part = plain.subarray(offset, offset + count);
      offset += count;
      return part;
    };
    if (take(1)[0] !== ENVELOPE_VERSION) throw new RangeError('version');
    const from = strictUtf8.decode(take(take(1)[0]));
    const to = strictUtf8.decode(take(take(1)[0]));
    const numbers = take(16);
    const view = new DataView(numbers.buffer, numbers.byteOffset, 16);
    const counter = view.getBigUint64(0);
    const time = view.getBigUint64(8);
    const text = strictUtf8.decode(plain.subarray(offset));
    if (!isValidName(from) || !isValidName(to)) throw new RangeError('names');
    if (counter > BigInt(Number.MAX_SAFE_INTEGER) || time > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('numbers');
    return { from, to, counter: Number(counter), time: Number(time), text };
  } catch {
    throw decryptFailed('format');
  }
}

// ---- replay protection --------------------------------------------------------------------

/** The JSON form of a `ReplayGuard`, for the client to persist per sender. */
export interface ReplayGuardState {
  v: 1;
  /** How many of the highest counters are remembered. */
  window: number;
  /** Highest counter forgotten so far; this and everything below is refused. -1 when none. */
  floor: number;
  /** Remembered counters, ascending, all above `floor`, at most `window` of them. */
  seen: number[];
}

/**
 * Accepts each counter from one sender at most once. It remembers the `window` highest counters
 * it accepted; a counter not among them is accepted if it is above the highest one it forgot
 * (`floor`), so messages arriving out of order within the window are fine, while anything at or
 * below the floor counts as a replay. Counters need not be consecutive (time-based ones are not).
 */
export class ReplayGuard {
  static readonly DEFAULT_WINDOW = 256;
  static readonly MAX_WINDOW = 65_536;

  readonly window: number;
  private floor = -1;
  /** Ascending. */
  private readonly seen: number[] = [];

  /** @param window how many counters to remember, 1-65536; default 256. */
  constructor(window: number = ReplayGuard.DEFAULT_WINDOW) {
    if (!Number.isSafeInteger(window) || window < 1 || window > ReplayGuard.MAX_WINDOW) {
      throw new ChatError('E_USAGE', `a replay window is 1-${ReplayGuard.MAX_WINDOW} counters`);
    }
    this.window = window;
  }

  /** True if `counter` would be accepted now (nothing is recorded). */
  wouldAccept(counter: number): boolean {
    if (!isCounter(counter) || counter <= this.floor) return false;
    const index = this.lowerBound(counter);
    return this.seen[index] !== counter;
  }

  /** Records `counter`, or throws `E_REPLAY` (with `details.tooOld` when below the window). */
  accept(counter: number): void {
    if (!isCounter(counter)) throw new ChatError('E_REPLAY', undefined, { counter, reason: 'invalid' });
    if (counter <= this.floor) throw new ChatError('E_REPLAY', undefined, { counter, tooOld: true });
    const index = this.lowerBound(counter);
    if (this.seen[index] === counter) throw new ChatError('E_REPLAY', undefined, { counter, tooOld: false });
    this.seen.splice(index, 0, counter);
    if (this.seen.length > this.window) this.floor = this.seen.shift() as number;
  }

  toJSON(): ReplayGuardState {
    return { v: 1, window: this.window, floor: this.floor, seen: [...this.seen] };
  }

  /** Restores a persisted guard; throws `E_CORRUPT_FILE` on anything not written by `toJSON`. */
  static fromJSON(value: unknown): ReplayGuard {
    const state = value as Partial<ReplayGuardState> | null;
    const valid = typeof state === 'object' && state !== null
      && state.v === 1
      && Number.isSafeInteger(state.window) && (state.window as number) >= 1 && (state.window as number) <= ReplayGuard.MAX_WINDOW
      && (state.floor === -1 || isCounter(state.floor))
      && Array.isArray(state.seen) && state.seen.length <= (state.window as number)
      && state.seen.every((counter, i, all) => isCounter(counter) && counter > (state.floor as number) && (i === 0 || counter > all[i - 1]));
    if (!valid) throw new ChatError('E_CORRUPT_FILE', 'the saved replay state is damaged');
    const guard = new ReplayGuard(state.window);
    guard.floor = state.floor as number;
    guard.seen.push(...(state.seen as number[]));
    return guard;
  }

  private lowerBound(counter: number): number {
    let low = 0;
    let high = this.seen.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.seen[mid] < counter) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

// ---- sender counters ----------------------------------------------------------------------

/** The JSON form of a `WhisperCounter`. */
export interface WhisperCounterState {
  v: 1;
  last: number;
}

/**
 * The sender's counter source: `max(last + 1, now_ms * 1000)`. Time-based so a restart needs no
 * saved state to keep counters increasing (the clock moved on), with up to 1000 counters per
 * millisecond before it runs ahead of the clock; persisting `last` now and then (e.g. on exit)
 * also covers a clock that was set back. Values stay below 2^53 until the year 2255.
 */
export class WhisperCounter {
  private lastValue: number;
  private readonly now: () => number;

  /**
   * @param options.last highest counter already used (from `toJSON`), default 0
   * @param options.now clock in ms since the epoch; default `Date.now` (tests pass a fake)
   */
  constructor(options: { last?: number; now?: () => number } = {}) {
    const last = options.last ?? 0;
    if (!isCounter(last)) throw new ChatError('E_USAGE', 'a counter is a non-negative safe integer');
    this.lastValue = last;
    this.now = options.now ?? Date.now;
  }

  /** The highest counter handed out so far. */
  get last(): number {
    return this.lastValue;
  }

  /** A counter larger than every earlier one from this source (and, by the clock, earlier runs). */
  next(): number {
    const fromClock = Math.max(0, Math.floor(this.now())) * 1000;
    const value = Math.max(fromClock, this.lastValue + 1);
    if (!Number.isSafeInteger(value)) throw new ChatError('E_INTERNAL', 'whisper counter overflow');
    this.lastValue = value;
    return value;
  }

  toJSON(): WhisperCounterState {
    return { v: 1, last: this.lastValue };
  }

  /** Restores a saved counter; throws `E_CORRUPT_FILE` on a damaged state. */
  static fromJSON(value: unknown, now?: () => number): WhisperCounter {
    const state = value as Partial<WhisperCounterState> | null;
    if (typeof state !== 'object' || state === null || state.v !== 1 || !isCounter(state.last)) {
      throw new ChatError('E_CORRUPT_FILE', 'the saved whisper counter is damaged');
    }
    return new WhisperCounter({ last: state.last, now });
  }
}
