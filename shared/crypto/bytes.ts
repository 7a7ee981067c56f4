/**
 * Byte helpers shared by the crypto modules: strict base64, length-prefixed fields for
 * signed/hashed messages, the context prefixes that give each purpose its own domain, and
 * random bytes from the OS.
 * No libsodium state (so they work before `sodium.ready`).
 */
import { getRandomValues } from 'node:crypto';

/**
 * `n` bytes from the operating system's CSPRNG (Node's `crypto.getRandomValues`, OpenSSL).
 * Used instead of libsodium.js's `randombytes_buf`, which draws the same kind of randomness
 * from JS four bytes at a time: 120-160 µs of CPU for a nonce or a scalar against 3-6 µs here,
 * measured on this machine; it was an eighth of a busy client's CPU (bench whisper-mesh).
 */
export function randomBytes(n: number): Uint8Array {
  return getRandomValues(new Uint8Array(n));
}

const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding (RFC 4648 section 4), the one encoding of every key and body. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes canonical standard base64 only: no whitespace, no URL-safe letters, padding required,
 * unused trailing bits zero (checked by re-encoding). Anything else returns `undefined`, so a
 * value from the network has exactly one accepted spelling.
 */
export function fromBase64Strict(text: unknown, expectedBytes?: number): Uint8Array | undefined {
  if (typeof text !== 'string' || !BASE64_PATTERN.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A field prefixed with its length as u16 big-endian, so concatenated fields never run together. */
export function lengthPrefixed(field: Uint8Array): Uint8Array {
  if (field.length > 0xffff) throw new RangeError('field longer than 65535 bytes');
  const out = new Uint8Array(2 + field.length);
  out[0] = field.length >> 8;
  out[1] = field.length & 0xff;
  out.set(field, 2);
  return out;
}

/**
 * The message a signature or hash covers: the context string, a zero byte, then each field
 * length-prefixed. Distinct contexts per purpose mean a signature or hash made for one purpose
 * can never be accepted for another.
 */
export function domainMessage(context: string, ...fields: Uint8Array[]): Uint8Array {
  return concatBytes(utf8Bytes(context), new Uint8Array([0]), ...fields.map(lengthPrefixed));
}
