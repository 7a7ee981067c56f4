/**
 * The relay's previous hash engine, kept for the login bench only: argon2id through
 * libsodium-wrappers-sumo (`crypto_pwhash_str`, its wasm build) in a PasswordHasher worker,
 * reniced like the real one, so `login` can measure it against relay/hash-worker.ts in the
 * same run at the same parameters. Not used by the relay.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sodium from 'libsodium-wrappers-sumo';
import { answerHashJob, type HashJob, type HashReply, type HashWorkerData } from '../../relay/hash-jobs.js';
import { lowerThisThreadPriority } from '../../relay/thread-priority.js';

const port = parentPort;
if (port === null) throw new Error('libsodium-hash-worker.js runs only as a worker thread');
lowerThisThreadPriority();
const { opsLimit, memLimitBytes } = workerData as HashWorkerData;
const ready = sodium.ready;

function run(job: HashJob): string | boolean {
  if (job.op === 'hash') return sodium.crypto_pwhash_str(job.password, opsLimit, memLimitBytes);
  try {
    return sodium.crypto_pwhash_str_verify(job.hash, job.password);
  } catch {
    return false;
  }
}

port.on('message', (job: HashJob) => {
  ready.then(
    () => port.postMessage(answerHashJob(job, run)),
    (error: unknown) => port.postMessage({ id: job.id, ok: false, message: `libsodium failed to load: ${String(error)}` } satisfies HashReply),
  );
});
