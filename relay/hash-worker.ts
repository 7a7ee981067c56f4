/**
 * Worker thread of the PasswordHasher pool (relay/passwords.ts): argon2id through
 * `@node-rs/argon2` (native, prebuilt), one job at a time, synchronously on this thread, so
 * hashing never stalls the relay's event loop and never occupies libuv's threadpool (which
 * LevelDB and file I/O need).
 *
 * Hashes are PHC strings, `$argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt>$<hash>`, the same
 * format and parameter order as libsodium's crypto_pwhash_str, which made every hash stored
 * before this engine: each engine verifies the other's strings (test/unit/relay/passwords.test.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Algorithm, Version, hashSync, verifySync } from '@node-rs/argon2';
import { answerHashJob, type HashJob, type HashWorkerData } from './hash-jobs.js';
import { lowerThisThreadPriority } from './thread-priority.js';

const port = parentPort;
if (port === null) throw new Error('hash-worker.js runs only as a worker thread');

// A burst of logins (each hash takes a core for ~40 ms) delays chat by less at a lower priority.
lowerThisThreadPriority();

const { opsLimit, memLimitBytes } = workerData as HashWorkerData;
const hashOptions = {
  algorithm: Algorithm.Argon2id,
  version: Version.V0x13,
  timeCost: opsLimit,
  memoryCost: Math.floor(memLimitBytes / 1024),
  parallelism: 1,
  outputLen: 32,
} as const;

/**
 * The password's bytes as libsodium-wrappers took them (TextEncoder: UTF-8, a lone surrogate
 * becoming U+FFFD), so every password keeps matching the hash it made before.
 */
const passwordBytes = (password: string): Buffer => Buffer.from(password, 'utf8');

function run(job: HashJob): string | boolean {
  if (job.op === 'hash') return hashSync(passwordBytes(job.password), hashOptions);
  // The parameters come from the stored string. A malformed one is a failed verification, not a crash.
  try {
    return verifySync(job.hash, passwordBytes(job.password));
  } catch {
    return false;
  }
}

port.on('message', (job: HashJob) => port.postMessage(answerHashJob(job, run)));
