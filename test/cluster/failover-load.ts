/**
 * Failover under chat, shared by the failover test (test/cluster/failover.test.ts, which
 * asserts the targets) and the failover bench (bench/failover.ts, which prints the figures
 * against them): client cores (ChatClient) behind HAProxy that reconnect and resume by
 * themselves, chat paced by the clock, one relay stopped with a signal, and the delivery
 * check (every acknowledged message to every member once, in order).
 *
 * A step that must hold for the run to mean anything (chat flowing, some clients on the
 * relay, every moved client resumed) throws an Error saying what did not happen.
 */
import { join } from 'node:path';
import { ChatClient } from '../../tui/core/client.js';
import type { ChatMessage } from '../../tui/core/events.js';
import { TEST_PASSWORD } from '../helpers/clients.js';
import { Recorder } from '../helpers/recorder.js';
import { within, type Cluster, type ClusterRelay } from './cluster-fixture.js';

export const FAILOVER_ROOM = 'failover';

/** The issue's targets: every client back within 5 s of a kill -9, within 2 s of a SIGTERM; nothing lost or twice. */
export const BACK_WITHIN_MS = { SIGKILL: 5_000, SIGTERM: 2_000 } as const;

export interface Member {
  user: string;
  client: ChatClient;
  rec: Recorder;
  /** When each `connected` event fired (Date.now()), taken by a listener as it fires. */
  connectedAt: number[];
}

export interface DeliveryCheck {
  /** (member, acknowledged message of another member) pairs that never arrived. */
  lost: number;
  duplicates: number;
  outOfOrder: number;
  delivered: number;
  /** The first few lost pairs, to tell where to look. */
  lostSamples: LostMessage[];
}

export interface LostMessage {
  /** Who did not get it; for a member that was on the stopped relay, when it was back (ms after the signal). */
  member: string;
  memberBackMs?: number;
  sender: string;
  senderMoved: boolean;
  /** The message's sequence id, and when its sender got the ack (ms after the signal; negative: before it). */
  seq: number;
  ackedAfterSignalMs: number;
  /** The member's messages on either side of the gap, and whether each came after its reconnect. */
  previous?: { seq: number; afterReconnect: boolean };
  next?: { seq: number; afterReconnect: boolean };
  /** The member's first `joined` after the signal: a rejoin (missed messages follow as events) or a fresh join with history. */
  joinedAgain?: { rejoined: boolean; historySeqs: number[] };
}

/** One line per lost pair, for a report. */
export function describeLost(lost: LostMessage): string {
  const near = (what: string, got: LostMessage['previous']) =>
    got === undefined ? `no ${what}` : `${what} seq ${got.seq} ${got.afterReconnect ? 'after' : 'before'} its reconnect`;
  return (
    `${lost.member}${lost.memberBackMs !== undefined ? ` (moved, back ${lost.memberBackMs} ms after the signal)` : ''} missed seq ${lost.seq} ` +
    `from ${lost.sender}${lost.senderMoved ? ' (moved)' : ''}, acked ${lost.ackedAfterSignalMs} ms after the signal; it got ${near('previous', lost.previous)}, ${near('next', lost.next)}` +
    (lost.joinedAgain
      ? `; its joined after the signal: rejoined ${lost.joinedAgain.rejoined}, history ${lost.joinedAgain.historySeqs.length > 0 ? `seq ${lost.joinedAgain.historySeqs[0]}-${lost.joinedAgain.historySeqs[lost.joinedAgain.historySeqs.length - 1]}` : 'empty'}`
      : '')
  );
}

export interface FailoverRun {
  /** Per moved client, ms from the signal to its next `connected`, sorted. */
  times: number[];
  /** Clients HAProxy had on the stopped relay when the signal went. */
  onRelay: number;
  /** Clients told `bye` E_SHUTDOWN after the signal (the SIGTERM case: each of the stopped relay's). */
  shutdownSeen: number;
  delivery: DeliveryCheck;
  /** Messages per second achieved over the whole send period. */
  rate: number;
  sent: number;
  acked: number;
  refused: number;
}

/** Polls `condition` every 20 ms for at most `ms` (for state spread over many clients); true once it holds. */
export async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Nearest rank on an ascending list. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

/**
 * `count` clients through HAProxy, client i from 127.0.`net`.(i+2), all in FAILOVER_ROOM. Each
 * is pushed onto `into` as soon as it exists, so the caller closes it whatever happens next.
 */
export async function members(cluster: Cluster, count: number, net: number, into: Member[]): Promise<Member[]> {
  const made: Member[] = [];
  for (let i = 0; i < count; i++) {
    const user = `u${net}x${i}`;
    const client = new ChatClient({
      host: '127.0.0.1',
      port: cluster.haproxyPort,
      user,
      password: TEST_PASSWORD,
      register: true,
      trust: { fingerprint: cluster.fingerprint },
      configDir: join(cluster.dir.path, 'clients', user, 'config'),
      dataDir: join(cluster.dir.path, 'clients', user, 'data'),
      localAddress: `127.0.${net}.${i + 2}`,
      // The product's reconnect backoff (0.5 s, 1 s, ... with jitter): the figures are what users get.
    });
    const connectedAt: number[] = [];
    client.on('connected', () => connectedAt.push(Date.now()));
    const member = { user, client, rec: new Recorder(client, 20_000), connectedAt };
    into.push(member);
    made.push(member);
  }
  // A few at a time: registrations and key generation are CPU work on a shared machine.
  for (let i = 0; i < made.length; i += 6) await Promise.all(made.slice(i, i + 6).map((m) => m.client.connect()));
  await made[0].client.create(FAILOVER_ROOM);
  for (let i = 1; i < made.length; i += 6) await Promise.all(made.slice(i, i + 6).map((m) => m.client.join(FAILOVER_ROOM)));
  return made;
}

/**
 * Round-robin chat at `ratePerSecond` in total until `stop()`; bounded by `maxMessages`.
 * `acks`: per client id acknowledged, its sender, sequence id and when the ack came.
 */
function chat(chatters: Member[], ratePerSecond: number, maxMessages: number) {
  const acks = new Map<string, Ack>();
  const pending: Array<Promise<unknown>> = [];
  let sent = 0;
  let refused = 0;
  // Paced by the clock, not by counting ticks: on a busy machine timers fire late, and the
  // messages due meanwhile go out on the next tick.
  const started = Date.now();
  const timer = setInterval(() => {
    const due = Math.min(maxMessages, Math.floor(((Date.now() - started) * ratePerSecond) / 1000));
    while (sent < due) {
      const member = chatters[sent % chatters.length];
      const n = sent++;
      pending.push(
        member.client.say(`${member.user} #${n}`).then(
          (ack) => void acks.set(ack.id, { sender: member.user, seq: ack.seq, at: Date.now() }),
          () => void refused++,
        ),
      );
    }
    if (sent >= maxMessages) clearInterval(timer);
  }, 10);
  return {
    acks,
    get sent() {
      return sent;
    },
    get refused() {
      return refused;
    },
    ackedCount: () => acks.size,
    /** Stops sending (a failed run must not leave the timer running). */
    halt: () => clearInterval(timer),
    /** Stops sending and waits (bounded) until every send is acknowledged or refused. */
    async stop(): Promise<void> {
      clearInterval(timer);
      await within(Promise.all(pending), 30_000, 'every send answered');
    },
  };
}

interface Ack {
  sender: string;
  seq: number;
  /** Date.now() when the sender got it. */
  at: number;
}

function roomMessages(member: Member): ChatMessage[] {
  return member.rec.of('message').filter((m) => !m.own && m.room === FAILOVER_ROOM);
}

/**
 * Per member: messages of the others in strictly increasing seq, no id twice, and every id the
 * others had acknowledged present. Waits (bounded) for the last deliveries first.
 */
async function checkDelivery(all: Member[], acks: Map<string, Ack>, describe: (member: Member, ack: Ack) => LostMessage): Promise<DeliveryCheck> {
  const expected = (member: Member): string[] => [...acks].filter(([, ack]) => ack.sender !== member.user).map(([id]) => id);
  await until(() => all.every((member) => {
    const got = new Set(roomMessages(member).map((m) => m.id));
    return expected(member).every((id) => got.has(id));
  }), 15_000);
  let lost = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let delivered = 0;
  const lostSamples: LostMessage[] = [];
  for (const member of all) {
    const got = roomMessages(member);
    delivered += got.length;
    const ids = new Set(got.map((m) => m.id));
    duplicates += got.length - ids.size;
    for (let i = 1; i < got.length; i++) if (got[i].seq <= got[i - 1].seq) outOfOrder++;
    const missing = expected(member).filter((id) => !ids.has(id));
    lost += missing.length;
    for (const id of missing.slice(0, Math.max(0, 5 - lostSamples.length))) lostSamples.push(describe(member, acks.get(id)!));
  }
  return { lost, duplicates, outOfOrder, delivered, lostSamples };
}

/**
 * Stops `relay` with `signal` during chat at `rate` msg/s and measures, for each client that
 * was on it, the time from the signal to its next `connected`; then chats on with everyone
 * back, stops, and checks delivery. Sending is bounded by 60 s worth of messages.
 */
export async function failoverRun(cluster: Cluster, all: Member[], relay: ClusterRelay, signal: 'SIGKILL' | 'SIGTERM', rate: number): Promise<FailoverRun> {
  const trafficStarted = Date.now();
  const traffic = chat(all, rate, rate * 60);
  try {
    // Two seconds' worth acknowledged before, two seconds' worth after everyone is back.
    check(await until(() => traffic.ackedCount() >= 2 * rate, 20_000), 'chat is flowing before the relay goes');
    const onRelay = (await cluster.sessionsPerRelay()).get(relay.relayId) ?? 0;
    check(onRelay >= 1, `some clients are on ${relay.relayId} (HAProxy: ${onRelay})`);
    const marks = all.map((m) => m.rec.mark());
    const signalledAt = Date.now();
    process.kill(relay.child.pid!, signal);
    // The clients that were on it: each sees its connection go, then connects (resumes) again.
    const dropped = (): number[] => all.map((m, i) => i).filter((i) => all[i].rec.of('disconnected', marks[i]).length > 0);
    check(await until(() => dropped().length >= onRelay, 10_000), `the ${onRelay} clients on ${relay.relayId} lost their connection (saw ${dropped().length})`);
    const moved = dropped();
    const back = await Promise.all(moved.map((i) => all[i].rec.waitFor('connected', () => true, marks[i])));
    await within(relay.exited, 10_000, `${relay.relayId} exits`);
    const times = moved.map((i) => all[i].connectedAt.find((at) => at >= signalledAt)! - signalledAt).sort((a, b) => a - b);
    check(back.every((connected) => connected.resumed), 'every moved client resumed its session');
    check(all.every((m) => m.client.state === 'online'), 'every client is online');
    const shutdownSeen = all.filter((m, i) => m.rec.of('disconnected', marks[i]).some((e) => e.code === 'E_SHUTDOWN')).length;
    // A little more chat with everyone back, then stop and settle.
    const ackedBefore = traffic.ackedCount();
    check(await until(() => traffic.ackedCount() >= ackedBefore + 2 * rate, 20_000), 'chat goes on after the failover');
    const sendSeconds = (Date.now() - trafficStarted) / 1000;
    await traffic.stop();
    const movedUsers = new Set(moved.map((i) => all[i].user));
    const delivery = await checkDelivery(all, traffic.acks, (member, ack) => {
      const i = all.indexOf(member);
      // Where the member's record has its reconnect, and the messages it got either side of the gap.
      const events = member.rec.events;
      const reconnectAt = events.findIndex((e, k) => k >= marks[i] && e.type === 'connected');
      const seen = (k: number) => ({ seq: (events[k] as ChatMessage).seq, afterReconnect: reconnectAt >= 0 && k > reconnectAt });
      const messages = events.map((e, k) => [e, k] as const).filter(([e]) => e.type === 'message' && !e.own && e.room === FAILOVER_ROOM);
      const previous = messages.filter(([e]) => (e as ChatMessage).seq < ack.seq).pop();
      const next = messages.find(([e]) => (e as ChatMessage).seq > ack.seq);
      const back = member.connectedAt.find((at) => at >= signalledAt);
      const joined = member.rec.of('joined', marks[i])[0];
      return {
        member: member.user,
        ...(movedUsers.has(member.user) && back !== undefined ? { memberBackMs: back - signalledAt } : {}),
        sender: ack.sender,
        senderMoved: movedUsers.has(ack.sender),
        seq: ack.seq,
        ackedAfterSignalMs: ack.at - signalledAt,
        ...(previous ? { previous: seen(previous[1]) } : {}),
        ...(next ? { next: seen(next[1]) } : {}),
        ...(joined ? { joinedAgain: { rejoined: joined.rejoined, historySeqs: joined.history.map((m) => m.seq) } } : {}),
      };
    });
    return { times, onRelay, shutdownSeen, delivery, rate: Math.round(traffic.sent / sendSeconds), sent: traffic.sent, acked: traffic.ackedCount(), refused: traffic.refused };
  } finally {
    traffic.halt();
  }
}
