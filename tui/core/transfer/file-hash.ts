import { type Hash, createHash } from 'node:crypto';
import type { HashAlgorithm } from './file-worker-protocol.js';

/**
 * The whole-file hash of a peer-to-peer transfer, in one place: the sender hashes what it sends
 * (sessions.ts), the receiver's file worker what it writes (file-worker.ts), and the schemas
 * and the journal accept only its hex (wire.ts, journal.ts, folders.ts).
 *
 * SHA-256 from node:crypto (OpenSSL). Issue 15 measured it on the 2-core bench machine, whose
 * CPU has the SHA extensions: ~0.7 ms of CPU per MiB, against ~1.9 for node's BLAKE2b-512 (the
 * receiver's hash before) and ~1.5 for hash-wasm's BLAKE2b (the sender's): ~2 s of CPU less per
 * GB across both ends, on a path whose CPU is the plain TLS stream's plus the hashing.
 * magic-wormhole checks its files with SHA-256 too. Room files stored on the relay keep their
 * own BLAKE2b-512 (shared/messages.ts), and the safety number its BLAKE2b: neither is this hash.
 */
export const FILE_HASH_NAME = 'SHA-256';

/** A whole-file hash as it travels and is journalled: 64 lower-case hex characters. */
export const FILE_HASH_HEX = /^[0-9a-f]{64}$/;

/** Its node:crypto name (`hashFile` takes it). */
export const FILE_HASH_ALGORITHM: HashAlgorithm = 'sha256';

/** A fresh whole-file hash (node:crypto hashes are single use); `digest('hex')` gives the form above. */
export function newFileHash(): Hash {
  return createHash(FILE_HASH_ALGORITHM);
}
