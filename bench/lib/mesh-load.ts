/**
 * The whisper-mesh load (bench/whisper-mesh.ts): the schedule, the texts, and `MeshGroup`, the
 * clients one load thread plays. Every thread computes the same seeded schedule and sends the
 * slots whose sender it holds; whispers and answers to its clients, and room messages they
 * receive, are measured where they arrive (send times come from the machine's monotonic clock,
 * the same in every thread). Rooms and whispers share the same threads, so the ratio stays fair.
 */
import { performance } from 'node:perf_hooks';
import { BENCH_PASSWORD, RelayLoadClient, mapLimit } from './clients.js';
import { nowUs } from './payload.js';
import { seededRandom } from './seeded-random.js';

export interface MeshCase {
  clients: number;
  seconds: number;
  /** Whispers started per second, in all; each is answered, so whispers on the wire are twice this. */
  whispersPerSecond: number;
  /** Room messages per second, in all (each reaches the clients - 1 others). */
  roomPerSecond: number;
}

const TEXT_BYTES = 64;
export const MESH_ROOM = 'mesh';

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

/** Numbers of the whispers that are the first from their sender to their recipient. */
function firstContacts(slots: Slot[]): Set<number> {
  const contacted = new Set<string>();
  const first = new Set<number>();
  for (const [n, slot] of slots.entries()) {
    if (slot.kind !== 'w' || contacted.has(`${slot.from}>${slot.to}`)) continue;
    contacted.add(`${slot.from}>${slot.to}`);
    first.add(n);
  }
  return first;
}

/** What a load thread's clients are, where the relay is. */
export interface MeshSpec {
  port: number;
  fingerprint: string;
  clientDir: string;
  c: MeshCase;
  /** The clients this thread plays (indexes into 0..c.clients-1). */
  indexes: number[];
}

/** What one thread measured; merged by the scenario. */
export interface MeshResult {
  whisperUs: number[];
  /** Send time of each whisper sample (same order), µs after the schedule's start. */
  whisperAtUs: number[];
  /** One-way latency of the whispers that were the first from their sender to their recipient. */
  firstContactUs: number[];
  roomUs: number[];
  roomAtUs: number[];
  whispersSent: number;
  whispersReceived: number;
  /** Whispers and answers this thread's clients should receive. */
  whispersExpected: number;
  roomExpected: number;
  roomReceived: number;
  errors: number;
  errorSamples: string[];
  lagUs: number[];
  elu: number;
  timedOut: boolean;
  firstContacts: number;
}

export const clientName = (i: number) => `wm${i}`;

export class MeshGroup {
  private readonly clients = new Map<number, RelayLoadClient>();
  private readonly result: MeshResult = {
    whisperUs: [], whisperAtUs: [], firstContactUs: [], roomUs: [], roomAtUs: [], whispersSent: 0, whispersReceived: 0, whispersExpected: 0,
    roomExpected: 0, roomReceived: 0, errors: 0, errorSamples: [], lagUs: [], elu: Number.NaN, timedOut: false, firstContacts: 0,
  };
  private readonly slots: Slot[];
  private readonly first: Set<number>;
  /** When the schedule starts, µs on the monotonic clock. */
  private startUs = 0;
  /** Sends whose promise has not settled yet (the sender's ok or ack still on its way). */
  private inFlight = 0;
  private arrivalsChanged: (() => void) | undefined;

  constructor(private readonly spec: MeshSpec) {
    this.slots = meshSchedule(spec.c);
    this.first = firstContacts(this.slots);
    for (const i of spec.indexes) {
      this.clients.set(i, new RelayLoadClient({
        target: 'relay', port: spec.port, fingerprint: spec.fingerprint, clientDir: spec.clientDir, name: clientName(i),
        password: BENCH_PASSWORD, register: true, room: MESH_ROOM, clientOptions: { maxUnackedMessages: 100_000 },
      }));
    }
  }

  async connect(): Promise<void> {
    const connected = await mapLimit([...this.clients.values()], 10, (client) => client.connect());
    const refused = connected.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (refused) throw new Error(`a mesh client failed to connect: ${String((refused.reason as Error)?.message ?? refused.reason)}`);
    for (const [i, load] of this.clients) this.listen(i, load);
  }

  private failed(what: string): (error: unknown) => void {
    return (error) => {
      this.result.errors += 1;
      if (this.result.errorSamples.length < 5) this.result.errorSamples.push(`${what}: ${(error as { code?: string }).code ?? ''} ${(error as Error)?.message ?? String(error)}`);
    };
  }

  private track(sending: Promise<unknown>, what: string): void {
    this.inFlight += 1;
    sending.catch(this.failed(what)).finally(() => {
      this.inFlight -= 1;
      this.arrivalsChanged?.();
    });
  }

  private listen(i: number, load: RelayLoadClient): void {
    const { result } = this;
    const client = load.client;
    client.on('whisper', (e) => {
      if (e.own) return;
      const at = nowUs();
      const parsed = parseMeshText(e.text);
      if (!parsed) return;
      result.whispersReceived += 1;
      result.whisperUs.push(at - parsed.sentUs);
      result.whisperAtUs.push(parsed.sentUs - this.startUs);
      if (parsed.kind === 'w' && this.first.has(parsed.n)) result.firstContactUs.push(at - parsed.sentUs);
      // Answered at once, as a person in a conversation would (its own first contact when B never whispered A).
      if (parsed.kind === 'w') this.track(client.whisper(e.from, meshText('a', i, parsed.n, nowUs())), 'answer');
      this.arrivalsChanged?.();
    });
    client.on('message', (m) => {
      if (m.own) return;
      const parsed = parseMeshText(m.text);
      if (!parsed || parsed.kind !== 'r') return;
      result.roomReceived += 1;
      result.roomUs.push(nowUs() - parsed.sentUs);
      result.roomAtUs.push(parsed.sentUs - this.startUs);
      this.arrivalsChanged?.();
    });
  }

  /** Sends this thread's part of the schedule from `startUs` and waits for what its clients should receive. */
  async run(startUs: number): Promise<MeshResult> {
    const { result, spec } = this;
    const c = spec.c;
    this.startUs = startUs;
    for (const [n, slot] of this.slots.entries()) {
      if (slot.kind === 'w') {
        if (this.clients.has(slot.to)) result.whispersExpected += 1;
        if (this.clients.has(slot.from)) result.whispersExpected += 1; // its answer
        if (this.clients.has(slot.from) && this.first.has(n)) result.firstContacts += 1;
      } else {
        result.roomExpected += this.clients.size - (this.clients.has(slot.from) ? 1 : 0);
      }
    }
    const elu0 = performance.eventLoopUtilization();
    const deadline = Date.now() + c.seconds * 3_000 + 30_000;
    for (const [n, slot] of this.slots.entries()) {
      const sender = this.clients.get(slot.from);
      if (!sender) continue;
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
      if (slot.kind === 'w') {
        result.whispersSent += 1;
        this.track(sender.client.whisper(clientName(slot.to), meshText('w', slot.from, n, sentUs)), 'whisper');
      } else {
        this.track(sender.client.say(meshText('r', slot.from, n, sentUs)), 'room message');
      }
    }
    // Every whisper and answer to these clients, every room delivery and every send settled, or the deadline.
    const done = () => this.inFlight === 0 && result.whispersReceived >= result.whispersExpected && result.roomReceived >= result.roomExpected;
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.arrivalsChanged = () => {
          if (!done()) return;
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.arrivalsChanged = undefined;
    if (!done()) result.timedOut = true;
    result.elu = performance.eventLoopUtilization(elu0).utilization;
    return result;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.clients.values()].map((client) => client.close()));
  }
}
