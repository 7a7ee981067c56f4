/**
 * CPU and memory of another process, read from Linux /proc, so a figure is the relay's
 * alone (the load runs in the bench process). All threads count: LevelDB's and libuv's
 * thread pools and the argon2id workers are part of what the relay costs.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux architecture Node runs on. */
export const TICKS_PER_SECOND = 100;

/**
 * utime + stime of the whole process (all threads, live and exited), in clock ticks.
 * Parsed after the last ')' because the command name may contain spaces or parentheses.
 */
export function parseStatCpuTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the name start at field 3 (state); utime is field 14 and stime field 15.
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable /proc stat line');
  return utime + stime;
}

/** A `Vm...:   1234 kB` field of /proc/<pid>/status, in bytes (NaN when absent). */
export function parseStatusBytes(status: string, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** The thread name field of a /proc stat line (e.g. "node", "libuv-worker"). */
export function parseStatName(stat: string): string {
  return stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
}

/** CPU ticks of each live thread of a process, by thread id, with its name ("main" for the main thread). */
export function threadTicks(pid: number): Map<string, { name: string; ticks: number }> {
  const out = new Map<string, { name: string; ticks: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Node 20 leaves its helper threads named "node" like the main one: tell the main one apart.
      out.set(tid, { name: tid === String(pid) ? 'main' : `${parseStatName(stat)} helpers`, ticks: parseStatCpuTicks(stat) });
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** CPU seconds per thread name between two threadTicks() readings (the main thread is named after the process). */
export function threadSecondsByName(before: Map<string, { name: string; ticks: number }>, after: Map<string, { name: string; ticks: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, now] of after) {
    const delta = now.ticks - (before.get(tid)?.ticks ?? 0);
    if (delta > 0) out[now.name] = (out[now.name] ?? 0) + delta / TICKS_PER_SECOND;
  }
  return out;
}

export function cpuTicks(pid: number): number {
  return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

export function rssBytes(pid: number): number {
  return parseStatusBytes(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
}

export function peakRssBytes(pid: number): number {
  return parseStatusBytes(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmHWM');
}

/** Resets the kernel's peak-RSS mark (VmHWM) of a process we own; false where not allowed. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Watches one process during a phase: CPU ticks at start and stop, and the peak RSS (the
 * kernel's VmHWM after a reset, or else the largest of samples taken every `everyMs`).
 */
export class ProcessMeter {
  private startTicks = 0;
  private startThreads = new Map<string, { name: string; ticks: number }>();
  private startedAt = 0;
  private sampledPeak = 0;
  private hwmReset = false;
  private timer: NodeJS.Timeout | undefined;

  /** Last reading of every thread seen while sampling, so threads that ended still count (to their last sample). */
  private readonly lastThreads = new Map<string, { name: string; ticks: number }>();

  /** @param trackThreads read every thread's CPU at each sample (threads that end before stop() then still count) */
  constructor(readonly pid: number, private readonly everyMs = 100, private readonly trackThreads = false) {}

  start(): void {
    this.hwmReset = resetPeakRss(this.pid);
    this.sampledPeak = rssBytes(this.pid);
    this.startTicks = cpuTicks(this.pid);
    this.startThreads = threadTicks(this.pid);
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  /**
   * CPU seconds used since start() (whole process, and per thread name for threads alive at
   * the end), wall seconds, and peak RSS bytes.
   */
  stop(): { cpuTicks: number; cpuSeconds: number; wallSeconds: number; peakRssBytes: number; rssBytes: number; threadSeconds: Record<string, number> } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    const ticks = cpuTicks(this.pid) - this.startTicks;
    const threadSeconds = threadSecondsByName(this.startThreads, new Map([...this.lastThreads, ...threadTicks(this.pid)]));
    const hwm = this.hwmReset ? peakRssBytes(this.pid) : Number.NaN;
    return {
      cpuTicks: ticks,
      cpuSeconds: ticks / TICKS_PER_SECOND,
      wallSeconds: (performance.now() - this.startedAt) / 1000,
      peakRssBytes: Number.isFinite(hwm) ? Math.max(hwm, this.sampledPeak) : this.sampledPeak,
      rssBytes: rssBytes(this.pid),
      threadSeconds,
    };
  }

  private sample(): void {
    try {
      this.sampledPeak = Math.max(this.sampledPeak, rssBytes(this.pid));
      if (this.trackThreads) for (const [tid, now] of threadTicks(this.pid)) this.lastThreads.set(tid, now);
    } catch {
      // The process ended; stop() reports what was seen.
    }
  }
}
