import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../errors.js';
import { nameKey } from '../names.js';
import { domainMessage, fromBase64Strict, utf8Bytes } from './bytes.js';
import { CONTEXT } from './contexts.js';
import { PUBLIC_KEY_BYTES, verifyPublicBundle, type PublicKeyBundle } from './identity.js';

/** Bytes of BLAKE2b output per user; 6 chunks of 5 bytes, each shown as 5 decimal digits. */
const HALF_BYTES = 30;
const CHUNK_BYTES = 5;
/** Shown bytes of the fingerprint, cut from a 16-byte digest (BLAKE2b's shortest output). */
const FINGERPRINT_BYTES = 8;
const DIGEST_MIN_BYTES = 16;

/**
 * 30 decimal digits for one user: BLAKE2b-240 (`crypto_generichash`, 30-byte output) over the
 * context, the user's `nameKey` and both public keys; each 5-byte chunk read as a big-endian
 * number mod 100000 (as Signal does; the bias of 2^40 mod 10^5 is negligible).
 */
function halfDigits(userName: string, sign: Uint8Array, box: Uint8Array): string[] {
  const digest = sodium.crypto_generichash(HALF_BYTES, domainMessage(CONTEXT.safetyNumber, utf8Bytes(nameKey(userName)), sign, box), null);
  const groups: string[] = [];
  for (let offset = 0; offset < HALF_BYTES; offset += CHUNK_BYTES) {
    let value = 0;
    for (let i = 0; i < CHUNK_BYTES; i++) value = value * 256 + digest[offset + i];
    groups.push(String(value % 100_000).padStart(5, '0'));
  }
  return groups;
}

/**
 * The safety number two users compare aloud (`/verify`): 60 digits as 12 groups of 5, separated
 * by spaces. Each user contributes 6 groups computed from that user's own name and keys, and the
 * halves are ordered by `nameKey`, so both sides see the same number. Because each half depends
 * on one user only, a relay that swaps keys must match the victim's half exactly (a second
 * preimage of about 2^99 work), not merely find any collision.
 * Both bundles are verified first: throws `E_BAD_KEYS` for a bad bundle, `E_SELF` for one user twice.
 */
export async function safetyNumber(userA: string, bundleA: PublicKeyBundle, userB: string, bundleB: PublicKeyBundle): Promise<string> {
  await sodium.ready;
  if (nameKey(userA) === nameKey(userB)) throw new ChatError('E_SELF', 'a safety number needs two different users');
  const a = await verifyPublicBundle(userA, bundleA);
  const b = await verifyPublicBundle(userB, bundleB);
  const halfA = halfDigits(userA, a.sign, a.box);
  const halfB = halfDigits(userB, b.sign, b.box);
  const ordered = nameKey(userA) < nameKey(userB) ? [...halfA, ...halfB] : [...halfB, ...halfA];
  return ordered.join(' ');
}

/**
 * A short fingerprint of one bundle's keys for display and logs: BLAKE2b-128 over the context and
 * both public keys, the first 8 bytes as 16 hex digits in groups of 4 (e.g. `3f2a 9c01 77de 0b45`).
 * It names a key; it is too short to verify one (use `safetyNumber` for that). It does not check
 * the signature; throws `E_BAD_KEYS` if a key is not 32 bytes of canonical base64.
 */
export async function keyFingerprint(bundle: Pick<PublicKeyBundle, 'sign' | 'box'>): Promise<string> {
  await sodium.ready;
  const sign = fromBase64Strict(bundle.sign, PUBLIC_KEY_BYTES);
  const box = fromBase64Strict(bundle.box, PUBLIC_KEY_BYTES);
  if (!sign || !box) throw new ChatError('E_BAD_KEYS', 'the public key bundle has bad base64');
  const digest = sodium.crypto_generichash(DIGEST_MIN_BYTES, domainMessage(CONTEXT.fingerprint, sign, box), null);
  return sodium.to_hex(digest.subarray(0, FINGERPRINT_BYTES)).match(/.{4}/g)!.join(' ');
}
