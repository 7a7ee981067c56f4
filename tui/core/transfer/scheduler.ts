/**
 * Time, injected: the transfer state machine never calls the global timers itself, so its
 * tests drive a fake clock and check to the millisecond when each dial starts.
 */
export interface Scheduler {
  /** Milliseconds, monotonic enough for durations. */
  now(): number;
  /** Calls `callback` once after `delayMs` milliseconds; returns a handle for {@link Scheduler.cancel}. */
  schedule(callback: () => void, delayMs: number): unknown;
  cancel(handle: unknown): void;
}

/** The real clock: `performance.now()` and the global timers. */
export const systemScheduler: Scheduler = {
  now: () => performance.now(),
  schedule: (callback, delayMs) => setTimeout(callback, delayMs),
  cancel: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * A manual clock for tests: time moves only in {@link ManualScheduler.advance}, which runs
 * every due callback in time order (callbacks may schedule more).
 */
export class ManualScheduler implements Scheduler {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { atMs: number; callback: () => void }>();

  now(): number {
    return this.time;
  }

  schedule(callback: () => void, delayMs: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { atMs: this.time + Math.max(0, delayMs), callback });
    return id;
  }

  cancel(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order (ties in the order they were set). */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let dueId = -1;
      let dueAt = Infinity;
      for (const [id, timer] of this.timers) {
        if (timer.atMs <= end && (timer.atMs < dueAt || (timer.atMs === dueAt && id < dueId))) {
          dueId = id;
          dueAt = timer.atMs;
        }
      }
      if (dueId === -1) break;
      const timer = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.time = timer.atMs;
      timer.callback();
    }
    this.time = end;
  }
}
