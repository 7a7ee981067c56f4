/**
 * fanout: N logged-in clients in one room, each sends M messages, at an aggregate rate or
 * flat out; every receiver records one-way latency (the send time is inside the message).
 * The same load then runs against the bare baseline, started in the same run.
 */
import { BENCH_PASSWORD } from './lib/clients.js';
import { BENCH_LIMITS, MiB, pickCases, sleep, type BenchContext, type Scenario } from './lib/context.js';
import { LoadPool, type PoolRunResult } from './lib/load-pool.js';
import { ProcessMeter } from './lib/proc.js';
import type { Target as LoadTarget } from './lib/clients.js';
import type { RelayChild } from './lib/relay-child.js';
import { ratioAtMost, type Figure, type ScenarioReport } from './lib/report.js';
import { percentile, summarize } from './lib/stats.js';
import { nowUs } from './lib/payload.js';
import { roomLoadPlan, type RoomLoad } from './lib/room-load.js';

export interface FanoutCase extends RoomLoad {
  /** The p99 target as a ratio to the baseline's p99 (rate cases). */
  p99RatioTarget?: number;
  /** The CPU-per-delivery target as a ratio to the baseline's (flat cases). */
  cpuRatioTarget?: number;
}

export const FULL_CASES: FanoutCase[] = [
  { clients: 50, messagesPerClient: 200, ratePerSecond: 1000, p99RatioTarget: 1.5 },
  { clients: 200, messagesPerClient: 50, ratePerSecond: 1000, p99RatioTarget: 1.0 },
  { clients: 50, messagesPerClient: 200, window: 4, cpuRatioTarget: 1.5 },
  { clients: 200, messagesPerClient: 50, window: 4, cpuRatioTarget: 1.5 },
];

export const QUICK_CASES: FanoutCase[] = [
  { clients: 4, messagesPerClient: 10, ratePerSecond: 200, p99RatioTarget: 1.5 },
  { clients: 4, messagesPerClient: 10, window: 4, cpuRatioTarget: 1.5 },
];

interface Measured {
  run: PoolRunResult;
  cpuSeconds: number;
  threadSeconds: Record<string, number>;
  peakRssBytes: number;
  connectMillis: number;
  dropped: string[];
  /** The relay's event-loop delay over the run, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

function caseName(c: FanoutCase): string {
  return `N=${c.clients} M=${c.messagesPerClient} ${c.ratePerSecond ? `at ${c.ratePerSecond} msg/s` : `flat out (window ${c.window})`}`;
}

/** Runs one case against one target (a fresh relay or baseline process). */
export function startTarget(ctx: BenchContext, target: LoadTarget): Promise<RelayChild> {
  return ctx.startRelay(target === 'relay' ? { kind: 'relay', hashing: 'cheap', limits: BENCH_LIMITS } : { kind: 'baseline' });
}

/** Runs one case against one freshly started relay or baseline process, and stops it. */
export async function measureFanout(ctx: BenchContext, target: LoadTarget, relay: RelayChild, c: FanoutCase, prefix: string): Promise<Measured> {
  const pool = new LoadPool(
    {
      target,
      port: relay.port,
      fingerprint: relay.fingerprint,
      clientDir: await ctx.makeDir('clients'),
      namePrefix: prefix,
      password: BENCH_PASSWORD,
      register: true,
      indexes: Array.from({ length: c.clients }, (_, i) => i),
      // Each load thread plays many users: the keys every user fetches of a room's members on joining
      // (a whisper's first contact, done ahead) would be many users' machines' work in one thread and
      // stall its deliveries; whisper-mesh measures that path, this scenario the room.
      clientOptions: { maxUnackedMessages: 100_000, keyPrefetchMaxUsers: 0 },
    },
    ctx.loadThreads,
  );
  try {
    const connected = await pool.connect();
    if (connected.failed > 0) throw new Error(`${connected.failed} of ${c.clients} clients failed to connect: ${connected.errorSamples.join('; ')}`);
    // Let the join announcements of the ramp-up drain before measuring.
    await sleep(ctx.quick ? 200 : 1000);
    await relay.resetLoopDelay();
    const meter = new ProcessMeter(relay.pid);
    meter.start();
    const windowStartUs = nowUs();
    const run = await pool.run(roomLoadPlan(c, ctx.quick));
    const usage = meter.stop();
    const loop = await relay.stats();
    ctx.progress(`fanout ${caseName(c)}: ${target} measured window ${Math.round(windowStartUs)}-${Math.round(nowUs())} µs (for profile-summary --window)`);
    return { run, cpuSeconds: usage.cpuSeconds, threadSeconds: usage.threadSeconds, peakRssBytes: usage.peakRssBytes, connectMillis: connected.millis, dropped: relay.droppedLines(), loopDelayP99Ms: loop.loopDelayP99Ms, loopDelayMaxMs: loop.loopDelayMaxMs };
  } finally {
    await pool.close();
    await relay.stop();
  }
}

function figuresOf(m: Measured) {
  const latency = summarize(m.run.latencyUs);
  const seconds = (m.run.lastDeliveryUs - m.run.firstSendUs) / 1e6;
  return {
    latency,
    deliveriesPerSecond: seconds > 0 ? m.run.received / seconds : Number.NaN,
    cpuMicrosPerDelivery: m.run.received > 0 ? (m.cpuSeconds * 1e6) / m.run.received : Number.NaN,
    lagP99Ms: m.run.lagUs.length > 0 ? percentile(m.run.lagUs, 99) / 1000 : Number.NaN,
    maxElu: Math.max(...m.run.eventLoopUtilization),
  };
}

export async function runFanoutCase(ctx: BenchContext, c: FanoutCase, tag: string): Promise<ScenarioReport> {
  // Both processes start together (the one waiting its turn is idle and costs nothing).
  const [baseRelay, realRelay] = await Promise.all([startTarget(ctx, 'baseline'), startTarget(ctx, 'relay')]);
  ctx.progress(`fanout ${caseName(c)}: baseline`);
  let base: Measured;
  try {
    base = await measureFanout(ctx, 'baseline', baseRelay, c, `b${tag}u`);
  } catch (error) {
    await realRelay.stop();
    throw error;
  }
  ctx.progress(`fanout ${caseName(c)}: relay`);
  const real = await measureFanout(ctx, 'relay', realRelay, c, `f${tag}u`);
  const r = figuresOf(real);
  const b = figuresOf(base);
  const ms = (us: number) => us / 1000;
  const lost = (m: Measured) => m.run.missing;
  const twice = (m: Measured) => m.run.duplicates + m.run.outOfOrder;

  const figures: Figure[] = [
    { key: 'expected', label: 'deliveries expected', unit: '', value: real.run.expected, baseline: base.run.expected },
    {
      key: 'received',
      label: 'deliveries received',
      unit: '',
      value: real.run.received,
      baseline: base.run.received,
      target: {
        text: '= expected; none lost, twice or reordered',
        pass: real.run.received === real.run.expected && lost(real) === 0 && twice(real) === 0,
      },
    },
    { key: 'lost', label: 'lost', unit: '', value: lost(real), baseline: lost(base) },
    { key: 'duplicatedOrReordered', label: 'duplicated or reordered', unit: '', value: twice(real), baseline: twice(base) },
    { key: 'deliveriesPerSecond', label: 'deliveries/s', unit: '/s', value: r.deliveriesPerSecond, baseline: b.deliveriesPerSecond },
    { key: 'p50Ms', label: 'latency p50', unit: 'ms', value: ms(r.latency.p50), baseline: ms(b.latency.p50) },
    { key: 'p90Ms', label: 'latency p90', unit: 'ms', value: ms(r.latency.p90), baseline: ms(b.latency.p90) },
    {
      key: 'p99Ms',
      label: 'latency p99',
      unit: 'ms',
      value: ms(r.latency.p99),
      baseline: ms(b.latency.p99),
      target: c.p99RatioTarget !== undefined ? ratioAtMost(r.latency.p99, b.latency.p99, c.p99RatioTarget) : undefined,
    },
    { key: 'maxMs', label: 'latency max', unit: 'ms', value: ms(r.latency.max), baseline: ms(b.latency.max) },
    {
      key: 'cpuUsPerDelivery',
      label: 'relay CPU per delivery',
      unit: 'µs',
      value: r.cpuMicrosPerDelivery,
      baseline: b.cpuMicrosPerDelivery,
      target: c.cpuRatioTarget !== undefined ? ratioAtMost(r.cpuMicrosPerDelivery, b.cpuMicrosPerDelivery, c.cpuRatioTarget) : undefined,
    },
    { key: 'relayCpuSeconds', label: 'relay CPU total', unit: 's', value: real.cpuSeconds, baseline: base.cpuSeconds },
    { key: 'peakRssMiB', label: 'relay peak RSS', unit: 'MiB', value: real.peakRssBytes / MiB, baseline: base.peakRssBytes / MiB },
    { key: 'loopDelayP99Ms', label: 'relay event-loop delay p99', unit: 'ms', value: real.loopDelayP99Ms, baseline: base.loopDelayP99Ms },
    { key: 'loopDelayMaxMs', label: 'relay event-loop delay max', unit: 'ms', value: real.loopDelayMaxMs, baseline: base.loopDelayMaxMs },
    { key: 'loadElu', label: 'load thread busy (max)', unit: '0..1', value: r.maxElu, baseline: b.maxElu },
  ];
  if (c.ratePerSecond) figures.push({ key: 'sendLagP99Ms', label: 'send lag behind schedule p99', unit: 'ms', value: r.lagP99Ms, baseline: b.lagP99Ms });

  const notes = [
    `${c.clients} clients in the global room from ${ctx.loadThreads} load thread(s); each message reaches the ${c.clients - 1} others; the sender gets an ack (baseline: its echo).`,
    'latency is one-way: send time inside the message to the receiver\'s event; CPU is the relay process\'s (all threads) from /proc over the run.',
  ];
  const threads = (m: Measured) =>
    Object.entries(m.threadSeconds)
      .sort((x, y) => y[1] - x[1])
      .map(([name, seconds]) => `${name} ${seconds.toFixed(2)}`)
      .join(', ');
  notes.push(`relay CPU s by thread: ${threads(real)}; baseline: ${threads(base)}.`);
  if (r.maxElu > 0.9 || b.maxElu > 0.9) notes.push('a load thread was busy > 90 % of the time: the figures include load-generator queueing.');
  for (const [who, m] of [['relay', real], ['baseline', base]] as const) {
    if (m.run.timedOut) notes.push(`${who}: the run hit its deadline before every delivery arrived.`);
    if (m.run.sendErrors > 0) notes.push(`${who}: ${m.run.sendErrors} sends failed (${m.run.errorSamples.join('; ')}).`);
    if (m.dropped.length > 0) notes.push(`${who}: ${m.dropped.length} connections dropped by the relay, e.g. ${m.dropped[0]}`);
  }
  return {
    bench: 'fanout',
    case: caseName(c),
    figures,
    notes,
    extra: { clients: c.clients, messagesPerClient: c.messagesPerClient, ratePerSecond: c.ratePerSecond ?? null, window: c.window ?? null, loadThreads: ctx.loadThreads },
  };
}

export const fanout: Scenario = {
  name: 'fanout',
  describe: 'N clients in one room send M messages each, at 1,000 msg/s and flat out; latency, deliveries, relay CPU and RSS',
  async run(ctx) {
    const cases = pickCases(ctx, ctx.quick ? QUICK_CASES : FULL_CASES, caseName);
    const reports: ScenarioReport[] = [];
    for (const [i, c] of cases.entries()) reports.push(await runFanoutCase(ctx, c, String(i)));
    return reports;
  },
};
