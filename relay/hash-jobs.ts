/**
 * What the PasswordHasher (passwords.ts) and its worker threads say to each other, and how a
 * worker answers one job. Shared by the relay's worker (hash-worker.ts) and the bench's older
 * engine (bench/lib/libsodium-hash-worker.ts), so both answer alike.
 */
export type HashJob =
  | { id: number; op: 'hash'; password: string }
  | { id: number; op: 'verify'; hash: string; password: string };

export type HashReply = { id: number; ok: true; value: string | boolean } | { id: number; ok: false; message: string };

export interface HashWorkerData {
  /** argon2id passes (t; libsodium's opslimit). */
  opsLimit: number;
  /** argon2id memory, bytes (m × 1024; libsodium's memlimit). */
  memLimitBytes: number;
}

/** Runs one job and answers it: its value, or the error's message (one bad job never ends the worker). */
export function answerHashJob(job: HashJob, run: (job: HashJob) => string | boolean): HashReply {
  try {
    return { id: job.id, ok: true, value: run(job) };
  } catch (error) {
    return { id: job.id, ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}
