/**
 * idle: N logged-in clients that say nothing; what each costs the relay in resident memory.
 *
 * The relay's RSS is read after a full GC in the relay process (so garbage does not count)
 * before the clients connect and again once all N are logged in and settled; the difference
 * over N is the cost of one idle connection. The same N bare TLS connections to the baseline
 * give the floor (what TLS sockets cost in Node at all).
 *
 * Clients sit in chatrooms of ROOM_SIZE rather than all in the global room: N joins into one
 * room announce each arrival to everyone already there, N²/2 presence messages (12.5 million
 * at N = 5,000), which would measure the ramp-up, not idling.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BENCH_PASSWORD, createLoadClient, mapLimit, type LoadClient } from './lib/clients.js';
import { BENCH_LIMITS, KiB, MiB, pickCases, sleep, type BenchContext, type Scenario } from './lib/context.js';
import { peakRssBytes } from './lib/proc.js';
import type { Target as LoadTarget } from './lib/clients.js';
import { valueAtMost, type Figure, type ScenarioReport } from './lib/report.js';

const ROOM_SIZE = 50;
const CONNECT_CONCURRENCY = 100;
/** Clients that connect and leave before the first memory reading: the first logins start the hash worker, fill LevelDB's caches and warm the JIT, which would otherwise count as per-connection cost. */
const WARM_UP_CLIENTS = 50;
/** File descriptors needed per client beyond N (the relay and the bench each hold one per connection). */
const SPARE_FDS = 200;

/** The soft open-files limit of this process (the relay child inherits it). */
export function openFilesLimit(limits = readFileSync('/proc/self/limits', 'utf8')): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match) return Number.POSITIVE_INFINITY;
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

interface IdleMeasure {
  clients: number;
  connectSeconds: number;
  failed: number;
  failureSample: string;
  before: number;
  after: number;
  afterNoGc: number;
  heapBefore: number;
  heapAfter: number;
  peak: number;
  benchRssDelta: number;
}

/** A full GC in this process (the bench runs without --expose-gc; the flag can be set at run time). */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function measureIdle(ctx: BenchContext, target: LoadTarget, n: number, tag: string): Promise<IdleMeasure> {
  const relay = await ctx.startRelay(target === 'relay' ? { kind: 'relay', hashing: 'cheap', limits: BENCH_LIMITS } : { kind: 'baseline' });
  const clientDir = await ctx.makeDir('clients');
  const make = (name: string, i: number) =>
    createLoadClient({
      target,
      port: relay.port,
      fingerprint: relay.fingerprint,
      clientDir,
      name,
      password: BENCH_PASSWORD,
      register: true,
      room: target === 'relay' ? `idle${Math.floor(i / ROOM_SIZE)}` : undefined,
    });
  const clients: LoadClient[] = Array.from({ length: n }, (_, i) => make(`${tag}${i}`, i));
  const settleMs = ctx.quick ? 300 : 2_000;
  try {
    const warmUp = Array.from({ length: Math.min(WARM_UP_CLIENTS, n) }, (_, i) => make(`${tag}w${i}`, i));
    await mapLimit(warmUp, CONNECT_CONCURRENCY, (c) => c.connect());
    await mapLimit(warmUp, CONNECT_CONCURRENCY, (c) => c.close());
    await sleep(settleMs);
    const before = await relay.stats(true);
    collectGarbage();
    const benchBefore = process.memoryUsage().rss;
    const started = performance.now();
    const results = await mapLimit(clients, CONNECT_CONCURRENCY, (c) => c.connect());
    const connectSeconds = (performance.now() - started) / 1000;
    const failures = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    await sleep(settleMs);
    const afterNoGc = await relay.stats(false);
    const after = await relay.stats(true);
    collectGarbage();
    return {
      clients: n,
      connectSeconds,
      failed: failures.length,
      failureSample: failures[0] ? String((failures[0].reason as Error)?.message ?? failures[0].reason) : '',
      before: before.rssBytes,
      after: after.rssBytes,
      afterNoGc: afterNoGc.rssBytes,
      heapBefore: before.heapUsedBytes,
      heapAfter: after.heapUsedBytes,
      peak: peakRssBytes(relay.pid),
      benchRssDelta: process.memoryUsage().rss - benchBefore,
    };
  } finally {
    await mapLimit(clients, 500, (c) => c.close());
    await relay.stop();
  }
}

export async function runIdleCase(ctx: BenchContext, wanted: number, tag: string): Promise<ScenarioReport> {
  const limit = openFilesLimit();
  const n = Math.min(wanted, Math.max(10, Math.floor(limit - SPARE_FDS)));
  ctx.progress(`idle: ${n} clients, baseline`);
  const base = await measureIdle(ctx, 'baseline', n, `bi${tag}u`);
  ctx.progress(`idle: ${n} clients, relay`);
  const real = await measureIdle(ctx, 'relay', n, `i${tag}u`);
  const perConnection = (m: IdleMeasure, after = m.after) => (after - m.before) / Math.max(1, m.clients - m.failed);
  const realPer = perConnection(real) / KiB;
  const figures: Figure[] = [
    { key: 'connected', label: 'clients logged in and idle', unit: '', value: real.clients - real.failed, baseline: base.clients - base.failed },
    { key: 'connectSeconds', label: 'time to connect (and log in) all', unit: 's', value: real.connectSeconds, baseline: base.connectSeconds },
    {
      key: 'rssPerConnectionKiB',
      label: 'relay RSS per idle connection (after GC)',
      unit: 'KiB',
      value: realPer,
      baseline: perConnection(base) / KiB,
      target: wanted >= 5000 ? valueAtMost(realPer, 64, 'KiB') : undefined,
    },
    { key: 'rssPerConnectionNoGcKiB', label: 'relay RSS per idle connection (no GC)', unit: 'KiB', value: perConnection(real, real.afterNoGc) / KiB, baseline: perConnection(base, base.afterNoGc) / KiB },
    { key: 'heapPerConnectionKiB', label: 'relay JS heap per idle connection', unit: 'KiB', value: (real.heapAfter - real.heapBefore) / Math.max(1, real.clients) / KiB, baseline: (base.heapAfter - base.heapBefore) / Math.max(1, base.clients) / KiB },
    { key: 'rssMiB', label: 'relay RSS with all connected', unit: 'MiB', value: real.after / MiB, baseline: base.after / MiB },
    { key: 'peakRssMiB', label: 'relay peak RSS', unit: 'MiB', value: real.peak / MiB, baseline: base.peak / MiB },
    { key: 'clientSideKiB', label: 'bench process RSS per client (client side)', unit: 'KiB', value: real.benchRssDelta / Math.max(1, real.clients) / KiB, baseline: base.benchRssDelta / Math.max(1, base.clients) / KiB },
  ];
  const notes = [
    `relay clients registered (cheap argon2id: hashing is not measured here) and sit in chatrooms of ${ROOM_SIZE}; the baseline holds bare TLS connections.`,
    `memory is read after ${WARM_UP_CLIENTS} warm-up clients came and went (hash worker started, caches and JIT warm), then after all N settled; both after a full GC.`,
    `open-files limit ${limit}${n < wanted ? `: only ${n} of ${wanted} clients fit; raise it with \`ulimit -n ${wanted + SPARE_FDS * 5}\`` : ''}.`,
  ];
  if (real.failed > 0) notes.push(`relay: ${real.failed} clients failed to connect, e.g. ${real.failureSample}`);
  if (base.failed > 0) notes.push(`baseline: ${base.failed} connections failed, e.g. ${base.failureSample}`);
  return { bench: 'idle', case: `N=${n}${n < wanted ? ` (wanted ${wanted})` : ''}`, figures, notes, extra: { wanted, openFilesLimit: Number.isFinite(limit) ? limit : null } };
}

export const idle: Scenario = {
  name: 'idle',
  describe: 'N = 1,000 and 5,000 logged-in idle clients; relay RSS per connection',
  async run(ctx) {
    const sizes = pickCases(ctx, ctx.quick ? [20] : [1000, 5000], (n) => `N=${n}`);
    const reports: ScenarioReport[] = [];
    for (const [i, n] of sizes.entries()) reports.push(await runIdleCase(ctx, n, String(i)));
    return reports;
  },
};
