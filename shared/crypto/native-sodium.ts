/**
 * The session code's hot primitives in native libsodium (`sodium-native`, prebuilt binaries of
 * the C library), behind one module: X25519, Ed25519 sign / verify and the point check,
 * XChaCha20-Poly1305-IETF, random bytes, padding (not its removal). The same libsodium
 * constructions as libsodium.js's WebAssembly build, so every byte is the same (the fixed-key
 * unit tests are the proof); only the speed differs. Measured on this 2-core VM (µs per call,
 * wasm → native): X25519 145-246 → 55-78, Ed25519 verify 202-217 → 58-104, sign 88-92 → 33-36,
 * Ed25519 point check 175 → 84, XChaCha20-Poly1305 of 256 bytes 9.2 → 3.7, padding 4.3-4.8 →
 * 1.4-2.2. A whisper that is a reply is a DH ratchet step (three X25519) on each side, and a
 * first contact an X3DH and signature checks on both: docs/crypto.md "Primitives" and "Bench
 * figures". Not HMAC-SHA-256: sodium-native has no `crypto_auth_hmacsha256`, and RFC 2104
 * written over its SHA-256 took 4-5 µs a call against 2-3.5 for libsodium.js's (hkdf.ts keeps it).
 *
 * Why no libsodium.js-style `ready`: the native library is initialised when it is loaded.
 * sodium-native works in place (output buffers passed in), so each function here allocates its
 * output and returns it, as the rest of shared/crypto expects.
 */
import { createRequire } from 'node:module';

/** The part of sodium-native's API this module uses (the package ships no types). */
interface SodiumNative {
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  crypto_sign_detached(sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void;
  crypto_sign_verify_detached(sig: Uint8Array, m: Uint8Array, pk: Uint8Array): boolean;
  crypto_core_ed25519_is_valid_point(p: Uint8Array): boolean;
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
  randombytes_buf(buffer: Uint8Array): void;
  sodium_memzero(buffer: Uint8Array): void;
  sodium_pad(buffer: Uint8Array, unpaddedLength: number, blockSize: number): number;
}

const native = createRequire(import.meta.url)('sodium-native') as SodiumNative;

export const X25519_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const AEAD_TAG_BYTES = 16;

/** `n` bytes from libsodium's CSPRNG (the OS's getrandom). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (n > 0) native.randombytes_buf(out);
  return out;
}

/** X25519(scalar, point); throws on an all-zero result (a point of small order), as libsodium.js. */
export function scalarmult(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(X25519_BYTES);
  native.crypto_scalarmult(out, privateKey, publicKey);
  return out;
}

/** X25519(scalar, base point): the public key of `privateKey`. */
export function scalarmultBase(privateKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(X25519_BYTES);
  native.crypto_scalarmult_base(out, privateKey);
  return out;
}

/** Ed25519 detached signature with libsodium's 64-byte secret key (seed || public key). */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIGNATURE_BYTES);
  native.crypto_sign_detached(out, message, secretKey);
  return out;
}

/** Ed25519 verification; false (never a throw) for a signature or key of the wrong length. */
export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== 32) return false;
  return native.crypto_sign_verify_detached(signature, message, publicKey);
}

/** `crypto_core_ed25519_is_valid_point`: on the curve, main subgroup, not of small order. */
export function isValidEd25519Point(publicKey: Uint8Array): boolean {
  return publicKey.length === 32 && native.crypto_core_ed25519_is_valid_point(publicKey);
}

/** XChaCha20-Poly1305-IETF: ciphertext || 16-byte tag. */
export function aeadEncrypt(plaintext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + AEAD_TAG_BYTES);
  native.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce, key);
  return out;
}

/** The plaintext, or a throw when the ciphertext does not authenticate (or is shorter than a tag). */
export function aeadDecrypt(ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array {
  if (ciphertext.length < AEAD_TAG_BYTES) throw new Error('ciphertext shorter than its tag');
  const out = new Uint8Array(ciphertext.length - AEAD_TAG_BYTES);
  native.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce, key);
  return out;
}

/**
 * `sodium_pad` (ISO/IEC 7816-4) into a new buffer: always at least one byte of padding. (Not
 * `sodium_unpad`: sodium-native 5.1.0's binding returned 255 for a block of zeros, where
 * libsodium refuses it; removing padding stays with libsodium.js.)
 */
export function pad(data: Uint8Array, blockSize: number): Uint8Array {
  const out = new Uint8Array((Math.floor(data.length / blockSize) + 1) * blockSize);
  out.set(data);
  const length = native.sodium_pad(out, data.length, blockSize);
  return length === out.length ? out : out.subarray(0, length);
}

/** `sodium_memzero`. */
export function memzero(bytes: Uint8Array): void {
  if (bytes.length > 0) native.sodium_memzero(bytes);
}
