/**
 * The audit log's write-behind queue, one for both stores (LevelStore, RedisStore): an event is
 * queued at once (never throwing, never waiting), the queue is written shortly after so that a
 * burst of logins becomes one write, it is bounded (the oldest events dropped, said once per
 * write), and it stops taking events when the store closes. What differs between the stores is
 * the writer's: how records are written, and what a failed write does (LevelDB reports it and
 * the records are lost; Redis keeps them for a later try, as an outage passes).
 */
import { AUDIT_FLUSH_DELAY_MS, AUDIT_QUEUE_MAX, auditRecord, reportSafely } from './store-common.js';
import type { AuditEvent, AuditRecord } from './store.js';

export interface AuditWriter {
  /**
   * Writes `records` in order and never rejects. Resolves with the records it could not write
   * and wants tried again (they go back ahead of newer events, tried after `retryDelayMs`);
   * [] when all were written, or when it reported the failure and gave them up.
   */
  write(records: AuditRecord[]): Promise<AuditRecord[]>;
  /** Wait after a write that left records, before the next try (a writer that never leaves any needs none). */
  retryDelayMs?: number;
  /** What could not keep up when events are dropped ('the disk', 'Redis'), for the report. */
  backend: string;
  /** Where failures go (background writes never reach callers). */
  onError: (error: unknown) => void;
  /** Clock for audit times, ms since the epoch. */
  now: () => number;
}

export class AuditQueue {
  private queue: AuditRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The write in flight; resolves true when it left records to try again. */
  private writing: Promise<boolean> | undefined;
  /** Events dropped because the queue was full (reported once per write). */
  private dropped = 0;
  /** Events are accepted until the store itself closes, so shutdown events are kept. */
  private accepting = true;

  constructor(private readonly writer: AuditWriter) {}

  /** Queues `event` with the current time (long fields clipped); never throws, never waits. */
  add(event: AuditEvent): void {
    try {
      if (!this.accepting) return;
      this.queue.push(auditRecord(event, this.writer.now()));
      this.trim();
      this.schedule(AUDIT_FLUSH_DELAY_MS);
    } catch (error) {
      reportSafely(this.writer.onError, error);
    }
  }

  /**
   * Writes every queued event now (after a write in flight), until none is left or a write
   * leaves records for a later try (a flush does not wait out an outage). Never throws.
   */
  async flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.writing !== undefined || this.queue.length > 0) {
      if (await (this.writing ?? this.write())) return;
    }
  }

  /** Flushes, then takes no more events. Resolves with the number of events left unwritten (now let go). */
  async close(): Promise<number> {
    await this.flush();
    this.accepting = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    const unwritten = this.queue.length;
    this.queue = [];
    return unwritten;
  }

  private trim(): void {
    const over = this.queue.length - AUDIT_QUEUE_MAX;
    if (over > 0) {
      this.queue.splice(0, over);
      this.dropped += over;
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer !== undefined || this.writing !== undefined || !this.accepting) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, delayMs);
    this.timer.unref();
  }

  private write(): Promise<boolean> {
    if (this.writing !== undefined) return this.writing;
    const records = this.queue;
    this.queue = [];
    if (this.dropped > 0) {
      reportSafely(this.writer.onError, new Error(`audit log: dropped ${this.dropped} events because ${this.writer.backend} could not keep up`));
      this.dropped = 0;
    }
    if (records.length === 0) return Promise.resolve(false);
    this.writing = this.writer
      .write(records)
      .catch((error: unknown) => {
        // A writer never rejects; should one, its records are given up as a failed LevelDB write's.
        reportSafely(this.writer.onError, error);
        return [];
      })
      .then((left) => {
        this.writing = undefined;
        // Kept ahead of newer events, still within the bound.
        if (left.length > 0) {
          this.queue = [...left, ...this.queue];
          this.trim();
        }
        if (this.queue.length > 0) this.schedule(left.length > 0 ? (this.writer.retryDelayMs ?? AUDIT_FLUSH_DELAY_MS) : AUDIT_FLUSH_DELAY_MS);
        return left.length > 0;
      });
    return this.writing;
  }
}
