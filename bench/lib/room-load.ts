/**
 * A group of load clients in one room, all of them senders and receivers: the engine of the
 * fan-out scenario and of the chat probe in the login scenario. It runs in a worker thread
 * (load-worker.ts) so the bench's main thread stays free to watch the relay; several workers
 * can share one plan (each owns some of the clients).
 *
 * Plans:
 * - rate: message k (0 ≤ k < senders × perSender) is due at start + k / rate; its sender is
 *   k mod senders. Aggregate rate `ratePerSecond`, spread evenly over the senders.
 * - window: flat out; every sender keeps `window` messages waiting for their ack.
 * Every receiver checks every other sender's stream: each message once, in order.
 */
import { performance } from 'node:perf_hooks';
import { StreamCheck } from './stats.js';
import { createLoadClient, mapLimit, type LoadClient, type LoadClientSpec } from './clients.js';
import { makeText, nowUs, parseText, TYPICAL_TEXT_BYTES } from './payload.js';

export interface GroupSpec extends Omit<LoadClientSpec, 'name'> {
  namePrefix: string;
  /** Global indexes of the clients this group owns (names are namePrefix + index). */
  indexes: number[];
  /** Logins in flight at once while connecting. */
  connectConcurrency?: number;
  /**
   * Relays of a cluster to spread the clients over: client i connects to ports[i mod length]
   * (same certificate on every one). Absent: every client connects to `port`.
   */
  ports?: number[];
  /**
   * The worker thread lowers its own priority to this nice value (Linux; relay/thread-priority.ts)
   * before it connects: load that stands for other machines, whose CPU on a shared 2-core box
   * would otherwise be charged to the system under test.
   */
  threadNice?: number;
}

/** A room's load in a scenario: every client sends its messages, paced into the room or flat out. */
export interface RoomLoad {
  clients: number;
  messagesPerClient: number;
  /** Aggregate messages per second into the room; undefined = flat out (windowed by acks). */
  ratePerSecond?: number;
  /** Flat out: messages each sender keeps waiting for their ack. */
  window?: number;
}

/**
 * The plan of one measured run of `load` by all its clients: it starts 100 ms from now (so
 * every thread has the plan) and gives up at three times its paced length plus some slack.
 */
export function roomLoadPlan(load: RoomLoad, quick: boolean): RunPlan {
  const expectedSeconds = load.ratePerSecond ? (load.clients * load.messagesPerClient) / load.ratePerSecond : 0;
  return {
    mode: load.ratePerSecond ? 'rate' : 'window',
    senders: load.clients,
    messagesPerSender: load.messagesPerClient,
    ratePerSecond: load.ratePerSecond,
    window: load.window,
    startAtUs: nowUs() + 100_000,
    deadlineMs: Math.round(expectedSeconds * 3_000) + (quick ? 10_000 : 60_000),
  };
}

export interface RunPlan {
  mode: 'rate' | 'window';
  /** All senders of the plan, across groups: clients 0..senders-1. */
  senders: number;
  messagesPerSender: number;
  /** rate mode: aggregate messages per second. */
  ratePerSecond?: number;
  /** window mode: messages per sender waiting for their ack. */
  window?: number;
  /** When message 0 is due (µs, monotonic clock); shared by all groups. */
  startAtUs: number;
  /** The run ends at this point even when deliveries are missing. */
  deadlineMs: number;
  textBytes?: number;
}

export interface RunResult {
  expected: number;
  received: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  sent: number;
  acked: number;
  sendErrors: number;
  errorSamples: string[];
  /** One-way latency of each delivery, µs. */
  latencyUs: Float64Array;
  /** Send time of each delivery (same order), µs on the monotonic clock. */
  sentAtUs: Float64Array;
  /** rate mode: how late each send was against its schedule, µs (the load generator's own lag). */
  lagUs: Float64Array;
  firstSendUs: number;
  lastDeliveryUs: number;
  lastAckUs: number;
  /** Event-loop utilisation of this group's thread during the run, 0..1 (near 1: the generator is the bottleneck). */
  eventLoopUtilization: number;
  timedOut: boolean;
}

export interface ConnectResult {
  connected: number;
  failed: number;
  errorSamples: string[];
  millis: number;
}

export class RoomLoadGroup {
  private readonly clients: LoadClient[];
  private onDelivery: ((receiver: number, from: string, text: string) => void) | undefined;

  constructor(private readonly spec: GroupSpec) {
    const portOf = (index: number) => (spec.ports && spec.ports.length > 0 ? spec.ports[index % spec.ports.length] : spec.port);
    this.clients = spec.indexes.map((index) => createLoadClient({ ...spec, port: portOf(index), name: `${spec.namePrefix}${index}` }));
    this.clients.forEach((client, local) => client.onText((from, text) => this.onDelivery?.(local, from, text)));
  }

  async connect(): Promise<ConnectResult> {
    const started = performance.now();
    const results = await mapLimit(this.clients, this.spec.connectConcurrency ?? 20, (client) => client.connect());
    const failures = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    return {
      connected: results.length - failures.length,
      failed: failures.length,
      errorSamples: failures.slice(0, 3).map((f) => describe(f.reason)),
      millis: performance.now() - started,
    };
  }

  run(plan: RunPlan): Promise<RunResult> {
    const { senders, messagesPerSender: perSender } = plan;
    const local = this.spec.indexes;
    const localCount = local.length;
    const isLocalSender = local.map((index) => index < senders);
    const receiversExpectEach = senders * perSender;
    let expected = 0;
    for (const index of local) expected += receiversExpectEach - (index < senders ? perSender : 0);

    const checks: StreamCheck[][] = local.map(() => Array.from({ length: senders }, () => new StreamCheck(perSender)));
    const latencyUs = new Float64Array(expected);
    const sentAtUs = new Float64Array(expected);
    let received = 0;
    let strays = 0;
    let lastDeliveryUs = 0;
    const ownSenders = local.filter((_, i) => isLocalSender[i]).length;
    const sendsTotal = ownSenders * perSender;
    const lagUs = new Float64Array(plan.mode === 'rate' ? sendsTotal : 0);
    let sent = 0;
    let acked = 0;
    let sendErrors = 0;
    const errorSamples: string[] = [];
    let firstSendUs = 0;
    let lastAckUs = 0;
    const textBytes = plan.textBytes ?? TYPICAL_TEXT_BYTES;
    const eluStart = performance.eventLoopUtilization();

    return new Promise<RunResult>((resolve) => {
      let finished = false;
      let scheduleTimer: NodeJS.Timeout | undefined;
      const finish = (timedOut: boolean) => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        if (scheduleTimer) clearTimeout(scheduleTimer);
        this.onDelivery = undefined;
        let missing = 0;
        let duplicates = strays;
        let outOfOrder = 0;
        checks.forEach((row, r) =>
          row.forEach((check, s) => {
            if (s === local[r]) return; // nobody receives their own messages
            missing += check.missing;
            duplicates += check.duplicates;
            outOfOrder += check.outOfOrder;
          }),
        );
        resolve({
          expected,
          received,
          missing,
          duplicates,
          outOfOrder,
          sent,
          acked,
          sendErrors,
          errorSamples,
          latencyUs: latencyUs.slice(0, Math.min(received, expected)),
          sentAtUs: sentAtUs.slice(0, Math.min(received, expected)),
          lagUs: lagUs.slice(0, Math.min(sent, lagUs.length)),
          firstSendUs,
          lastDeliveryUs,
          lastAckUs,
          eventLoopUtilization: performance.eventLoopUtilization(eluStart).utilization,
          timedOut,
        });
      };
      const deadline = setTimeout(() => finish(true), plan.deadlineMs);
      const checkDone = () => {
        if (received >= expected && acked + sendErrors >= sendsTotal) finish(false);
      };

      this.onDelivery = (receiver, _from, text) => {
        const now = nowUs();
        const fields = parseText(text);
        if (!fields || fields.sender < 0 || fields.sender >= senders) {
          strays += 1;
          return;
        }
        checks[receiver][fields.sender].note(fields.index);
        if (received < expected) {
          latencyUs[received] = now - fields.sentUs;
          sentAtUs[received] = fields.sentUs;
        }
        received += 1;
        lastDeliveryUs = now;
        if (received >= expected) checkDone();
      };

      const sendOne = (localIndex: number, messageIndex: number): Promise<void> => {
        const client = this.clients[localIndex];
        const sentUs = nowUs();
        if (sent === 0) firstSendUs = sentUs;
        sent += 1;
        return client.send(makeText({ sender: local[localIndex], index: messageIndex, sentUs }, textBytes)).then(
          () => {
            acked += 1;
            lastAckUs = nowUs();
            checkDone();
          },
          (error: unknown) => {
            sendErrors += 1;
            if (errorSamples.length < 3) errorSamples.push(describe(error));
            checkDone();
          },
        );
      };

      if (sendsTotal === 0) {
        checkDone();
        return;
      }

      if (plan.mode === 'window') {
        const window = Math.max(1, plan.window ?? 1);
        const startSender = (localIndex: number) => {
          let next = 0;
          const pump = (): void => {
            if (finished || next >= perSender) return;
            const index = next++;
            void sendOne(localIndex, index).then(pump);
          };
          for (let w = 0; w < window; w++) pump();
        };
        const begin = () => {
          for (let i = 0; i < localCount; i++) if (isLocalSender[i]) startSender(i);
        };
        scheduleTimer = setTimeout(begin, Math.max(0, (plan.startAtUs - nowUs()) / 1000));
        return;
      }

      // rate mode: walk this group's share of the global schedule in order.
      const intervalUs = 1e6 / Math.max(1e-9, plan.ratePerSecond ?? 1000);
      const ownLocal = local.map((_, i) => i).filter((i) => isLocalSender[i]);
      let round = 0;
      let position = 0;
      let lagCount = 0;
      const dueAt = (r: number, p: number) => plan.startAtUs + (r * senders + local[ownLocal[p]]) * intervalUs;
      const tick = () => {
        scheduleTimer = undefined;
        if (finished) return;
        const now = nowUs();
        while (round < perSender) {
          const due = dueAt(round, position);
          if (due > now) break;
          lagUs[lagCount++] = now - due;
          void sendOne(ownLocal[position], round);
          position += 1;
          if (position >= ownLocal.length) {
            position = 0;
            round += 1;
          }
        }
        if (round < perSender) scheduleTimer = setTimeout(tick, Math.max(0, (dueAt(round, position) - nowUs()) / 1000));
      };
      scheduleTimer = setTimeout(tick, Math.max(0, (plan.startAtUs - nowUs()) / 1000));
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((client) => client.close()));
  }
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e?.code ? `${e.code}: ${e.message ?? ''}` : String(e?.message ?? error);
}
