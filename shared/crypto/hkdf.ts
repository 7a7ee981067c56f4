/**
 * HKDF (RFC 5869) with HMAC-SHA-256, and HMAC-SHA-256 itself, over libsodium's incremental
 * HMAC (`crypto_auth_hmacsha256_init/update/final`, which takes a key of any length).
 *
 * Why not libsodium's own `crypto_kdf_hkdf_sha256_*`: libsodium 1.0.22 has them, but the
 * `libsodium-wrappers-sumo` 0.8.4 build we use exports only their constants. This is the RFC's
 * construction written out (Extract, then Expand), checked against RFC 5869 Appendix A.
 * Callers must have awaited `sodium.ready` (every async entry point of shared/crypto does).
 */
import sodium from 'libsodium-wrappers-sumo';

/** SHA-256's output length, HashLen in RFC 5869. */
export const HASH_BYTES = 32;

/** HMAC-SHA-256(key, ...parts): the parts are concatenated. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const state = sodium.crypto_auth_hmacsha256_init(key);
  for (const part of parts) sodium.crypto_auth_hmacsha256_update(state, part);
  return sodium.crypto_auth_hmacsha256_final(state);
}

/** RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM); an absent salt is HashLen zero bytes. */
export function hkdfExtract(salt: Uint8Array | undefined, ikm: Uint8Array): Uint8Array {
  return hmacSha256(salt && salt.length > 0 ? salt : new Uint8Array(HASH_BYTES), ikm);
}

/** RFC 5869 §2.3: T(i) = HMAC-Hash(PRK, T(i-1) | info | i), OKM = first L bytes; L ≤ 255·HashLen. */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_BYTES) throw new RangeError('HKDF output length out of range');
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 1, offset = 0; offset < length; i++) {
    previous = hmacSha256(prk, previous, info, new Uint8Array([i]));
    out.set(previous.subarray(0, Math.min(HASH_BYTES, length - offset)), offset);
    offset += HASH_BYTES;
  }
  return out;
}

/** HKDF-SHA-256(salt, IKM, info, L) = Expand(Extract(salt, IKM), info, L). */
export function hkdf(salt: Uint8Array | undefined, ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdfExpand(hkdfExtract(salt, ikm), info, length);
}
