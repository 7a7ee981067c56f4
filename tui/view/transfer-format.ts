/**
 * How file transfers read on screen: sizes, speeds, time left, one-line summaries. Pure.
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

/** The first characters of a transfer id, enough to type it (commands take a prefix of 4+). */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** A running transfer as the status bar shows it. */
export interface TransferLine {
  id: string;
  direction: 'out' | 'in';
  peer: string;
  name: string;
  state: string;
  path: string | null;
  percent: number;
  speedBps: number;
  etaSec: number | null;
}

/** `↑ big.bin 45% 12.3 MB/s 8s relay`, or the state while nothing moves yet. */
export function formatTransferLine(t: TransferLine): string {
  const arrow = t.direction === 'out' ? '↑' : '↓';
  if (t.state !== 'transferring' && t.state !== 'verifying') return `${arrow} ${t.name} ${t.state}`;
  const path = t.path !== null ? ` ${t.path}` : '';
  return `${arrow} ${t.name} ${t.percent.toFixed(0)}% ${formatSpeed(t.speedBps)} ${formatEta(t.etaSec)}${path}`;
}
