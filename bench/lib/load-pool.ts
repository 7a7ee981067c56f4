/**
 * Splits one room load over `threads` worker threads (clients dealt round-robin), runs a plan
 * on all of them at once and merges what they measured.
 */
import { Worker } from 'node:worker_threads';
import { concatSamples } from './stats.js';
import type { ConnectResult, GroupSpec, RunPlan, RunResult } from './room-load.js';
import type { WorkerCommand } from './load-worker.js';

const WORKER_URL = new URL('./load-worker.js', import.meta.url);
const CLOSE_TIMEOUT_MS = 15_000;

export interface PoolRunResult extends Omit<RunResult, 'eventLoopUtilization'> {
  /** Per worker thread, 0..1. */
  eventLoopUtilization: number[];
}

/** One load worker thread: one command at a time, one answer each (also used by whisper-mesh's worker). */
export class WorkerHandle<Command = WorkerCommand> {
  private readonly worker: Worker;
  private waiting: { resolve(v: unknown): void; reject(e: Error): void } | undefined;
  private failure: Error | undefined;

  constructor(spec: unknown, url: URL = WORKER_URL) {
    this.worker = new Worker(url, { workerData: spec });
    this.worker.on('message', (message: { ok: boolean; value?: unknown; error?: string }) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      if (message.ok) waiting?.resolve(message.value);
      else waiting?.reject(new Error(`load worker: ${message.error}`));
    });
    const fail = (error: Error) => {
      this.failure = error;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.reject(error);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`load worker exited with code ${code}`)));
  }

  ask<T>(command: Command): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiting = { resolve: resolve as (v: unknown) => void, reject };
      this.worker.postMessage(command);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

export class LoadPool {
  private readonly workers: WorkerHandle[];

  /** `spec.indexes` lists every client; they are dealt to `threads` workers round-robin. */
  constructor(spec: GroupSpec, threads: number) {
    const count = Math.max(1, Math.min(threads, spec.indexes.length));
    const shares: number[][] = Array.from({ length: count }, () => []);
    spec.indexes.forEach((index, i) => shares[i % count].push(index));
    this.workers = shares.map((indexes) => new WorkerHandle({ ...spec, indexes }));
  }

  get threads(): number {
    return this.workers.length;
  }

  async connect(): Promise<ConnectResult> {
    const results = await Promise.all(this.workers.map((w) => w.ask<ConnectResult>({ cmd: 'connect' })));
    return {
      connected: results.reduce((a, r) => a + r.connected, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 3),
      millis: Math.max(...results.map((r) => r.millis)),
    };
  }

  async run(plan: RunPlan): Promise<PoolRunResult> {
    const results = await Promise.all(this.workers.map((w) => w.ask<RunResult>({ cmd: 'run', plan })));
    const sum = (pick: (r: RunResult) => number) => results.reduce((a, r) => a + pick(r), 0);
    return {
      expected: sum((r) => r.expected),
      received: sum((r) => r.received),
      missing: sum((r) => r.missing),
      duplicates: sum((r) => r.duplicates),
      outOfOrder: sum((r) => r.outOfOrder),
      sent: sum((r) => r.sent),
      acked: sum((r) => r.acked),
      sendErrors: sum((r) => r.sendErrors),
      errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 3),
      latencyUs: concatSamples(results.map((r) => r.latencyUs)),
      sentAtUs: concatSamples(results.map((r) => r.sentAtUs)),
      lagUs: concatSamples(results.map((r) => r.lagUs)),
      firstSendUs: Math.min(...results.map((r) => (r.sent > 0 ? r.firstSendUs : Infinity))),
      lastDeliveryUs: Math.max(...results.map((r) => r.lastDeliveryUs)),
      lastAckUs: Math.max(...results.map((r) => r.lastAckUs)),
      eventLoopUtilization: results.map((r) => r.eventLoopUtilization),
      timedOut: results.some((r) => r.timedOut),
    };
  }

  /** Closes every client and ends the threads (terminated if they do not finish in time). */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        const timer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
        try {
          await w.ask({ cmd: 'close' });
        } catch {
          // Already gone.
        } finally {
          clearTimeout(timer);
          await w.terminate();
        }
      }),
    );
  }
}
