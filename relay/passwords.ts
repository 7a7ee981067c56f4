/**
 * argon2id password hashing (native `@node-rs/argon2`, see hash-worker.ts) in a small pool of
 * worker threads, so a burst of logins never stalls chat traffic on the event loop.
 *
 * Why a pool of our own, when the native library could run on libuv's threadpool: that pool
 * (4 threads) also does LevelDB's reads and writes and file I/O, and a login burst would fill
 * it with 40 ms hashes; its threads also cannot be reniced one by one. Our workers renice
 * themselves, and their number bounds how many hashes run at once (by default one core's
 * worth fewer than the machine has, so the event loop keeps a core in a burst).
 *
 * Jobs wait in one bounded queue; each worker takes one job at a time. A worker that dies
 * fails only the job it was running and is replaced on demand. Idle workers are unref'd so
 * they never keep a finished process alive.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ChatError } from '../shared/errors.js';
import type { HashJob, HashReply, HashWorkerData } from './hash-jobs.js';

/**
 * libsodium's crypto_pwhash_OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE: argon2id t=2,
 * m=64 MiB, p=1 (~40 ms of CPU per hash natively here; 150 ms in libsodium's wasm build).
 * Above OWASP's argon2id floor (m=19 MiB, t=2, p=1); every stored hash carries its own.
 */
export const ARGON2_INTERACTIVE = { opsLimit: 2, memLimitBytes: 64 * 1024 * 1024 } as const;
/** libsodium's crypto_pwhash_OPSLIMIT_MIN / MEMLIMIT_MIN: for tests only, never for real passwords. */
export const ARGON2_MIN = { opsLimit: 1, memLimitBytes: 8192 } as const;

export interface PasswordHasherOptions {
  /** Worker threads; default max(1, min(4, availableParallelism() - 1)). */
  workers?: number;
  /** argon2id passes; default ARGON2_INTERACTIVE.opsLimit. */
  opsLimit?: number;
  /** argon2id memory in bytes; default ARGON2_INTERACTIVE.memLimitBytes. */
  memLimitBytes?: number;
  /** Jobs allowed to wait for a worker; more are refused with E_RATE. Default 1000. */
  maxQueuedJobs?: number;
  /**
   * The worker script (speaking HashJob/HashReply). Default: hash-worker.js. Benchmarks pass
   * the previous libsodium engine (bench/lib/libsodium-hash-worker.ts) to compare against it.
   */
  workerUrl?: URL;
}

type Request = { op: 'hash'; password: string } | { op: 'verify'; hash: string; password: string };

interface Job {
  id: number;
  request: Request;
  resolve: (value: string | boolean) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  gone: boolean;
}

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

export class PasswordHasher {
  private readonly maxWorkers: number;
  private readonly maxQueuedJobs: number;
  private readonly workerData: HashWorkerData;
  private readonly workerUrl: URL;
  private readonly slots: Slot[] = [];
  private queue: Job[] = [];
  private nextJobId = 1;
  private closed = false;
  private dummyHash: Promise<string> | undefined;

  constructor(opts: PasswordHasherOptions = {}) {
    this.maxWorkers = Math.max(1, Math.floor(opts.workers ?? Math.min(4, availableParallelism() - 1)));
    this.maxQueuedJobs = Math.max(0, Math.floor(opts.maxQueuedJobs ?? 1000));
    this.workerData = {
      opsLimit: opts.opsLimit ?? ARGON2_INTERACTIVE.opsLimit,
      memLimitBytes: opts.memLimitBytes ?? ARGON2_INTERACTIVE.memLimitBytes,
    };
    this.workerUrl = opts.workerUrl ?? WORKER_URL;
  }

  /** argon2id hash string of `password` (salt and parameters inside, `$argon2id$v=19$...`). */
  async hash(password: string): Promise<string> {
    return (await this.submit({ op: 'hash', password: String(password) })) as string;
  }

  /** True when `password` matches `hash`; false for a wrong password or a malformed hash. */
  async verify(hash: string, password: string): Promise<boolean> {
    return (await this.submit({ op: 'verify', hash: String(hash), password: String(password) })) === true;
  }

  /** Verify against a fixed dummy hash so unknown users cost the same time as wrong passwords. */
  async verifyDummy(password: string): Promise<false> {
    const pending = (this.dummyHash ??= this.hash(randomBytes(24).toString('base64')));
    pending.catch(() => {
      if (this.dummyHash === pending) this.dummyHash = undefined;
    });
    await this.verify(await pending, password);
    return false;
  }

  /** Workers running, busy and jobs waiting (for logs and benchmarks). */
  stats(): { workers: number; busy: number; queued: number } {
    return { workers: this.slots.length, busy: this.slots.filter((s) => s.job !== undefined).length, queued: this.queue.length };
  }

  /** Fail waiting and running jobs with E_SHUTDOWN and terminate the workers. */
  async close(): Promise<void> {
    this.closed = true;
    const waiting = this.queue;
    this.queue = [];
    for (const job of waiting) job.reject(new ChatError('E_SHUTDOWN', 'the password hasher is closed'));
    const slots = this.slots.splice(0);
    await Promise.all(
      slots.map(async (slot) => {
        slot.gone = true;
        slot.job?.reject(new ChatError('E_SHUTDOWN', 'the password hasher is closed'));
        slot.job = undefined;
        await slot.worker.terminate();
      }),
    );
  }

  private submit(request: Request): Promise<string | boolean> {
    if (this.closed) return Promise.reject(new ChatError('E_SHUTDOWN', 'the password hasher is closed'));
    if (this.queue.length >= this.maxQueuedJobs && this.idleSlot() === undefined && this.slots.length >= this.maxWorkers) {
      return Promise.reject(new ChatError('E_RATE', 'too many password checks are waiting; try again shortly'));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextJobId++, request, resolve, reject });
      this.dispatch();
    });
  }

  private idleSlot(): Slot | undefined {
    return this.slots.find((slot) => slot.job === undefined);
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.idleSlot();
      if (slot === undefined) {
        if (this.slots.length >= this.maxWorkers) return;
        slot = this.spawn();
      }
      const job = this.queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, ...job.request } satisfies HashJob);
    }
  }

  private spawn(): Slot {
    const worker = new Worker(this.workerUrl, { workerData: this.workerData });
    const slot: Slot = { worker, job: undefined, gone: false };
    worker.on('message', (reply: HashReply) => this.onReply(slot, reply));
    worker.on('error', (error) => this.onWorkerGone(slot, error));
    worker.on('exit', (code) => this.onWorkerGone(slot, new Error(`exited with code ${code}`)));
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: HashReply): void {
    const job = slot.job;
    if (job === undefined || job.id !== reply.id) return;
    slot.job = undefined;
    slot.worker.unref();
    if (reply.ok) job.resolve(reply.value);
    else job.reject(new ChatError('E_INTERNAL', `password hashing failed: ${reply.message}`));
    this.dispatch();
  }

  private onWorkerGone(slot: Slot, error: Error): void {
    if (slot.gone) return;
    slot.gone = true;
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
    const job = slot.job;
    slot.job = undefined;
    job?.reject(new ChatError('E_INTERNAL', `password hashing worker failed: ${error.message}`));
    void slot.worker.terminate().catch(() => undefined);
    // A replacement is spawned on demand by dispatch() when jobs are waiting.
    this.dispatch();
  }
}
