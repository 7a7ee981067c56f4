/** Messages between the transfer code and its file worker (file-worker.ts). */
export type WorkerRequest =
  /** Open (or create) the partial file; reply with how many bytes it already holds, after hashing them. */
  | { op: 'open'; path: string; maxBytes: number }
  /** The shared ring the `write` requests point into (sent once, before any write). */
  | { op: 'ring'; buffer: SharedArrayBuffer }
  /** Append `length` bytes found in the ring at `start` (wrapping around its end). */
  | { op: 'write'; start: number; length: number }
  /** fsync, then reply with the BLAKE2b-512 of everything in the file, and close it. */
  | { op: 'finish' }
  | { op: 'close' }
  /** Hash bytes [start, end) of a file. */
  | { op: 'hash'; path: string; start: number; end: number };

export type WorkerReply =
  | { op: 'opened'; offset: number }
  | { op: 'written'; offset: number }
  | { op: 'finished'; hash: string; offset: number }
  | { op: 'closed' }
  | { op: 'hashed'; hash: string }
  | { op: 'error'; code: 'E_NO_SPACE' | 'E_PATH_REFUSED' | 'E_INTERNAL'; message: string };
