/**
 * Progress arithmetic for one transfer: bytes, percent, speed over a trailing window, and time
 * left. Pure: the caller passes the time, so tests use a fake clock.
 */
export interface TransferProgress {
  /** Bytes acknowledged by the receiver (the sender's view) or written (the receiver's view). */
  bytes: number;
  /** File size in bytes. */
  totalBytes: number;
  /** 0-100, one decimal; 100 for an empty file. */
  percent: number;
  /** Bytes per second over the trailing window; 0 until two samples exist. */
  bytesPerSecond: number;
  /** Seconds left at the current speed; `null` while the speed is unknown or zero. */
  etaSeconds: number | null;
}

interface Sample {
  atMs: number;
  bytes: number;
}

export class ProgressMeter {
  private samples: Sample[] = [];
  private bytes = 0;

  /**
   * @param totalBytes file size in bytes
   * @param windowMs speed is averaged over this many trailing milliseconds
   */
  constructor(
    private readonly totalBytes: number,
    private readonly windowMs: number,
  ) {}

  /** Records the byte count at `nowMs`. Counts only grow; a smaller count (a resume) restarts the window. */
  update(bytes: number, nowMs: number): TransferProgress {
    if (bytes < this.bytes) this.samples = [];
    this.bytes = bytes;
    this.samples.push({ atMs: nowMs, bytes });
    // Keep one sample at or before the window start so the window is always fully covered.
    while (this.samples.length > 2 && this.samples[1].atMs <= nowMs - this.windowMs) this.samples.shift();
    return this.snapshot(nowMs);
  }

  /** A restart of the speed window (a new session after a break) without losing the byte count. */
  restart(bytes: number, nowMs: number): void {
    this.bytes = bytes;
    this.samples = [{ atMs: nowMs, bytes }];
  }

  snapshot(nowMs: number): TransferProgress {
    const total = this.totalBytes;
    const percent = total === 0 ? 100 : Math.floor((this.bytes / total) * 1000) / 10;
    let bytesPerSecond = 0;
    if (this.samples.length >= 2) {
      const first = this.samples[0];
      const elapsedMs = Math.max(nowMs, this.samples[this.samples.length - 1].atMs) - first.atMs;
      if (elapsedMs > 0) bytesPerSecond = Math.round(((this.bytes - first.bytes) * 1000) / elapsedMs);
    }
    const left = total - this.bytes;
    const etaSeconds = left === 0 ? 0 : bytesPerSecond > 0 ? Math.ceil(left / bytesPerSecond) : null;
    return { bytes: this.bytes, totalBytes: total, percent, bytesPerSecond, etaSeconds };
  }
}
