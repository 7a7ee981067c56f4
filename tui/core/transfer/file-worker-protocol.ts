/** Messages between the transfer code and its file worker (file-worker.ts). */
export type WorkerRequest =
  /** Open (or create) the partial file; reply with how many bytes it already holds, after hashing them. */
  | { op: 'open'; path: string; maxBytes: number }
  /** The shared ring the `write` requests point into (sent once, before any write). */
  | { op: 'ring'; buffer: SharedArrayBuffer }
  /** Append `length` bytes found in the ring at `start` (wrapping around its end). */
  | { op: 'write'; start: number; length: number }
  /** fsync, then reply with the whole-file hash (file-hash.ts) of everything in the file, and close it. */
  | { op: 'finish' }
  | { op: 'close' }
  /** Hash bytes [start, end) of a file with `algorithm`. */
  | { op: 'hash'; path: string; start: number; end: number; algorithm: HashAlgorithm };

/**
 * The node:crypto hashes this client takes of whole files: a peer transfer's (file-hash.ts)
 * and a room file's, which the relay checks as BLAKE2b-512 (shared/messages.ts).
 */
export type HashAlgorithm = 'sha256' | 'blake2b512';

export type WorkerReply =
  | { op: 'opened'; offset: number }
  | { op: 'written'; offset: number }
  | { op: 'finished'; hash: string; offset: number }
  | { op: 'closed' }
  | { op: 'hashed'; hash: string }
  | { op: 'error'; code: 'E_NO_SPACE' | 'E_PATH_REFUSED' | 'E_INTERNAL'; message: string };
