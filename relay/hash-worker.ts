/**
 * Worker thread of the PasswordHasher pool (relay/passwords.ts): argon2id through libsodium,
 * loaded once per worker, one job at a time, so hashing never stalls the relay's event loop.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import sodium from 'libsodium-wrappers-sumo';

export type HashJob =
  | { id: number; op: 'hash'; password: string }
  | { id: number; op: 'verify'; hash: string; password: string };

export type HashReply = { id: number; ok: true; value: string | boolean } | { id: number; ok: false; message: string };

export interface HashWorkerData {
  /** argon2id passes (libsodium opslimit). */
  opsLimit: number;
  /** argon2id memory, bytes (libsodium memlimit). */
  memLimitBytes: number;
}

const port = parentPort;
if (port === null) throw new Error('hash-worker.js runs only as a worker thread');

/**
 * Hashing yields to the event loop: this thread runs at a lower scheduling priority, so on a
 * small machine a burst of logins (argon2id is meant to take a core for ~0.1 s each) delays
 * chat by less. Linux lets a thread renice itself by its thread id (/proc/thread-self names
 * it); raising a nice value needs no privilege. Elsewhere it stays at normal priority.
 */
export const HASH_THREAD_NICE = 10;
try {
  const threadId = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
  if (Number.isInteger(threadId) && threadId > 0) setPriority(threadId, HASH_THREAD_NICE);
} catch {
  // not Linux, or not allowed: normal priority
}
const { opsLimit, memLimitBytes } = workerData as HashWorkerData;
const ready = sodium.ready;

function run(job: HashJob): string | boolean {
  if (job.op === 'hash') return sodium.crypto_pwhash_str(job.password, opsLimit, memLimitBytes);
  // A malformed stored hash is a failed verification, not a crash.
  try {
    return sodium.crypto_pwhash_str_verify(job.hash, job.password);
  } catch {
    return false;
  }
}

port.on('message', (job: HashJob) => {
  ready.then(
    () => {
      let reply: HashReply;
      try {
        reply = { id: job.id, ok: true, value: run(job) };
      } catch (error) {
        reply = { id: job.id, ok: false, message: error instanceof Error ? error.message : String(error) };
      }
      port.postMessage(reply);
    },
    (error: unknown) => port.postMessage({ id: job.id, ok: false, message: `libsodium failed to load: ${String(error)}` } satisfies HashReply),
  );
});
