/**
 * The Double Ratchet, DR §3 (no header encryption), with the recommended functions of DR §5.2
 * except ENCRYPT (XChaCha20-Poly1305, deviation 3 in docs/crypto.md). `RatchetEncrypt`,
 * `RatchetDecrypt`, `TrySkippedMessageKeys`, `SkipMessageKeys` and `DHRatchet` follow DR §3.4
 * and §3.5 step by step. Pure; callers await `sodium.ready` before using it.
 *
 * State changes: `encrypt` advances the sending chain before it returns a ciphertext, so a
 * message key is never handed out twice by one state. `decrypt` works on a copy and commits it
 * only when the message authenticates (DR §3.5: on an exception "changes to the state object
 * are discarded").
 */
import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../errors.js';
import { RATCHET_LIMITS } from '../limits.js';
import { concatBytes, lengthPrefixed, toBase64, utf8Bytes } from './bytes.js';
import { CONTEXT } from './contexts.js';
import { hkdf, hmacSha256, HASH_BYTES } from './hkdf.js';
import { aeadDecrypt, aeadEncrypt, memzero } from './native-sodium.js';
import { dh, generateKeyPair, ratchetKeyPair, type KeyPair } from './prekeys.js';

export const HEADER_VERSION = 2;
/** DR §3.1 HEADER: u8 version || DHs public (32) || u32 BE PN || u32 BE N. */
export const HEADER_BYTES = 1 + 32 + 4 + 4;

export interface Header {
  readonly dh: Uint8Array;
  readonly pn: number;
  readonly n: number;
}

/** DR §3.2 state variables (plus AD and the earlier receiving keys, see RATCHET_LIMITS). */
export interface RatchetState {
  dhs: KeyPair;
  dhr: Uint8Array | undefined;
  rk: Uint8Array;
  cks: Uint8Array | undefined;
  ckr: Uint8Array | undefined;
  ns: number;
  nr: number;
  pn: number;
  /** MKSKIPPED, keyed `base64(dh):n`, oldest first (a Map keeps insertion order). */
  skipped: Map<string, Uint8Array>;
  /** Receiving ratchet keys of earlier chains (base64), newest last. */
  oldChains: string[];
  ad: Uint8Array;
}

export function encodeHeader(header: Header): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const view = new DataView(out.buffer);
  out[0] = HEADER_VERSION;
  out.set(header.dh, 1);
  view.setUint32(33, header.pn);
  view.setUint32(37, header.n);
  return out;
}

export function decodeHeader(bytes: Uint8Array): Header {
  if (bytes.length !== HEADER_BYTES || bytes[0] !== HEADER_VERSION) throw new ChatError('E_DECRYPT', 'bad ratchet header', { reason: 'format' });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { dh: bytes.slice(1, 33), pn: view.getUint32(33), n: view.getUint32(37) };
}

/** DR §5.2 KDF_RK: HKDF-SHA-256, salt = rk, IKM = dh_out, 64 bytes → (rk, ck). */
function kdfRk(rk: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdf(rk, dhOut, utf8Bytes(CONTEXT.ratchetRoot), 64);
  memzero(dhOut);
  return [out.slice(0, 32), out.slice(32)];
}

const MESSAGE_KEY_INPUT = new Uint8Array([0x01]);
const CHAIN_KEY_INPUT = new Uint8Array([0x02]);

/** DR §5.2 KDF_CK: HMAC-SHA-256 with ck as key, 0x01 → message key, 0x02 → next chain key. */
function kdfCk(ck: Uint8Array): [Uint8Array, Uint8Array] {
  return [hmacSha256(ck, CHAIN_KEY_INPUT), hmacSha256(ck, MESSAGE_KEY_INPUT)];
}

/** DR §3.1 CONCAT: the length of AD first, so (ad, header) parse one way only. */
function concatAd(ad: Uint8Array, header: Uint8Array): Uint8Array {
  return concatBytes(lengthPrefixed(ad), header);
}

/** DR §3.1/§5.2 ENCRYPT with XChaCha20-Poly1305: key and nonce derived from mk by HKDF. */
function aeadKeys(mk: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
  const out = hkdf(new Uint8Array(HASH_BYTES), mk, utf8Bytes(CONTEXT.messageKeys), 32 + 24);
  memzero(mk);
  return { key: out.slice(0, 32), nonce: out.slice(32) };
}

function seal(mk: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const { key, nonce } = aeadKeys(mk);
  const out = aeadEncrypt(plaintext, ad, nonce, key);
  memzero(key);
  return out;
}

function open(mk: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  const { key, nonce } = aeadKeys(mk);
  try {
    return aeadDecrypt(ciphertext, ad, nonce, key);
  } catch {
    throw new ChatError('E_DECRYPT', 'the message did not authenticate', { reason: 'authentication' });
  } finally {
    memzero(key);
  }
}

function checkAd(ad: Uint8Array): void {
  if (ad.length === 0 || ad.length > RATCHET_LIMITS.maxAssociatedDataBytes) throw new ChatError('E_INTERNAL', 'associated data out of bounds');
}

/** DR §3.3 RatchetInitAlice(SK, bob_dh_public_key). `ownKey` is for fixed-key tests. */
export function ratchetInitAlice(sk: Uint8Array, bobPublic: Uint8Array, ad: Uint8Array, ownKey: KeyPair = generateKeyPair()): RatchetState {
  checkAd(ad);
  const [rk, cks] = kdfRk(sk, dh(ownKey.privateKey, bobPublic, 'E_BAD_PREKEY'));
  return { dhs: ownKey, dhr: bobPublic, rk, cks, ckr: undefined, ns: 0, nr: 0, pn: 0, skipped: new Map(), oldChains: [], ad };
}

/** DR §3.3 RatchetInitBob(SK, bob_dh_key_pair): Bob's signed prekey is his first ratchet key (DR §5.1). */
export function ratchetInitBob(sk: Uint8Array, bobPair: KeyPair, ad: Uint8Array): RatchetState {
  checkAd(ad);
  return { dhs: bobPair, dhr: undefined, rk: Uint8Array.from(sk), cks: undefined, ckr: undefined, ns: 0, nr: 0, pn: 0, skipped: new Map(), oldChains: [], ad };
}

export function cloneState(state: RatchetState): RatchetState {
  return { ...state, skipped: new Map(state.skipped), oldChains: [...state.oldChains] };
}

/**
 * DR §3.4 RatchetEncrypt. Mutates `state` (the sending chain moves on before the ciphertext
 * exists). Returns the encoded header and the ciphertext.
 */
export function ratchetEncrypt(state: RatchetState, plaintext: Uint8Array): { header: Uint8Array; ciphertext: Uint8Array } {
  if (!state.cks) throw new ChatError('E_INTERNAL', 'this session cannot send before it has received (DR §3.3, Bob)');
  if (state.ns >= RATCHET_LIMITS.maxMessageNumber) throw new ChatError('E_INTERNAL', 'the sending chain is exhausted; the peer must reply first');
  const [cks, mk] = kdfCk(state.cks);
  const header = encodeHeader({ dh: state.dhs.publicKey, pn: state.pn, n: state.ns });
  state.cks = cks;
  state.ns += 1;
  return { header, ciphertext: seal(mk, plaintext, concatAd(state.ad, header)) };
}

/**
 * Moves the sending chain on to message number `n` without sending: the message keys in
 * between are derived and dropped, never used (the peer, receiving `n`, keeps them as skipped
 * keys, DR §3.5). What a client does after an unclean stop with a chain's reservation
 * (docs/crypto.md "The rule that keeps message keys single-use"). At most `maxSkip` at once, so
 * the peer can still follow.
 */
export function skipSendingKeys(state: RatchetState, n: number): void {
  if (!state.cks || n <= state.ns) return;
  if (n > RATCHET_LIMITS.maxMessageNumber || n - state.ns > RATCHET_LIMITS.maxSkip) {
    throw new ChatError('E_INTERNAL', 'a sending chain can move on by at most maxSkip keys at once');
  }
  while (state.ns < n) {
    const [cks, mk] = kdfCk(state.cks);
    memzero(mk);
    state.cks = cks;
    state.ns += 1;
  }
}

const skippedKey = (dhPublic: Uint8Array, n: number): string => `${toBase64(dhPublic)}:${n}`;

/**
 * DR §3.5 RatchetDecrypt. On success `state` is updated and the plaintext returned; on any
 * failure `state` is untouched and a ChatError says why: `E_REPLAY` (the key was used or
 * dropped), `E_DECRYPT` with reason `skip-limit` (MAX_SKIP), `authentication`, `format`.
 */
export function ratchetDecrypt(state: RatchetState, headerBytes: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const header = decodeHeader(headerBytes);
  const ad = concatAd(state.ad, headerBytes);
  const work = cloneState(state);
  const plaintext = trySkippedMessageKeys(work, header, ciphertext, ad) ?? decryptInChain(work, header, ciphertext, ad);
  Object.assign(state, work);
  return plaintext;
}

/** DR §3.5 TrySkippedMessageKeys: a stored key is used once and deleted. */
function trySkippedMessageKeys(state: RatchetState, header: Header, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  const id = skippedKey(header.dh, header.n);
  const mk = state.skipped.get(id);
  if (!mk) return undefined;
  state.skipped.delete(id);
  return open(Uint8Array.from(mk), ciphertext, ad);
}

function decryptInChain(state: RatchetState, header: Header, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  const sameChain = state.dhr !== undefined && sodium.memcmp(header.dh, state.dhr);
  if (sameChain && header.n < state.nr) throw replay();
  if (!sameChain && state.oldChains.includes(toBase64(header.dh))) throw replay();
  if (!sameChain) {
    skipMessageKeys(state, header.pn);
    dhRatchet(state, header);
  }
  skipMessageKeys(state, header.n);
  const [ckr, mk] = kdfCk(state.ckr as Uint8Array);
  state.ckr = ckr;
  state.nr += 1;
  return open(mk, ciphertext, ad);
}

function replay(): ChatError {
  return new ChatError('E_REPLAY', 'this message was already received, or its key was dropped', { reason: 'replay' });
}

/** DR §3.5 SkipMessageKeys, plus the DR §6.4 bound on stored keys (oldest dropped). */
function skipMessageKeys(state: RatchetState, until: number): void {
  if (state.nr + RATCHET_LIMITS.maxSkip < until) {
    throw new ChatError('E_DECRYPT', 'the message skips more messages than a session allows', { reason: 'skip-limit' });
  }
  if (!state.ckr || !state.dhr) return;
  while (state.nr < until) {
    const [ckr, mk] = kdfCk(state.ckr);
    state.ckr = ckr;
    state.skipped.set(skippedKey(state.dhr, state.nr), mk);
    state.nr += 1;
  }
  for (const id of state.skipped.keys()) {
    if (state.skipped.size <= RATCHET_LIMITS.maxSkippedKeys) break;
    state.skipped.delete(id);
  }
}

/** DR §3.5 DHRatchet: a new receiving chain from the peer's new key, then a new sending chain from a fresh key. */
function dhRatchet(state: RatchetState, header: Header): void {
  if (state.dhr) {
    state.oldChains.push(toBase64(state.dhr));
    if (state.oldChains.length > RATCHET_LIMITS.maxOldChains) state.oldChains.shift();
  }
  state.pn = state.ns;
  state.ns = 0;
  state.nr = 0;
  state.dhr = header.dh;
  [state.rk, state.ckr] = kdfRk(state.rk, dh(state.dhs.privateKey, state.dhr, 'E_DECRYPT'));
  state.dhs = ratchetKeyPair();
  [state.rk, state.cks] = kdfRk(state.rk, dh(state.dhs.privateKey, state.dhr, 'E_DECRYPT'));
}
