/** Messages between hashFile (file-sink.ts) and its worker thread (file-worker.ts). */
export type WorkerRequest =
  /** Hash bytes [start, end) of a file with `algorithm`. */
  { op: 'hash'; path: string; start: number; end: number; algorithm: HashAlgorithm };

/**
 * The node:crypto hashes this client takes of whole files: a peer transfer's (file-hash.ts)
 * and a room file's, which the relay checks as BLAKE2b-512 (shared/messages.ts).
 */
export type HashAlgorithm = 'sha256' | 'blake2b512';

export type WorkerReply =
  | { op: 'hashed'; hash: string }
  | { op: 'error'; code: 'E_NO_SPACE' | 'E_PATH_REFUSED' | 'E_INTERNAL'; message: string };

/** The code a failed file operation is reported with. */
export function fileErrorCode(error: unknown): 'E_NO_SPACE' | 'E_PATH_REFUSED' | 'E_INTERNAL' {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'E_NO_SPACE';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOENT' || code === 'EROFS') return 'E_PATH_REFUSED';
  return 'E_INTERNAL';
}
