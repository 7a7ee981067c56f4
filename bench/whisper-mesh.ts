/**
 * whisper-mesh: N clients of the exported client core in one chatroom, each whispering random
 * others, every whisper answered at once by its receiver, with room messages in the same run.
 * Nothing is warmed up: the first whisper between two clients is their first contact (keys
 * fetched, checked and pinned on both sides), and it is measured like every other. The room
 * messages share the load, the clients and the relay, so their p99 is the yardstick of this
 * very run: the target is whisper one-way p99 at most 2× the room p99 (issue 15).
 *
 * The clients are dealt over several load worker threads of the bench process (LOAD_THREADS,
 * as the cluster scenario; mesh-load.ts is what each thread runs); the relay runs in its own.
 * Loopback only; every send is scheduled, counted and bounded by a deadline.
 */
import { BENCH_LIMITS, type BenchContext, type Scenario } from './lib/context.js';
import { WorkerHandle } from './lib/load-pool.js';
import type { MeshCase, MeshResult, MeshSpec } from './lib/mesh-load.js';
import type { MeshCommand } from './lib/mesh-worker.js';
import { nowUs } from './lib/payload.js';
import type { RelayChild } from './lib/relay-child.js';
import { formatNumber, type Figure } from './lib/report.js';
import { summarize } from './lib/stats.js';

export { meshSchedule, type MeshCase } from './lib/mesh-load.js';

/** 450 whispers + 450 answers + 100 room messages = 1,000 messages a second, for 10 s. */
export const FULL_MESH: MeshCase = { clients: 50, seconds: 10, whispersPerSecond: 450, roomPerSecond: 100 };
export const QUICK_MESH: MeshCase = { clients: 6, seconds: 2, whispersPerSecond: 45, roomPerSecond: 10 };

/** The p99 target: whisper one-way p99 ≤ this × room one-way p99 of the same run. */
const P99_RATIO_TARGET = 2;

/**
 * Load threads: real users each have their own machine, so 50 of them in one event loop measured
 * the load generator (busy 1.00 once whispers carry X3DH and ratchet work). As the cluster
 * scenario, three threads (or --load-threads if more), clients dealt round-robin; rooms and
 * whispers share them, so the ratio compares like with like.
 */
const LOAD_THREADS = 3;
const MESH_WORKER_URL = new URL('./lib/mesh-worker.js', import.meta.url);

function loadThreads(ctx: BenchContext): number {
  return ctx.quick ? 1 : Math.max(LOAD_THREADS, ctx.loadThreads);
}

/** The merged results of every thread; `elu` per thread. */
type MergedResult = Omit<MeshResult, 'elu'> & { elu: number[] };

async function runMesh(ctx: BenchContext, relay: RelayChild, c: MeshCase, threads: number): Promise<MergedResult> {
  const clientDir = await ctx.makeDir('mesh-clients');
  const shares: number[][] = Array.from({ length: Math.min(threads, c.clients) }, () => []);
  for (let i = 0; i < c.clients; i++) shares[i % shares.length].push(i);
  const workers = shares.map((indexes) => new WorkerHandle<MeshCommand>({ port: relay.port, fingerprint: relay.fingerprint, clientDir, c, indexes } satisfies MeshSpec, MESH_WORKER_URL));
  try {
    await Promise.all(workers.map((w) => w.ask({ cmd: 'connect' })));
    // From here on everything counts: the first whisper is the first contact of its pair.
    const startUs = nowUs() + 100_000;
    const results = await Promise.all(workers.map((w) => w.ask<MeshResult>({ cmd: 'run', startUs })));
    const sum = (pick: (r: MeshResult) => number) => results.reduce((a, r) => a + pick(r), 0);
    const all = (pick: (r: MeshResult) => number[]) => results.flatMap(pick);
    return {
      whisperUs: all((r) => r.whisperUs), whisperAtUs: all((r) => r.whisperAtUs), firstContactUs: all((r) => r.firstContactUs),
      roomUs: all((r) => r.roomUs), roomAtUs: all((r) => r.roomAtUs), lagUs: all((r) => r.lagUs),
      whispersSent: sum((r) => r.whispersSent), whispersReceived: sum((r) => r.whispersReceived), whispersExpected: sum((r) => r.whispersExpected),
      roomExpected: sum((r) => r.roomExpected), roomReceived: sum((r) => r.roomReceived), errors: sum((r) => r.errors),
      errorSamples: results.flatMap((r) => r.errorSamples).slice(0, 5), elu: results.map((r) => r.elu),
      timedOut: results.some((r) => r.timedOut), firstContacts: sum((r) => r.firstContacts),
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.ask({ cmd: 'close' })));
    await Promise.allSettled(workers.map((w) => w.terminate()));
  }
}

/** `second: whisper p99 / room p99` for each second of the schedule: where in the run the tail is (first contacts come early). */
function bySecond(whisperUs: number[], whisperAtUs: number[], roomUs: number[], roomAtUs: number[], seconds: number): string {
  const split = (values: number[], at: number[]) => {
    const buckets: number[][] = Array.from({ length: seconds }, () => []);
    values.forEach((v, i) => buckets[Math.min(seconds - 1, Math.max(0, Math.floor(at[i] / 1e6)))].push(v));
    return buckets.map((b) => summarize(b).p99 / 1000);
  };
  const w = split(whisperUs, whisperAtUs);
  const r = split(roomUs, roomAtUs);
  return w.map((x, i) => `${i}: ${formatNumber(x)} / ${formatNumber(r[i])}`).join(', ');
}

export const whisperMesh: Scenario = {
  name: 'whisper-mesh',
  describe: 'N=50 clients whisper random others (answered at once) with room messages in the same run, from the first contact; whisper p99 vs room p99',
  async run(ctx) {
    const c = ctx.quick ? QUICK_MESH : FULL_MESH;
    const total = c.whispersPerSecond * 2 + c.roomPerSecond;
    const caseName = `N=${c.clients}, ${total} msg/s for ${c.seconds} s (${c.whispersPerSecond} whispers + ${c.whispersPerSecond} answers + ${c.roomPerSecond} room messages a second), no warm-up`;
    ctx.progress(`whisper-mesh: ${caseName}`);
    const relay = await ctx.startRelay({ kind: 'relay', hashing: 'cheap', limits: BENCH_LIMITS });
    const threads = loadThreads(ctx);
    let m: MergedResult;
    let loop: { loopDelayP99Ms: number; loopDelayMaxMs: number };
    try {
      await relay.resetLoopDelay();
      m = await runMesh(ctx, relay, c, threads);
      loop = await relay.stats();
    } finally {
      await relay.stop();
    }
    const w = summarize(m.whisperUs);
    const r = summarize(m.roomUs);
    const f = summarize(m.firstContactUs);
    const lag = summarize(m.lagUs);
    const ms = (us: number) => us / 1000;
    const ratio = w.p99 / r.p99;
    const wanted = m.whispersSent * 2;
    const figures: Figure[] = [
      { key: 'p50Ms', label: 'one-way p50', unit: 'ms', value: ms(w.p50), baseline: ms(r.p50) },
      { key: 'p90Ms', label: 'one-way p90', unit: 'ms', value: ms(w.p90), baseline: ms(r.p90) },
      {
        key: 'p99Ms',
        label: 'one-way p99',
        unit: 'ms',
        value: ms(w.p99),
        baseline: ms(r.p99),
        target: { text: `≤ ${P99_RATIO_TARGET}× room p99`, pass: Number.isFinite(ratio) && ratio <= P99_RATIO_TARGET },
      },
      { key: 'maxMs', label: 'one-way max', unit: 'ms', value: ms(w.max), baseline: ms(r.max) },
      { key: 'firstContactP50Ms', label: 'first whisper of a pair, p50', unit: 'ms', value: ms(f.p50) },
      { key: 'firstContactP99Ms', label: 'first whisper of a pair, p99', unit: 'ms', value: ms(f.p99) },
      { key: 'firstContacts', label: 'first contacts (sender → recipient pairs)', unit: '', value: m.firstContacts },
      {
        key: 'whispersReceived',
        label: `whispers received, of ${wanted} (sent + answers)`,
        unit: '',
        value: m.whispersReceived,
        target: { text: '= sent + answers, no errors', pass: m.whispersReceived === wanted && m.errors === 0 && !m.timedOut },
      },
      { key: 'roomReceived', label: `room deliveries received, of ${m.roomExpected}`, unit: '', value: m.roomReceived },
      { key: 'errors', label: 'sends failed', unit: '', value: m.errors },
      { key: 'sendLagP99Ms', label: 'send lag behind schedule p99', unit: 'ms', value: ms(lag.p99) },
      { key: 'loadElu', label: `load threads busy, the busiest of ${m.elu.length}`, unit: '0..1', value: Math.max(...m.elu) },
      { key: 'loopDelayP99Ms', label: 'relay event-loop delay p99', unit: 'ms', value: loop.loopDelayP99Ms },
    ];
    const notes = [
      `${c.clients} clients of the client core in one chatroom, dealt round-robin over ${m.elu.length} load thread(s) of the bench process (rooms and whispers from the same threads); the relay in its own. Random sender → recipient pairs (seeded), each whisper answered at once by its receiver.`,
      `one-way: send time written in the text (monotonic clock) → the receiver's event; whispers count both the first whisper and its answer. The ratio column is whisper ÷ room message of this run.`,
      `no warm-up: the first whisper of each pair is that pair's first contact (keys fetched, signature checked, pin written on both sides), and is measured.`,
    ];
    notes.push(`p99 by second of sending, whisper / room (ms): ${bySecond(m.whisperUs, m.whisperAtUs, m.roomUs, m.roomAtUs, c.seconds)}`);
    notes.push(`load threads busy: ${m.elu.map((e) => e.toFixed(2)).join(', ')}`);
    if (Math.max(...m.elu) > 0.9) notes.push('a load thread was busy > 90 % of the time: the figures include load-generator queueing.');
    if (m.timedOut) notes.push('the run hit its deadline before every whisper was answered and every room message delivered.');
    if (m.errors > 0) notes.push(`${m.errors} sends failed, e.g. ${m.errorSamples.join('; ')}`);
    return [{ bench: 'whisper-mesh', case: caseName, figures, notes, columns: ['whisper', 'room message'], extra: { ...c, ratio, loadThreads: m.elu.length } }];
  },
};
