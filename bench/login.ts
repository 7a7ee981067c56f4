/**
 * login: what logins cost and whether they stall chat.
 *
 * Setup: R resident accounts are seeded into the relay's LevelDB (cheap hashes, see
 * lib/seed.ts); the relay then starts with its REAL default argon2id parameters and hash
 * worker pool. The R residents log in (spread over chatrooms of ROOM_SIZE) and stay. A chat
 * probe of PROBE_CLIENTS clients, in its own room and its own worker thread, sends room
 * messages at PROBE_RATE msg/s throughout and records their latency.
 *
 * Phases, timed on the probe's clock:
 *   quiet      the probe alone
 *   burst      F fresh clients register at once (argon2id at the real cost, in the worker pool)
 *   reconnect  every resident's connection is cut at once; they come back with resume tokens
 * Baseline: the same probe through the bare relay, quiet and while R bare TLS connections
 * open at once (the floor of a reconnect: the handshake alone).
 *
 * Hash engines: two more relays, each alone (no residents, no probe), one with the relay's own
 * argon2id engine and one with the previous one (libsodium's wasm build,
 * bench/lib/libsodium-hash-worker.ts), same parameters and worker count; after a warm-up
 * registration each takes F fresh registrations one after another. Fresh logins per CPU-second of the
 * relay process (all threads) is the rate one core sustains; the target compares the engines.
 */
import { performance } from 'node:perf_hooks';
import { BENCH_PASSWORD, BaselineLoadClient, RelayLoadClient, mapLimit } from './lib/clients.js';
import { BENCH_LIMITS, MiB, settlesWithin, sleep, type BenchContext, type Scenario } from './lib/context.js';
import { LoadPool, type PoolRunResult } from './lib/load-pool.js';
import { nowUs } from './lib/payload.js';
import { ProcessMeter } from './lib/proc.js';
import type { RelayChild } from './lib/relay-child.js';
import { ratioAtLeast, valueAtMost, type Figure, type ScenarioReport } from './lib/report.js';
import { seedAccounts } from './lib/seed.js';
import { percentile } from './lib/stats.js';
import type { Target as LoadTarget } from './lib/clients.js';

const ROOM_SIZE = 50;
const PROBE_CLIENTS = 10;
const PHASE_TIMEOUT_MS = 120_000;

interface Sizes {
  residents: number;
  fresh: number;
  probeRate: number;
  quietSeconds: number;
  /** The probe runs in back-to-back chunks this long (stopping waits for the current one). */
  chunkSeconds: number;
  /** Pause between phases, so one phase's tail does not spill into the next. */
  gapMs: number;
}

/** Nice value of the fresh clients' thread in the burst (see measureRelay). */
const LOAD_GENERATOR_NICE = 10;

const FULL: Sizes = { residents: 1000, fresh: 50, probeRate: 200, quietSeconds: 6, chunkSeconds: 2, gapMs: 1000 };
const QUICK: Sizes = { residents: 20, fresh: 3, probeRate: 50, quietSeconds: 0.5, chunkSeconds: 0.5, gapMs: 100 };

/** Runs the chat probe in back-to-back chunks until stopped; samples are later cut into phases by send time. */
class Probe {
  private readonly chunks: PoolRunResult[] = [];
  private running = true;
  private loop: Promise<void> | undefined;

  constructor(readonly pool: LoadPool, private readonly rate: number, private readonly chunkSeconds: number) {}

  start(): void {
    const perSender = Math.max(1, Math.round((this.rate * this.chunkSeconds) / PROBE_CLIENTS));
    this.loop = (async () => {
      while (this.running) {
        this.chunks.push(
          await this.pool.run({
            mode: 'rate',
            senders: PROBE_CLIENTS,
            messagesPerSender: perSender,
            ratePerSecond: this.rate,
            startAtUs: nowUs() + 10_000,
            deadlineMs: this.chunkSeconds * 1000 + 20_000,
          }),
        );
      }
    })();
  }

  /** Stops after the current chunk; safe to call again (returns the same chunks). */
  async stop(): Promise<PoolRunResult[]> {
    this.running = false;
    await this.loop;
    return this.chunks;
  }
}

/** p99 (ms) and count of the probe deliveries sent within [fromUs, toUs]. */
function windowP99(chunks: PoolRunResult[], fromUs: number, toUs: number): { p99Ms: number; count: number } {
  const picked: number[] = [];
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.sentAtUs.length; i++) {
      if (chunk.sentAtUs[i] >= fromUs && chunk.sentAtUs[i] <= toUs) picked.push(chunk.latencyUs[i]);
    }
  }
  return { p99Ms: percentile(picked, 99) / 1000, count: picked.length };
}

function lossOf(chunks: PoolRunResult[]): number {
  return chunks.reduce((a, c) => a + c.missing + c.duplicates + c.outOfOrder + c.sendErrors, 0);
}

async function startProbe(ctx: BenchContext, target: LoadTarget, relay: RelayChild, sizes: Sizes): Promise<Probe> {
  const pool = new LoadPool(
    {
      target,
      port: relay.port,
      fingerprint: relay.fingerprint,
      clientDir: await ctx.makeDir('probe-clients'),
      namePrefix: 'lp',
      password: BENCH_PASSWORD,
      register: false,
      room: target === 'relay' ? 'probe' : undefined,
      indexes: Array.from({ length: PROBE_CLIENTS }, (_, i) => i),
    },
    1,
  );
  const connected = await pool.connect();
  if (connected.failed > 0) {
    await pool.close();
    throw new Error(`probe clients failed to connect: ${connected.errorSamples.join('; ')}`);
  }
  const probe = new Probe(pool, sizes.probeRate, sizes.chunkSeconds);
  probe.start();
  return probe;
}

async function measureRelay(ctx: BenchContext, sizes: Sizes) {
  const dataDir = await ctx.makeDir('relay');
  const residentNames = Array.from({ length: sizes.residents }, (_, i) => `lr${i}`);
  const probeNames = Array.from({ length: PROBE_CLIENTS }, (_, i) => `lp${i}`);
  ctx.progress(`login: seeding ${residentNames.length + probeNames.length} accounts`);
  await seedAccounts(dataDir, [...residentNames, ...probeNames], BENCH_PASSWORD);
  const relay = await ctx.startRelay({ kind: 'relay', dataDir, hashing: 'default', limits: BENCH_LIMITS });
  const clientDir = await ctx.makeDir('clients');
  const residents = residentNames.map(
    (name, i) =>
      new RelayLoadClient({
        target: 'relay',
        port: relay.port,
        fingerprint: relay.fingerprint,
        clientDir,
        name,
        password: BENCH_PASSWORD,
        register: false,
        room: `lobby${Math.floor(i / ROOM_SIZE)}`,
        // Reconnect at once after the cut (a real client adds 0.25-0.5 s of jitter first).
        clientOptions: { reconnect: true, backoff: { baseMs: 50, maxMs: 2_000, factor: 2, jitter: 0.5 } },
      }),
  );
  // The fresh clients stand for 50 other machines: in a worker thread of their own at a lower
  // priority (made now, so starting the thread is not part of the burst). At normal priority
  // their own work on these 2 cores (TLS client handshakes, key checks, folders: 0.49 of a core
  // through a 4.9 s burst, /proc per thread) competed with the relay and the probe.
  const fresh = new LoadPool(
    {
      target: 'relay',
      port: relay.port,
      fingerprint: relay.fingerprint,
      clientDir,
      namePrefix: 'lf',
      password: BENCH_PASSWORD,
      register: true,
      indexes: Array.from({ length: sizes.fresh }, (_, i) => i),
      connectConcurrency: sizes.fresh,
      threadNice: LOAD_GENERATOR_NICE,
    },
    1,
  );
  let probe: Probe | undefined;
  try {
    ctx.progress(`login: ${residents.length} residents log in`);
    const loginStarted = performance.now();
    const logins = await mapLimit(residents, 50, (c) => c.connect());
    const loginSeconds = (performance.now() - loginStarted) / 1000;
    const loginFailures = logins.filter((r) => r.status === 'rejected').length;
    if (loginFailures > 0) throw new Error(`${loginFailures} residents failed to log in: ${String((logins.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason)}`);

    probe = await startProbe(ctx, 'relay', relay, sizes);
    await relay.resetLoopDelay();
    const quiet0 = nowUs();
    await sleep(sizes.quietSeconds * 1000);
    const quiet1 = nowUs();
    const quietLoop = await relay.resetLoopDelay();

    ctx.progress(`login: burst of ${sizes.fresh} fresh registrations (real argon2id)`);
    const burstMeter = new ProcessMeter(relay.pid);
    burstMeter.start();
    const burst0 = nowUs();
    const registered = await fresh.connect();
    const burst1 = nowUs();
    const burstUsage = burstMeter.stop();
    const burstLoop = await relay.stats();
    ctx.progress(`login: burst window ${Math.round(burst0)}-${Math.round(burst1)} µs (for profile-summary --window)`);

    await sleep(sizes.gapMs);
    ctx.progress(`login: ${residents.length} residents cut off; reconnecting with resume tokens`);
    let resumed = 0;
    let passwordLogins = 0;
    let givenUp = 0;
    const backAfterMs: number[] = [];
    /** Failed reconnect attempts, by the code that failed them. */
    const retries = new Map<string, number>();
    let cutAt = 0;
    const allBack = new Promise<void>((resolve) => {
      const check = () => {
        if (resumed + passwordLogins + givenUp >= residents.length) resolve();
      };
      for (const r of residents) {
        r.client.on('connected', (e) => {
          backAfterMs.push(performance.now() - cutAt);
          if (e.resumed) resumed += 1;
          else passwordLogins += 1;
          check();
        });
        r.client.on('reconnecting', (e) => {
          if (e.attempt > 1) retries.set(e.code ?? '?', (retries.get(e.code ?? '?') ?? 0) + 1);
        });
        r.client.on('disconnected', (e) => {
          if (!e.willReconnect) {
            givenUp += 1;
            check();
          }
        });
      }
    });
    const stormMeter = new ProcessMeter(relay.pid);
    stormMeter.start();
    const storm0 = nowUs();
    cutAt = performance.now();
    for (const r of residents) r.client.dropConnection();
    const timedOut = !(await settlesWithin(allBack, PHASE_TIMEOUT_MS));
    const storm1 = nowUs();
    const stormUsage = stormMeter.stop();
    ctx.progress(`login: reconnect window ${Math.round(storm0)}-${Math.round(storm1)} µs (for profile-summary --window)`);
    await sleep(sizes.gapMs);
    const chunks = await probe.stop();
    return {
      loginSeconds,
      burstSeconds: (burst1 - burst0) / 1e6,
      burstCpuPerLoginMs: (burstUsage.cpuSeconds * 1000) / sizes.fresh,
      burstFailures: registered.failed,
      quietLoopDelayMaxMs: quietLoop.loopDelayMaxMs,
      burstLoopDelayMaxMs: burstLoop.loopDelayMaxMs,
      burstFailureSample: registered.errorSamples[0] ?? '',
      reconnectSeconds: (storm1 - storm0) / 1e6,
      reconnectCpuPerResumeMs: (stormUsage.cpuSeconds * 1000) / residents.length,
      resumed,
      backP50Ms: percentile(backAfterMs, 50),
      backP90Ms: percentile(backAfterMs, 90),
      retries: [...retries.entries()].map(([code, n]) => `${code} ×${n}`).join(', '),
      passwordLogins,
      givenUp,
      timedOut,
      peakRssBytes: Math.max(burstUsage.peakRssBytes, stormUsage.peakRssBytes),
      quiet: windowP99(chunks, quiet0, quiet1),
      burst: windowP99(chunks, burst0, burst1),
      storm: windowP99(chunks, storm0, storm1),
      probeLoss: lossOf(chunks),
      dropped: relay.droppedLines(),
    };
  } finally {
    await probe?.stop().catch(() => undefined);
    await probe?.pool.close();
    await Promise.allSettled([...residents.map((c) => c.close()), fresh.close()]);
    await relay.stop();
  }
}

type HashEngine = 'native' | 'libsodium';

/**
 * What a fresh login costs the relay with one hash engine: a relay of its own (no residents,
 * no probe), one warm-up registration (starts the hash worker, loads the engine), then
 * `fresh` registrations one after another; relay CPU (all threads, and its main thread alone)
 * and wall time over them. One at a time, because the load generator shares the machine's
 * 2 cores: 50 clients making keys and TLS handshakes at once crowd the cores and caches the
 * memory-hard hash runs on, and inflate the faster engine's CPU the most (its hashes overlap
 * that client work more densely). The burst phase of measureRelay shows logins all at once.
 * `hashing: 'cheap'` (argon2id at its minimum cost) leaves the rest of a login: TLS, key
 * proof, LevelDB writes, joining the room.
 */
export async function measureLoginCost(ctx: BenchContext, engine: HashEngine, fresh: number, hashing: 'default' | 'cheap' = 'default') {
  const relay = await ctx.startRelay({ kind: 'relay', hashing, hashEngine: engine, limits: BENCH_LIMITS });
  const tag = `${engine[0]}${hashing[0]}`;
  const clientDir = await ctx.makeDir(`clients-${tag}`);
  const make = (name: string) => new RelayLoadClient({ target: 'relay', port: relay.port, fingerprint: relay.fingerprint, clientDir, name, password: BENCH_PASSWORD, register: true });
  const warmUp = make(`lw${tag}`);
  const clients = Array.from({ length: fresh }, (_, i) => make(`lc${tag}${i}`));
  try {
    await warmUp.connect();
    const meter = new ProcessMeter(relay.pid, 100, true);
    meter.start();
    const t0 = performance.now();
    for (const client of clients) {
      try {
        await client.connect();
      } catch (error) {
        throw new Error(`registration ${client.name} failed with the ${engine} engine: ${String(error)}`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const usage = meter.stop();
    return {
      seconds,
      cpuSeconds: usage.cpuSeconds,
      cpuPerLoginMs: (usage.cpuSeconds * 1000) / fresh,
      mainCpuPerLoginMs: ((usage.threadSeconds.main ?? Number.NaN) * 1000) / fresh,
      loginsPerSecond: fresh / seconds,
      loginsPerCpuSecond: fresh / usage.cpuSeconds,
      threadSeconds: usage.threadSeconds,
    };
  } finally {
    await Promise.allSettled([warmUp, ...clients].map((c) => c.close()));
    await relay.stop();
  }
}

/**
 * The floor: the probe through a bare relay (quiet), and R bare TLS connections opened at once
 * to a second bare relay. Two processes, because the bare relay has no rooms: it would send
 * every probe message to all R new connections too, and measure that instead of handshakes.
 */
async function measureBaseline(ctx: BenchContext, sizes: Sizes) {
  const [chat, doors] = await Promise.all([ctx.startRelay({ kind: 'baseline' }), ctx.startRelay({ kind: 'baseline' })]);
  const bare = Array.from(
    { length: sizes.residents },
    (_, i) => new BaselineLoadClient({ target: 'baseline', port: doors.port, fingerprint: '', clientDir: '', name: `br${i}`, password: '', register: false }),
  );
  let probe: Probe | undefined;
  try {
    probe = await startProbe(ctx, 'baseline', chat, sizes);
    const quiet0 = nowUs();
    await sleep(sizes.quietSeconds * 1000);
    const quiet1 = nowUs();
    const chunks = await probe.stop();
    const meter = new ProcessMeter(doors.pid);
    meter.start();
    const storm0 = nowUs();
    const opened = await Promise.allSettled(bare.map((c) => c.connect()));
    const storm1 = nowUs();
    const usage = meter.stop();
    return {
      connectSeconds: (storm1 - storm0) / 1e6,
      cpuPerConnectMs: (usage.cpuSeconds * 1000) / sizes.residents,
      failures: opened.filter((r) => r.status === 'rejected').length,
      quiet: windowP99(chunks, quiet0, quiet1),
    };
  } finally {
    await probe?.stop().catch(() => undefined);
    await probe?.pool.close();
    await Promise.allSettled(bare.map((c) => c.close()));
    await Promise.allSettled([chat.stop(), doors.stop()]);
  }
}

export const login: Scenario = {
  name: 'login',
  describe: 'a burst of fresh logins (real argon2id) and a mass reconnect with resume tokens, with chat latency measured meanwhile',
  async run(ctx) {
    const sizes = ctx.quick ? QUICK : FULL;
    const real = await measureRelay(ctx, sizes);
    ctx.progress('login: baseline');
    const base = await measureBaseline(ctx, sizes);
    ctx.progress(`login: ${sizes.fresh} fresh logins one after another with each hash engine, each relay alone`);
    const native = await measureLoginCost(ctx, 'native', sizes.fresh);
    const wasm = await measureLoginCost(ctx, 'libsodium', sizes.fresh);
    const rest = await measureLoginCost(ctx, 'native', sizes.fresh, 'cheap');
    const burstLimit = 2 * real.quiet.p99Ms;
    const figures: Figure[] = [
      { key: 'residentLoginSeconds', label: `first login of ${sizes.residents} residents (seeded, cheap hashes)`, unit: 's', value: real.loginSeconds },
      { key: 'burstSeconds', label: `${sizes.fresh} fresh registrations at once, all in`, unit: 's', value: real.burstSeconds },
      { key: 'cpuPerLoginMs', label: 'relay CPU per fresh login (argon2id incl.)', unit: 'ms', value: real.burstCpuPerLoginMs },
      {
        key: 'loginsPerCoreSecond',
        label: 'fresh logins per CPU-second (per core), relay alone (baseline: previous libsodium wasm engine)',
        unit: '/s',
        value: native.loginsPerCpuSecond,
        baseline: wasm.loginsPerCpuSecond,
        target: ratioAtLeast(native.loginsPerCpuSecond, wasm.loginsPerCpuSecond, 2),
      },
      { key: 'loginsPerSecond', label: `${sizes.fresh} fresh logins one after another, relay alone: logins/s (baseline: libsodium)`, unit: '/s', value: native.loginsPerSecond, baseline: wasm.loginsPerSecond },
      { key: 'engineCpuPerLoginMs', label: 'relay CPU per fresh login, relay alone (baseline: libsodium)', unit: 'ms', value: native.cpuPerLoginMs, baseline: wasm.cpuPerLoginMs },
      { key: 'engineMainCpuPerLoginMs', label: '  of which the main thread (baseline: libsodium)', unit: 'ms', value: native.mainCpuPerLoginMs, baseline: wasm.mainCpuPerLoginMs },
      { key: 'restCpuPerLoginMs', label: '  the same login with argon2id at its minimum cost', unit: 'ms', value: rest.cpuPerLoginMs },
      {
        key: 'reconnectSeconds',
        label: `${sizes.residents} reconnects with resume tokens, all back`,
        unit: 's',
        value: real.reconnectSeconds,
        baseline: base.connectSeconds,
        target: {
          ...valueAtMost(real.reconnectSeconds, 3, 's'),
          pass: real.reconnectSeconds <= 3 && real.resumed === sizes.residents,
        },
      },
      { key: 'resumed', label: 'of them resumed with their token', unit: '', value: real.resumed },
      { key: 'reconnectP50Ms', label: 'half of them back within', unit: 'ms', value: real.backP50Ms },
      { key: 'reconnectP90Ms', label: '90 % of them back within', unit: 'ms', value: real.backP90Ms },
      { key: 'cpuPerResumeMs', label: 'relay CPU per resume (baseline: per bare TLS connection)', unit: 'ms', value: real.reconnectCpuPerResumeMs, baseline: base.cpuPerConnectMs },
      { key: 'probeQuietP99Ms', label: 'room message p99, quiet', unit: 'ms', value: real.quiet.p99Ms, baseline: base.quiet.p99Ms },
      {
        key: 'probeBurstP99Ms',
        label: 'room message p99 during the login burst',
        unit: 'ms',
        value: real.burst.p99Ms,
        target: { text: `≤ 2× quiet p99 (${burstLimit.toFixed(1)} ms)`, pass: real.burst.p99Ms <= burstLimit },
      },
      { key: 'burstLoopDelayMaxMs', label: 'relay event-loop delay max during the burst (baseline: quiet)', unit: 'ms', value: real.burstLoopDelayMaxMs, baseline: real.quietLoopDelayMaxMs },
      { key: 'probeReconnectP99Ms', label: 'room message p99 during the reconnects', unit: 'ms', value: real.storm.p99Ms },
      { key: 'peakRssMiB', label: 'relay peak RSS', unit: 'MiB', value: real.peakRssBytes / MiB },
    ];
    const notes = [
      'argon2id everywhere at libsodium\'s INTERACTIVE cost (v1.3, t=2, m=64 MiB, p=1): the relay\'s engine is native @node-rs/argon2; "baseline: libsodium" rows are the previous engine (libsodium-wrappers-sumo crypto_pwhash_str, wasm) in the same kind of reniced worker, measured in this run on a relay of its own, as is the relay\'s engine on those rows.',
      `relay at its default argon2id cost and hash-worker count; residents in chatrooms of ${ROOM_SIZE}; probe: ${PROBE_CLIENTS} clients in their own room at ${sizes.probeRate} msg/s from a worker thread.`,
      'residents reconnect after 25-50 ms (client backoff set low so the relay sees the whole herd at once); baseline column: the same number of bare TLS connections opened at once (handshakes only, all clients in this one process), and the probe through a bare relay.',
      `probe samples: quiet ${real.quiet.count}, burst ${real.burst.count}, reconnect ${real.storm.count}; probe messages lost/duplicated/failed: ${real.probeLoss}.`,
    ];
    if (real.burstFailures > 0) notes.push(`${real.burstFailures} fresh registrations failed, e.g. ${real.burstFailureSample}`);
    if (real.retries) notes.push(`reconnect attempts that failed and were retried, by code: ${real.retries}.`);
    if (real.passwordLogins > 0 || real.givenUp > 0) notes.push(`${real.passwordLogins} residents fell back to a password login, ${real.givenUp} gave up.`);
    if (real.timedOut) notes.push(`the reconnect phase hit its ${PHASE_TIMEOUT_MS / 1000} s limit.`);
    if (base.failures > 0) notes.push(`baseline: ${base.failures} bare connections failed.`);
    if (real.dropped.length > 0) notes.push(`relay dropped ${real.dropped.length} connections, e.g. ${real.dropped[0]}`);
    return [{ bench: 'login', case: `${sizes.fresh} fresh logins, ${sizes.residents} resumes`, figures, notes }];
  },
};
