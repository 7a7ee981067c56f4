/**
 * cluster: the relay as several processes on one Redis (RedisStore + RedisBus) beside one
 * relay on its local backend (LevelDB, in-memory bus), under the fan-out scenario's load:
 * 60 members of the global room, spread evenly over the relays, every one a sender.
 *
 * 1. latency: 500 msg/s into the room, three relays on Redis vs one relay local;
 * 2. relay CPU per delivery at that load: one relay on Redis vs one relay local (the same
 *    process doing the same deliveries, only the backend differs), plus the three relays' sum;
 * 3. deliveries/s flat out with 1, 2 and 3 relays on Redis (and one relay local).
 *
 * Each measurement starts its own redis-server (relay/cluster/redis-process.ts, a free
 * loopback port, a temp folder) and its own relay processes, and stops them afterwards.
 * Skipped, with a line saying so, where redis-server is not installed.
 */
import { mkdir } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { redisServerAvailable, startRedis, type RedisProcess } from '../relay/cluster/redis-process.js';
import { BENCH_PASSWORD, mapLimit } from './lib/clients.js';
import { BENCH_LIMITS, MiB, sleep, type BenchContext, type Scenario } from './lib/context.js';
import { LoadPool, type PoolRunResult } from './lib/load-pool.js';
import { roomLoadPlan, type RoomLoad } from './lib/room-load.js';
import { ProcessMeter } from './lib/proc.js';
import type { RelayChild } from './lib/relay-child.js';
import type { Figure, ScenarioReport, Target } from './lib/report.js';
import { percentile, ratio, summarize } from './lib/stats.js';

type Backend = 'local' | 'redis';

interface Setup {
  backend: Backend;
  relays: number;
}

interface Sizes {
  rate: RoomLoad;
  flat: RoomLoad;
  /** Messages per member sent at the rate load's pace before the measured run (see measure). */
  warmUpPerClient: number;
}

const FULL: Sizes = {
  rate: { clients: 60, messagesPerClient: 80, ratePerSecond: 500 },
  flat: { clients: 60, messagesPerClient: 40, window: 4 },
  // 1,020 messages: two seconds at 500 msg/s.
  warmUpPerClient: 17,
};

const QUICK: Sizes = {
  rate: { clients: 6, messagesPerClient: 5, ratePerSecond: 100 },
  flat: { clients: 6, messagesPerClient: 5, window: 4 },
  warmUpPerClient: 2,
};

/**
 * Load threads in every setup: the same generator whether the room is on one relay or three
 * (with three relays, each thread holds the clients of one relay).
 */
const LOAD_THREADS = 3;

function loadThreads(ctx: BenchContext): number {
  // A smoke run's 6 clients need no more than one thread (and each costs a start-up).
  return ctx.quick ? 1 : Math.max(LOAD_THREADS, ctx.loadThreads);
}

const P99_TARGET = 2;
/**
 * The latency pair (three relays on Redis, one relay local) runs this many times, alternating,
 * and each setup is shown by its run with the median p99: one run on a shared 2-core machine
 * moves with whatever else ran in those ten seconds.
 */
const LATENCY_ROUNDS = 3;
const CPU_TARGET = 1.5;

interface Measured {
  setup: Setup;
  run: PoolRunResult;
  /** The warm-up run before `run` (paced loads only): freshly started relays, not measured. */
  warmUp?: PoolRunResult;
  /** CPU seconds of each relay process over the run (all threads). */
  relayCpuSeconds: number[];
  /** CPU seconds of redis-server over the run (0 for the local backend). */
  redisCpuSeconds: number;
  /** Largest peak RSS among the relays. */
  peakRssBytes: number;
  /** Worst event-loop delay p99 / max among the relays, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  dropped: string[];
  /** Load worker threads that ran the clients. */
  loadThreads: number;
}

function describeSetup(s: Setup): string {
  return s.backend === 'local' ? 'one relay, local backend' : `${s.relays} relay${s.relays > 1 ? 's' : ''} on Redis`;
}

function describeLoad(l: RoomLoad): string {
  return `${l.clients} members, ${l.messagesPerClient} messages each, ${l.ratePerSecond ? `${l.ratePerSecond} msg/s into the room` : `flat out (window ${l.window})`}`;
}

/** Starts the setup's processes, runs the load once, stops everything it started. */
async function measure(ctx: BenchContext, setup: Setup, load: RoomLoad, warmUpPerClient: number, tag: string): Promise<Measured> {
  const dir = await ctx.makeDir(`cluster-${tag}`);
  let redis: RedisProcess | undefined;
  const relays: RelayChild[] = [];
  let pool: LoadPool | undefined;
  let killRedisOnExit: (() => void) | undefined;
  try {
    if (setup.backend === 'redis') {
      redis = await startRedis(join(dir, 'redis'));
      // Should the bench exit without reaching `finally` (process.exit on a fatal error), take redis-server along.
      const pid = redis.pid;
      killRedisOnExit = () => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      };
      process.once('exit', killRedisOnExit);
    }
    // In a cluster every relay serves the same room files: one shared folder.
    const filesDir = join(dir, 'files');
    await mkdir(filesDir, { recursive: true });
    const started = await Promise.allSettled(
      Array.from({ length: setup.relays }, (_, i) =>
        ctx.startRelay({
          kind: 'relay',
          hashing: 'cheap',
          limits: BENCH_LIMITS,
          filesDir,
          ...(redis ? { cluster: { redisUrl: redis.url, relayId: `r${i + 1}` } } : {}),
        }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') relays.push(result.value);
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;

    pool = new LoadPool(
      {
        target: 'relay',
        port: relays[0].port,
        ports: relays.map((r) => r.port),
        fingerprint: relays[0].fingerprint,
        clientDir: await ctx.makeDir('clients'),
        namePrefix: `c${tag}u`,
        password: BENCH_PASSWORD,
        register: true,
        indexes: Array.from({ length: load.clients }, (_, i) => i),
        // Each load thread plays 20 users: the keys every user fetches of a room's members on joining
        // (a whisper's first contact, done ahead) would be 20 users' machines' work in one thread and
        // stall its deliveries; whisper-mesh measures that path, this scenario the room.
        clientOptions: { maxUnackedMessages: 100_000, keyPrefetchMaxUsers: 0 },
      },
      loadThreads(ctx),
    );
    const connected = await pool.connect();
    if (connected.failed > 0) throw new Error(`${connected.failed} of ${load.clients} clients failed to connect: ${connected.errorSamples.join('; ')}`);
    // Let the join announcements of the ramp-up drain before measuring.
    await sleep(ctx.quick ? 200 : 1000);
    // A relay just started runs its first messages on cold code (V8 has not compiled the hot
    // paths yet) and the backlog takes a while to drain; with three relays that cost is paid
    // three times over on the same cores. Measured here, the first half second was p50 26 ms /
    // p99 76 ms with three relays against p50 2-4 / p99 3-25 ms in each later half second,
    // which alone made the run's p99. The target is about a running cluster, so each paced setup first sends
    // warmUpPerClient messages per member at the same pace; that run is reported apart.
    const warmUp = load.ratePerSecond ? await pool.run(roomLoadPlan({ ...load, messagesPerClient: warmUpPerClient }, ctx.quick)) : undefined;

    await Promise.all(relays.map((r) => r.resetLoopDelay()));
    const meters = relays.map((r) => new ProcessMeter(r.pid));
    const redisMeter = redis ? new ProcessMeter(redis.pid) : undefined;
    for (const meter of meters) meter.start();
    redisMeter?.start();
    const run = await pool.run(roomLoadPlan(load, ctx.quick));
    const usages = meters.map((m) => m.stop());
    const redisUsage = redisMeter?.stop();
    const loops = await Promise.all(relays.map((r) => r.stats()));
    return {
      setup,
      run,
      warmUp,
      relayCpuSeconds: usages.map((u) => u.cpuSeconds),
      redisCpuSeconds: redisUsage?.cpuSeconds ?? 0,
      peakRssBytes: Math.max(...usages.map((u) => u.peakRssBytes)),
      loopDelayP99Ms: Math.max(...loops.map((l) => l.loopDelayP99Ms)),
      loopDelayMaxMs: Math.max(...loops.map((l) => l.loopDelayMaxMs)),
      dropped: relays.flatMap((r) => r.droppedLines()),
      loadThreads: pool.threads,
    };
  } finally {
    await pool?.close();
    await Promise.allSettled(relays.map((r) => r.stop()));
    await redis?.stop();
    if (killRedisOnExit) process.off('exit', killRedisOnExit);
  }
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function derived(m: Measured) {
  const seconds = (m.run.lastDeliveryUs - m.run.firstSendUs) / 1e6;
  const perDelivery = (cpuSeconds: number) => (m.run.received > 0 ? (cpuSeconds * 1e6) / m.run.received : Number.NaN);
  return {
    latency: summarize(m.run.latencyUs),
    deliveriesPerSecond: seconds > 0 ? m.run.received / seconds : Number.NaN,
    relayCpuUs: perDelivery(sum(m.relayCpuSeconds)),
    redisCpuUs: perDelivery(m.redisCpuSeconds),
    lagP99Ms: m.run.lagUs.length > 0 ? percentile(m.run.lagUs, 99) / 1000 : Number.NaN,
    maxElu: Math.max(...m.run.eventLoopUtilization),
    // The warm-up's deliveries are checked as strictly: a loss there is a loss.
    complete: [m.run, m.warmUp].every((run) => run === undefined || (run.received === run.expected && run.missing === 0 && run.duplicates + run.outOfOrder === 0)),
  };
}

/** Target: value ÷ reference at most `limit`, with words for the reference. */
function atMost(value: number, reference: number, limit: number, of: string): Target {
  const r = ratio(value, reference);
  return { text: `≤ ${limit}× ${of}`, pass: Number.isFinite(r) && r <= limit };
}

/** Warnings every table shares: load generator saturated, deadline hit, failed sends, dropped connections. */
function warnings(measured: Measured[]): string[] {
  const notes: string[] = [];
  for (const m of measured) {
    const who = describeSetup(m.setup);
    if (Math.max(...m.run.eventLoopUtilization) > 0.9) notes.push(`${who}: a load thread was busy > 90 % of the time: the figures include load-generator queueing.`);
    if (m.run.timedOut) notes.push(`${who}: the run hit its deadline before every delivery arrived.`);
    if (m.run.sendErrors > 0) notes.push(`${who}: ${m.run.sendErrors} sends failed (${m.run.errorSamples.join('; ')}).`);
    if (m.warmUp && m.warmUp.received !== m.warmUp.expected) notes.push(`${who}: the warm-up run delivered ${m.warmUp.received} of ${m.warmUp.expected}.`);
    if (m.dropped.length > 0) notes.push(`${who}: ${m.dropped.length} connections dropped by a relay, e.g. ${m.dropped[0]}`);
  }
  return notes;
}

function warmUpP99(m: Measured): number {
  return m.warmUp && m.warmUp.latencyUs.length > 0 ? percentile(m.warmUp.latencyUs, 99) / 1000 : Number.NaN;
}

/** The run whose p99 is the median of the runs (odd counts; the lower middle one otherwise). */
function medianRun(runs: readonly Measured[]): Measured {
  // derived() summarizes every latency of a run: once per run, not once per comparison.
  const sorted = runs.map((run) => ({ run, p99: derived(run).latency.p99 })).sort((a, b) => a.p99 - b.p99);
  return sorted[Math.floor((sorted.length - 1) / 2)].run;
}

function latencyReport(load: RoomLoad, threes: readonly Measured[], ones: readonly Measured[], fewerRelays: readonly Measured[]): ScenarioReport {
  const three = medianRun(threes);
  const one = medianRun(ones);
  const rounds = threes.map((m, i) => {
    const [t, o] = [derived(m).latency.p99 / 1000, derived(ones[i]).latency.p99 / 1000];
    return `${t.toFixed(1)} / ${o.toFixed(1)} ms (${ratio(t, o).toFixed(2)}×)`;
  });
  const t = derived(three);
  const o = derived(one);
  const ms = (us: number) => us / 1000;
  const figures: Figure[] = [
    { key: 'expected', label: 'deliveries expected', unit: '', value: three.run.expected, baseline: one.run.expected },
    {
      key: 'received',
      label: 'deliveries received',
      unit: '',
      value: three.run.received,
      baseline: one.run.received,
      target: { text: '= expected; none lost, twice or reordered', pass: t.complete },
    },
    { key: 'lost', label: 'lost', unit: '', value: three.run.missing, baseline: one.run.missing },
    { key: 'duplicatedOrReordered', label: 'duplicated or reordered', unit: '', value: three.run.duplicates + three.run.outOfOrder, baseline: one.run.duplicates + one.run.outOfOrder },
    { key: 'deliveriesPerSecond', label: 'deliveries/s', unit: '/s', value: t.deliveriesPerSecond, baseline: o.deliveriesPerSecond },
    { key: 'p50Ms', label: 'latency p50', unit: 'ms', value: ms(t.latency.p50), baseline: ms(o.latency.p50) },
    { key: 'p90Ms', label: 'latency p90', unit: 'ms', value: ms(t.latency.p90), baseline: ms(o.latency.p90) },
    { key: 'p99Ms', label: 'latency p99', unit: 'ms', value: ms(t.latency.p99), baseline: ms(o.latency.p99), target: atMost(t.latency.p99, o.latency.p99, P99_TARGET, 'one relay') },
    { key: 'maxMs', label: 'latency max', unit: 'ms', value: ms(t.latency.max), baseline: ms(o.latency.max) },
    { key: 'warmUpP99Ms', label: 'latency p99 of the warm-up (cold relays)', unit: 'ms', value: warmUpP99(three), baseline: warmUpP99(one) },
    { key: 'loopDelayP99Ms', label: 'relay event-loop delay p99 (worst relay)', unit: 'ms', value: three.loopDelayP99Ms, baseline: one.loopDelayP99Ms },
    { key: 'loadElu', label: 'load thread busy (max)', unit: '0..1', value: t.maxElu, baseline: o.maxElu },
    { key: 'sendLagP99Ms', label: 'send lag behind schedule p99', unit: 'ms', value: t.lagP99Ms, baseline: o.lagP99Ms },
  ];
  return {
    bench: 'cluster',
    case: `room fan-out across relays: ${describeLoad(load)}`,
    columns: ['3 relays, Redis', '1 relay, local'],
    figures,
    notes: [
      `${load.clients} members of the global room: with three relays ${load.clients / 3} on each, every message crosses the Redis bus to the other two; one relay holds all ${load.clients} on LevelDB. The same ${three.loadThreads} load thread(s) in both.`,
      `before each measured run the same members sent ${three.warmUp?.sent ?? 0} messages at the same pace to freshly started relays (not measured; its p99 is the row above): the target is about a running cluster, not the first seconds of new relay processes.`,
      'latency is one-way: send time inside the message to the receiver\'s event (it includes storing the message first: Redis, or LevelDB).',
      ...(threes.length > 1
        ? [`${threes.length} rounds, alternating (three relays first); each column shows its run with the median p99. p99 per round, 3 relays / 1 relay: ${rounds.join('; ')}.`]
        : []),
      // Where the ratio comes from: every message wakes every relay process at once; past the core count they queue for a core.
      `p99 by relays on Redis at this load: ${[...fewerRelays, three].map((m) => `${m.setup.relays}: ${(derived(m).latency.p99 / 1000).toFixed(1)} ms`).join(', ')}; one relay local ${(o.latency.p99 / 1000).toFixed(1)} ms; this machine has ${availableParallelism()} cores.`,
      `relay CPU s over the run: ${three.relayCpuSeconds.map((c, i) => `r${i + 1} ${c.toFixed(2)}`).join(', ')}, redis-server ${three.redisCpuSeconds.toFixed(2)}; one relay ${sum(one.relayCpuSeconds).toFixed(2)}.`,
      ...warnings([three, one]),
    ],
    extra: { ...load },
  };
}

function cpuReport(load: RoomLoad, redisOne: Measured, local: Measured, redisThree: Measured): ScenarioReport {
  const r = derived(redisOne);
  const l = derived(local);
  const t = derived(redisThree);
  const ms = (us: number) => us / 1000;
  const figures: Figure[] = [
    {
      key: 'received',
      label: 'deliveries received',
      unit: '',
      value: redisOne.run.received,
      baseline: local.run.received,
      target: { text: '= expected; none lost, twice or reordered', pass: r.complete && l.complete },
    },
    { key: 'deliveriesPerSecond', label: 'deliveries/s', unit: '/s', value: r.deliveriesPerSecond, baseline: l.deliveriesPerSecond },
    {
      key: 'cpuUsPerDelivery',
      label: 'relay CPU per delivery',
      unit: 'µs',
      value: r.relayCpuUs,
      baseline: l.relayCpuUs,
      target: atMost(r.relayCpuUs, l.relayCpuUs, CPU_TARGET, 'local'),
    },
    { key: 'relayCpuSeconds', label: 'relay CPU total', unit: 's', value: sum(redisOne.relayCpuSeconds), baseline: sum(local.relayCpuSeconds) },
    { key: 'redisCpuUsPerDelivery', label: 'redis-server CPU per delivery', unit: 'µs', value: r.redisCpuUs },
    { key: 'relayAndRedisCpuUsPerDelivery', label: 'relay + redis-server CPU per delivery', unit: 'µs', value: r.relayCpuUs + r.redisCpuUs, baseline: l.relayCpuUs },
    { key: 'threeRelaysCpuUsPerDelivery', label: '3 relays on Redis: CPU per delivery (sum)', unit: 'µs', value: t.relayCpuUs, baseline: l.relayCpuUs },
    { key: 'threeRelaysAndRedisCpuUsPerDelivery', label: '3 relays + redis-server CPU per delivery', unit: 'µs', value: t.relayCpuUs + t.redisCpuUs, baseline: l.relayCpuUs },
    { key: 'p50Ms', label: 'latency p50', unit: 'ms', value: ms(r.latency.p50), baseline: ms(l.latency.p50) },
    { key: 'p99Ms', label: 'latency p99', unit: 'ms', value: ms(r.latency.p99), baseline: ms(l.latency.p99) },
    { key: 'peakRssMiB', label: 'relay peak RSS', unit: 'MiB', value: redisOne.peakRssBytes / MiB, baseline: local.peakRssBytes / MiB },
  ];
  return {
    bench: 'cluster',
    case: `relay CPU per delivery, Redis backend vs local: ${describeLoad(load)}`,
    columns: ['1 relay, Redis', '1 relay, local'],
    figures,
    notes: [
      'the target compares ONE relay on Redis with ONE relay on LevelDB at the same offered load: the same process makes the same deliveries over the same sockets, so the difference is the backend alone (store appends and the bus, here a round trip through Redis for every message).',
      'the three-relay rows add what spreading costs on top: every relay decodes every message from the bus and runs its own per-message work; redis-server\'s own CPU is shown apart (the target counts relay CPU).',
      'CPU is each process\'s user+system from /proc over the run, all threads.',
      ...warnings([redisOne, local]),
    ],
    extra: { ...load },
  };
}

function throughputReport(load: RoomLoad, redis: Measured[], local: Measured, cores: number): ScenarioReport {
  const l = derived(local);
  const figures: Figure[] = [];
  for (const m of redis) {
    const d = derived(m);
    const n = m.setup.relays;
    figures.push({
      key: `deliveriesPerSecond${n}`,
      label: `deliveries/s, ${n} relay${n > 1 ? 's' : ''} on Redis`,
      unit: '/s',
      value: d.deliveriesPerSecond,
      baseline: l.deliveriesPerSecond,
      target: { text: '= expected; none lost, twice or reordered', pass: d.complete },
    });
  }
  for (const m of redis) {
    const d = derived(m);
    const n = m.setup.relays;
    figures.push({ key: `cpuUsPerDelivery${n}`, label: `relay CPU per delivery (sum), ${n} on Redis`, unit: 'µs', value: d.relayCpuUs, baseline: l.relayCpuUs });
  }
  for (const m of redis) {
    const d = derived(m);
    figures.push({ key: `redisCpuUsPerDelivery${m.setup.relays}`, label: `redis-server CPU per delivery, ${m.setup.relays} relay(s)`, unit: 'µs', value: d.redisCpuUs });
  }
  for (const m of redis) {
    const d = derived(m);
    figures.push({ key: `p99Ms${m.setup.relays}`, label: `latency p99, ${m.setup.relays} on Redis`, unit: 'ms', value: d.latency.p99 / 1000, baseline: l.latency.p99 / 1000 });
  }
  return {
    bench: 'cluster',
    case: `aggregate deliveries/s, 1, 2 and 3 relays on Redis: ${describeLoad(load)}`,
    columns: ['on Redis', '1 relay, local'],
    figures,
    notes: [
      'flat out, not at a fixed offered load: at a fixed load deliveries/s is the offered rate × (members − 1) whatever the relays can do, so it would show nothing; flat out shows the most this machine delivers with each setup.',
      `members are spread evenly over the relays (client i on relay i mod n); the same ${local.loadThreads} load thread(s) throughout.`,
      `this machine has ${cores} core(s), shared by the relays, redis-server and the load generator: with ${cores} core(s) more relays show what the cluster COSTS (bus hops, every relay handling every message), not how it scales; on a machine with a core per relay the same run shows the scaling.`,
      `load average at the end (1/5/15 min): ${loadavg().map((v) => v.toFixed(1)).join(' / ')} — other jobs on the same cores move every figure here.`,
      ...warnings([...redis, local]),
    ],
    extra: { ...load },
  };
}

export const cluster: Scenario = {
  name: 'cluster',
  describe: '60 members over three relays on Redis vs one relay local: latency at 500 msg/s, relay CPU per delivery, deliveries/s with 1-3 relays',
  async run(ctx) {
    if (!redisServerAvailable()) {
      return [{ bench: 'cluster', case: 'skipped', figures: [], notes: ['redis-server is not installed (Debian: apt-get install redis-server): the cluster scenario needs it.'] }];
    }
    const sizes = ctx.quick ? QUICK : FULL;
    const rounds = ctx.quick ? 1 : LATENCY_ROUNDS;
    const steps: Array<{ setup: Setup; load: RoomLoad; tag: string }> = [
      // The p99 pairs back to back, so the machine's other load is as alike as it gets for both.
      ...Array.from({ length: rounds }, (_, i) => [
        { setup: { backend: 'redis' as const, relays: 3 }, load: sizes.rate, tag: `r3-${i}` },
        { setup: { backend: 'local' as const, relays: 1 }, load: sizes.rate, tag: `l-${i}` },
      ]).flat(),
      { setup: { backend: 'redis', relays: 1 }, load: sizes.rate, tag: 'r1' },
      { setup: { backend: 'redis', relays: 2 }, load: sizes.rate, tag: 'r2' },
      { setup: { backend: 'local', relays: 1 }, load: sizes.flat, tag: 'lf' },
      ...[1, 2, 3].map((relays) => ({ setup: { backend: 'redis' as const, relays }, load: sizes.flat, tag: `f${relays}` })),
    ];
    // Measuring: one setup at a time. A smoke run proves the harness only: three at a time.
    const results = await mapLimit(steps, ctx.quick ? 3 : 1, async ({ setup, load, tag }) => {
      ctx.progress(`cluster: ${describeSetup(setup)}, ${describeLoad(load)}`);
      return measure(ctx, setup, load, sizes.warmUpPerClient, tag);
    });
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    const measured = results.map((r) => (r as PromiseFulfilledResult<Measured>).value);
    const pairs = measured.splice(0, 2 * rounds);
    const redisThreeRates = pairs.filter((_, i) => i % 2 === 0);
    const localRates = pairs.filter((_, i) => i % 2 === 1);
    const [redisOneRate, redisTwoRate, localFlat, ...redisFlat] = measured;
    return [
      latencyReport(sizes.rate, redisThreeRates, localRates, [redisOneRate, redisTwoRate]),
      cpuReport(sizes.rate, redisOneRate, medianRun(localRates), medianRun(redisThreeRates)),
      throughputReport(sizes.flat, redisFlat, localFlat, availableParallelism()),
    ];
  },
};
