/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, or `npm run bench -- --profile-relay DIR`)
 * as text: the functions with the most self time, and the self time per source file.
 *
 *   node dist/bench/profile-summary.js DIR/CPU.….cpuprofile [--top 30] [--window FROM_US-TO_US]
 *
 * --window keeps only the samples of a measured window (fanout prints each as "window …").
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileLine {
  name: string;
  selfMs: number;
  share: number;
}

/**
 * Self time per function and per file, in ms, largest first (samples weighted by their time
 * deltas). With `fromUs`/`toUs` (the profile's clock: µs on the same monotonic clock as
 * `process.hrtime`, which the bench prints as each measured window), only samples inside count.
 */
export function summarizeProfile(profile: Profile, fromUs = -Infinity, toUs = Infinity): { totalMs: number; functions: ProfileLine[]; files: ProfileLine[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    // A sample's time is the delta to the next sample.
    const us = deltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + us);
  }
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url ? url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/') : '(native)';
    const fn = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    files.set(file, (files.get(file) ?? 0) + us);
    total += us;
  }
  const lines = (m: Map<string, number>) =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, selfMs: us / 1000, share: total > 0 ? us / total : 0 }));
  return { totalMs: total / 1000, functions: lines(functions), files: lines(files) };
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) || 30 : 30;
  const windowIndex = process.argv.indexOf('--window');
  const [fromUs, toUs] = windowIndex > 0 ? process.argv[windowIndex + 1].split('-').map(Number) : [-Infinity, Infinity];
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile, fromUs, toUs);
  const print = (title: string, rows: ProfileLine[]) => {
    process.stdout.write(`${title}\n`);
    for (const row of rows.slice(0, top)) process.stdout.write(`  ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.selfMs.toFixed(0).padStart(7)} ms  ${row.name}\n`);
  };
  process.stdout.write(`total sampled: ${summary.totalMs.toFixed(0)} ms\n`);
  print('self time by function:', summary.functions);
  print('self time by file:', summary.files);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
