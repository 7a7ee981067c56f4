/**
 * whisper-mesh: N clients of the exported client core in one chatroom, each whispering random
 * others, every whisper answered at once by its receiver, with room messages in the same run.
 * Nothing is warmed up: the first whisper between two clients is their first contact (keys
 * fetched, checked and pinned on both sides), and it is measured like every other. The room
 * messages share the load, the clients and the relay, so their p99 is the yardstick of this
 * very run: the target is whisper one-way p99 at most 2× the room p99 (issue 15).
 *
 * All clients live in this process (one event loop, as the fan-out's load thread); the relay
 * runs in its own. Loopback only; every send is scheduled, counted and bounded by a deadline.
 */
import { performance } from 'node:perf_hooks';
import { BENCH_PASSWORD, RelayLoadClient, mapLimit } from './lib/clients.js';
import { BENCH_LIMITS, type BenchContext, type Scenario } from './lib/context.js';
import { nowUs } from './lib/payload.js';
import type { RelayChild } from './lib/relay-child.js';
import { formatNumber, type Figure, type ScenarioReport } from './lib/report.js';
import { summarize } from './lib/stats.js';
import { seededRandom } from './lib/seeded-random.js';

export interface MeshCase {
  clients: number;
  seconds: number;
  /** Whispers started per second, in all; each is answered, so whispers on the wire are twice this. */
  whispersPerSecond: number;
  /** Room messages per second, in all (each reaches the clients - 1 others). */
  roomPerSecond: number;
}

/** 450 whispers + 450 answers + 100 room messages = 1,000 messages a second, for 10 s. */
export const FULL_MESH: MeshCase = { clients: 50, seconds: 10, whispersPerSecond: 450, roomPerSecond: 100 };
export const QUICK_MESH: MeshCase = { clients: 6, seconds: 2, whispersPerSecond: 45, roomPerSecond: 10 };

/** The p99 target: whisper one-way p99 ≤ this × room one-way p99 of the same run. */
const P99_RATIO_TARGET = 2;
const TEXT_BYTES = 64;
const ROOM = 'mesh';

/**
 * A text with its kind, sender, number and send time (µs, monotonic clock), padded to a chat
 * line: `w` a whisper that wants an answer, `a` an answer, `r` a room message.
 */
function meshText(kind: 'w' | 'a' | 'r', sender: number, n: number, sentUs: number): string {
  const head = `${kind}:${sender}:${n}:${sentUs}:`;
  return head + 'x'.repeat(Math.max(0, TEXT_BYTES - head.length));
}

function parseMeshText(text: string): { kind: string; sender: number; n: number; sentUs: number } | null {
  const parts = text.split(':', 4);
  if (parts.length < 4) return null;
  const [kind, sender, n, sentUs] = [parts[0], Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(sender) || !Number.isInteger(n) || !Number.isFinite(sentUs)) return null;
  return { kind, sender, n, sentUs };
}

interface Slot {
  kind: 'w' | 'r';
  /** When it is due, µs after the start. */
  atUs: number;
  from: number;
  /** Whispers: the recipient. */
  to: number;
}

/** The schedule: whispers and room messages interleaved evenly at their rates, random senders and recipients. */
export function meshSchedule(c: MeshCase, seed = 15): Slot[] {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const slots: Slot[] = [];
  const whispers = Math.round(c.whispersPerSecond * c.seconds);
  const rooms = Math.round(c.roomPerSecond * c.seconds);
  for (let k = 0; k < whispers; k++) {
    const from = pick(c.clients);
    const to = (from + 1 + pick(c.clients - 1)) % c.clients;
    slots.push({ kind: 'w', atUs: (k * 1e6) / c.whispersPerSecond, from, to });
  }
  for (let k = 0; k < rooms; k++) slots.push({ kind: 'r', atUs: (k * 1e6) / c.roomPerSecond, from: pick(c.clients), to: -1 });
  return slots.sort((x, y) => x.atUs - y.atUs);
}

interface MeshResult {
  whisperUs: number[];
  /** Send time of each whisper sample (same order), µs after the schedule's start. */
  whisperAtUs: number[];
  /** One-way latency of the whispers that were the first from their sender to their recipient. */
  firstContactUs: number[];
  roomUs: number[];
  roomAtUs: number[];
  whispersSent: number;
  whispersReceived: number;
  roomExpected: number;
  roomReceived: number;
  errors: number;
  errorSamples: string[];
  lagUs: number[];
  elu: number;
  timedOut: boolean;
  firstContacts: number;
}

async function runMesh(ctx: BenchContext, relay: RelayChild, c: MeshCase): Promise<MeshResult> {
  const clientDir = await ctx.makeDir('mesh-clients');
  const clients = Array.from(
    { length: c.clients },
    (_, i) =>
      new RelayLoadClient({
        target: 'relay',
        port: relay.port,
        fingerprint: relay.fingerprint,
        clientDir,
        name: `wm${i}`,
        password: BENCH_PASSWORD,
        register: true,
        room: ROOM,
        clientOptions: { maxUnackedMessages: 100_000 },
      }),
  );
  const result: MeshResult = {
    whisperUs: [], whisperAtUs: [], firstContactUs: [], roomUs: [], roomAtUs: [], whispersSent: 0, whispersReceived: 0,
    roomExpected: 0, roomReceived: 0, errors: 0, errorSamples: [], lagUs: [], elu: Number.NaN, timedOut: false, firstContacts: 0,
  };
  let arrivalsChanged: (() => void) | undefined;
  const failed = (what: string) => (error: unknown) => {
    result.errors += 1;
    if (result.errorSamples.length < 5) result.errorSamples.push(`${what}: ${(error as { code?: string }).code ?? ''} ${(error as Error)?.message ?? String(error)}`);
  };
  /** Sends whose promise has not settled yet (the sender's ok or ack still on its way). */
  let inFlight = 0;
  const track = (sending: Promise<unknown>, what: string) => {
    inFlight += 1;
    sending.catch(failed(what)).finally(() => {
      inFlight -= 1;
      arrivalsChanged?.();
    });
  };
  /** When the schedule starts, µs on the monotonic clock (set just before the first send). */
  let startUs = 0;
  /** Numbers of whispers that are their pair's first contact. */
  const firstOfPair = new Set<string>();
  try {
    const connected = await mapLimit(clients, 10, (client) => client.connect());
    const refused = connected.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (refused) throw new Error(`a mesh client failed to connect: ${String((refused.reason as Error)?.message ?? refused.reason)}`);
    for (const [i, load] of clients.entries()) {
      const client = load.client;
      client.on('whisper', (e) => {
        if (e.own) return;
        const at = nowUs();
        const parsed = parseMeshText(e.text);
        if (!parsed) return;
        result.whispersReceived += 1;
        result.whisperUs.push(at - parsed.sentUs);
        result.whisperAtUs.push(parsed.sentUs - startUs);
        if (parsed.kind === 'w' && firstOfPair.has(`${parsed.sender}:${parsed.n}`)) result.firstContactUs.push(at - parsed.sentUs);
        if (parsed.kind === 'w') {
          // Answered at once, as a person in a conversation would (its own first contact when B never whispered A).
          track(client.whisper(e.from, meshText('a', i, parsed.n, nowUs())), 'answer');
        }
        arrivalsChanged?.();
      });
      client.on('message', (m) => {
        if (m.own) return;
        const parsed = parseMeshText(m.text);
        if (!parsed || parsed.kind !== 'r') return;
        result.roomReceived += 1;
        result.roomUs.push(nowUs() - parsed.sentUs);
        result.roomAtUs.push(parsed.sentUs - startUs);
        arrivalsChanged?.();
      });
    }

    const slots = meshSchedule(c);
    const contacted = new Set<string>();
    for (const [n, slot] of slots.entries()) {
      if (slot.kind !== 'w') continue;
      const pair = `${slot.from}>${slot.to}`;
      if (!contacted.has(pair)) {
        contacted.add(pair);
        firstOfPair.add(`${slot.from}:${n}`);
      }
    }
    result.firstContacts = firstOfPair.size;

    // From here on everything counts: the first whisper is the first contact of its pair.
    const elu0 = performance.eventLoopUtilization();
    startUs = nowUs() + 50_000;
    const deadline = Date.now() + c.seconds * 3_000 + 30_000;
    for (const [n, slot] of slots.entries()) {
      const wait = (startUs + slot.atUs - nowUs()) / 1000;
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, Math.floor(wait)));
      // Behind schedule, still let arrivals in now and then (they are half of what is measured).
      else if (n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      if (Date.now() > deadline) {
        result.timedOut = true;
        break;
      }
      const sentUs = nowUs();
      result.lagUs.push(Math.max(0, sentUs - (startUs + slot.atUs)));
      const sender = clients[slot.from].client;
      if (slot.kind === 'w') {
        result.whispersSent += 1;
        track(sender.whisper(clients[slot.to].client.user, meshText('w', slot.from, n, sentUs)), 'whisper');
      } else {
        result.roomExpected += c.clients - 1;
        track(sender.say(meshText('r', slot.from, n, sentUs)), 'room message');
      }
    }
    // Every whisper answered, every room message delivered and every send settled, or the deadline.
    const done = () => inFlight === 0 && result.whispersReceived >= result.whispersSent * 2 && result.roomReceived >= result.roomExpected;
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        arrivalsChanged = () => {
          if (!done()) return;
          clearTimeout(timer);
          resolve();
        };
      });
    }
    arrivalsChanged = undefined;
    if (!done()) result.timedOut = true;
    result.elu = performance.eventLoopUtilization(elu0).utilization;
    return result;
  } finally {
    await Promise.allSettled(clients.map((client) => client.close()));
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
    let m: MeshResult;
    let loop: { loopDelayP99Ms: number; loopDelayMaxMs: number };
    try {
      await relay.resetLoopDelay();
      m = await runMesh(ctx, relay, c);
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
      { key: 'loadElu', label: 'load thread busy', unit: '0..1', value: m.elu },
      { key: 'loopDelayP99Ms', label: 'relay event-loop delay p99', unit: 'ms', value: loop.loopDelayP99Ms },
    ];
    const notes = [
      `${c.clients} clients of the client core in one chatroom, all in the bench process; the relay in its own. Random sender → recipient pairs (seeded), each whisper answered at once by its receiver.`,
      `one-way: send time written in the text (monotonic clock) → the receiver's event; whispers count both the first whisper and its answer. The ratio column is whisper ÷ room message of this run.`,
      `no warm-up: the first whisper of each pair is that pair's first contact (keys fetched, signature checked, pin written on both sides), and is measured.`,
    ];
    notes.push(`p99 by second of sending, whisper / room (ms): ${bySecond(m.whisperUs, m.whisperAtUs, m.roomUs, m.roomAtUs, c.seconds)}`);
    if (m.elu > 0.9) notes.push('the load thread was busy > 90 % of the time: the figures include load-generator queueing.');
    if (m.timedOut) notes.push('the run hit its deadline before every whisper was answered and every room message delivered.');
    if (m.errors > 0) notes.push(`${m.errors} sends failed, e.g. ${m.errorSamples.join('; ')}`);
    return [{ bench: 'whisper-mesh', case: caseName, figures, notes, columns: ['whisper', 'room message'], extra: { ...c, ratio } }];
  },
};
