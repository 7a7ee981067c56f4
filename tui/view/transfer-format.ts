/**
 * How file transfers read on screen: sizes, speeds, time left, progress bars, one-line
 * summaries and the finished line. Pure (no clock, no model): everything comes in as numbers.
 */

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** Bytes in binary units with one decimal from KB up: `512 B`, `1.5 MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Bytes per second: `12.3 MB/s`, `-` while unknown. */
export function formatSpeed(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${formatBytes(bytesPerSecond)}/s` : '-';
}

/** Seconds left: `45s`, `3m05s`, `2h10m`, `?` while unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A time taken: `0.4s`, `12.0s`, then as {@link formatEta} (`3m05s`). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)}s` : formatEta(ms / 1000);
}

/**
 * How the bytes travel, in the words both ends use (the sender names the path and tells the
 * receiver in `go`, so the two agree): `lan` → `direct (LAN)`, `direct` → `direct`,
 * `relay` → `relay`; `-` before a connection won.
 */
export function formatPath(path: string | null | undefined): string {
  if (path === null || path === undefined) return '-';
  return path === 'lan' ? 'direct (LAN)' : path;
}

/** `[#######.........]` for a fraction 0..1 in `width` columns (brackets included, at least 3). */
export function progressBar(fraction: number, width: number): string {
  const inner = Math.max(1, Math.floor(width) - 2);
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.floor(f * inner);
  return `[${'#'.repeat(filled)}${'.'.repeat(inner - filled)}]`;
}

/** `took 1.2s, 2.5 MB/s average` (time taken and average speed of a finished transfer). */
export function formatTook(elapsedMs: number, avgBps: number): string {
  return `took ${formatDuration(elapsedMs)}, ${formatSpeed(avgBps)} average`;
}

/** `3.0 MB, took 1.2s, 2.5 MB/s average`: a finished transfer's size, time taken and average speed. */
export function formatFinished(sizeBytes: number, elapsedMs: number, avgBps?: number): string {
  const average = avgBps ?? (elapsedMs > 0 ? (sizeBytes * 1000) / elapsedMs : 0);
  return `${formatBytes(sizeBytes)}, ${formatTook(elapsedMs, average)}`;
}

/** The first characters of a transfer id, enough to type it (commands take a prefix of 4+). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A running transfer as the status bar and the transfers panel show it. */
export interface TransferLine {
  id: string;
  direction: 'out' | 'in';
  peer: string;
  name: string;
  state: string;
  path: string | null;
  percent: number;
  /** Bytes done and in all (0 while unknown). */
  bytes: number;
  total: number;
  speedBps: number;
  etaSec: number | null;
  /** One file of a folder transfer (its row goes under the folder's). */
  inFolder?: boolean;
}

/** `↑ big.bin 45% 12.3 MB/s 8s relay`, or the state while nothing moves yet. */
export function formatTransferLine(t: TransferLine): string {
  const arrow = t.direction === 'out' ? '↑' : '↓';
  if (t.state !== 'transferring' && t.state !== 'verifying') return `${arrow} ${t.name} ${t.state}`;
  const path = t.path !== null ? ` ${formatPath(t.path)}` : '';
  return `${arrow} ${t.name} ${t.percent.toFixed(0)}% ${formatSpeed(t.speedBps)} ${formatEta(t.etaSec)}${path}`;
}

/**
 * One row of the transfers panel, in two parts so the caller can cut the name to fit:
 * `head` = `↑ to bob: holiday.bin` (`  └ beach.jpg` for a folder's file), `tail` = ` [####......]  45%  1.4/3.0 MB  12.3 MB/s  ETA 8s  relay`
 * (before the bytes move: the state instead of the numbers).
 */
export function progressRow(t: TransferLine, barWidth: number): { head: string; tail: string } {
  const arrow = t.direction === 'out' ? `↑ to ${t.peer}` : `↓ from ${t.peer}`;
  const head = t.inFolder === true ? `  └ ${t.name}` : `${arrow}: ${t.name}`;
  const path = formatPath(t.path);
  if (t.state !== 'transferring' && t.state !== 'verifying') {
    return { head, tail: `  ${progressBar(t.percent / 100, barWidth)} ${t.state}${t.path !== null ? `  ${path}` : ''}` };
  }
  const amount = t.total > 0 ? `${formatBytes(t.bytes)}/${formatBytes(t.total)}` : formatBytes(t.bytes);
  const percent = `${t.percent.toFixed(0).padStart(3)}%`;
  const eta = t.state === 'verifying' ? 'verifying' : `ETA ${formatEta(t.etaSec)}`;
  return { head, tail: `  ${progressBar(t.percent / 100, barWidth)} ${percent}  ${amount}  ${formatSpeed(t.speedBps)}  ${eta}  ${path}` };
}
