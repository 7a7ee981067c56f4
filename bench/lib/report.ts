/**
 * What a scenario reports, and how it is printed: a readable table (absolute figure, the
 * baseline's figure from the same run, their ratio, the target and its verdict) followed by
 * one JSON line holding the same figures for scripts (`npm run bench | grep '^{'`).
 */
import { ratio } from './stats.js';

export interface Target {
  /** e.g. "≤ 1.5× baseline" */
  text: string;
  pass: boolean;
}

export interface Figure {
  /** Stable key for the JSON line, e.g. "p99Ms". */
  key: string;
  /** Human label, e.g. "latency p99". */
  label: string;
  unit: string;
  value: number;
  /** The same figure measured on the bare baseline in the same run. */
  baseline?: number;
  target?: Target;
}

export interface ScenarioReport {
  /** Scenario family: fanout, whisper, login, idle, codec, transfer. */
  bench: string;
  /** The case within it, e.g. "N=50 M=200 rate=1000/s". */
  case: string;
  figures: Figure[];
  /** Lines printed under the table: setup facts, warnings, what a figure includes. */
  notes: string[];
  /** Headers of the two value columns when they are not securechat vs the bare baseline (e.g. three relays vs one). */
  columns?: [string, string];
  /** Extra machine-readable facts for the JSON line. */
  extra?: Record<string, unknown>;
}

/** Target: the ratio value/baseline is at least `limit` (for rates, where more is better). */
export function ratioAtLeast(value: number, baseline: number, limit: number): Target {
  const r = ratio(value, baseline);
  return { text: `≥ ${limit}× baseline`, pass: Number.isFinite(r) && r >= limit };
}

/** Target: the ratio value/baseline is at most `limit`. */
export function ratioAtMost(value: number, baseline: number, limit: number): Target {
  const r = ratio(value, baseline);
  return { text: `≤ ${limit}× baseline`, pass: Number.isFinite(r) && r <= limit };
}

/** Target: the value is at most `limit` (in the figure's unit). */
export function valueAtMost(value: number, limit: number, unit: string, what = ''): Target {
  return { text: `≤ ${limit} ${unit}${what ? ' ' + what : ''}`, pass: Number.isFinite(value) && value <= limit };
}

/** Target: the value equals `wanted` exactly (counts). */
export function valueEquals(value: number, wanted: number, text: string): Target {
  return { text, pass: value === wanted };
}

/** A number for a table cell: 3 significant digits below 1000, thousands separators above. */
export function formatNumber(value: number | undefined): string {
  if (value === undefined) return '';
  if (Number.isNaN(value)) return 'n/a';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs === 0 || Number.isInteger(value)) return String(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

function formatRatio(value: number, baseline: number | undefined): string {
  if (baseline === undefined) return '';
  const r = ratio(value, baseline);
  return Number.isFinite(r) ? `${r.toFixed(2)}×` : 'n/a';
}

/** The table as text lines. */
export function formatTable(report: ScenarioReport): string[] {
  const header = ['figure', report.columns?.[0] ?? 'securechat', report.columns?.[1] ?? 'baseline', 'ratio', 'target'];
  const rows = report.figures.map((f) => [
    `${f.label}${f.unit ? ` (${f.unit})` : ''}`,
    formatNumber(f.value),
    formatNumber(f.baseline),
    formatRatio(f.value, f.baseline),
    f.target ? `${f.target.pass ? 'PASS' : 'MISS'} ${f.target.text}` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    '  ' + cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [
    `== ${report.bench}: ${report.case}`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...report.notes.map((n) => `  * ${n}`),
  ];
}

/** The one JSON line: every figure with its baseline, ratio and verdict. Non-finite numbers become null. */
export function formatJsonLine(report: ScenarioReport): string {
  const figures: Record<string, unknown> = {};
  for (const f of report.figures) {
    figures[f.key] = {
      value: finiteOrNull(f.value),
      unit: f.unit,
      ...(f.baseline !== undefined ? { baseline: finiteOrNull(f.baseline), ratio: finiteOrNull(ratio(f.value, f.baseline)) } : {}),
      ...(f.target ? { target: f.target.text, pass: f.target.pass } : {}),
    };
  }
  return JSON.stringify({ bench: report.bench, case: report.case, figures, ...(report.extra ? { extra: report.extra } : {}) });
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? Math.round(value * 1000) / 1000 : null;
}

/** Prints the table, then the JSON line. */
export function printReport(report: ScenarioReport, write: (line: string) => void = (l) => process.stdout.write(l + '\n')): void {
  for (const line of formatTable(report)) write(line);
  write(formatJsonLine(report));
  write('');
}
