/**
 * `npm run test:cluster`: failover with the real programs. A real redis-server, three relays as
 * their own processes (test/cluster/relay-child.ts, so one can be SIGKILLed for real), a real
 * haproxy in front rendered from the shared template (relay/cluster/haproxy-config.ts), and
 * client cores (ChatClient) that reconnect and resume by themselves. Each client connects from
 * its own loopback address (127.0.x.y); HAProxy spreads the connections over the relays (least
 * connections) and the relays' per-address limits apply to each client on its own.
 *
 * Skipped, with a line saying so, when haproxy or redis-server is not installed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Limits } from '../../shared/limits.js';
import { CERT_FILE_NAME, KEY_FILE_NAME, loadOrCreateCertificate } from '../../relay/certs.js';
import { findHaproxy, startHaproxy, type HaproxyProcess } from '../../relay/cluster/haproxy-process.js';
import { freeLoopbackPort, redisServerAvailable, startRedis, type RedisProcess } from '../../relay/cluster/redis-process.js';
import { ChatClient } from '../../tui/core/client.js';
import type { ChatMessage } from '../../tui/core/events.js';
import { TEST_PASSWORD } from '../helpers/clients.js';
import { Recorder } from '../helpers/recorder.js';
import { tempDir } from '../helpers/relay.js';
import { WireClient } from '../helpers/wire-client.js';
import type { RelayChildConfig } from './relay-child.js';

const RELAY_CHILD = join(dirname(fileURLToPath(import.meta.url)), 'relay-child.js');
const ROOM = 'failover';

/**
 * Test 1's load, as the issue asks: 60 clients at 200 msg/s in total (3.3 msg/s each, well
 * under the relay's flood limit). On a 2-core machine shared with other work this passed with
 * the last client back in ~1 s; SECURECHAT_FAILOVER_CLIENTS / SECURECHAT_FAILOVER_RATE lower
 * (or raise) it for a slower (or larger) machine.
 */
const CLIENTS = Number(process.env.SECURECHAT_FAILOVER_CLIENTS ?? 60);
const RATE_PER_SECOND = Number(process.env.SECURECHAT_FAILOVER_RATE ?? 200);

/** The relays' limits: a short presence grace, few connections per address (test 3), no flood refusals at this rate. */
const RELAY_LIMITS: Partial<Limits> = { presenceGraceMs: 2_000, connectionsPerAddress: 4 };

interface RelayChild {
  relayId: string;
  port: number;
  child: ChildProcess;
  exited: Promise<unknown>;
}

interface Member {
  user: string;
  client: ChatClient;
  rec: Recorder;
}

type Ctx = {
  dir: { path: string; remove: () => Promise<void> };
  redis: RedisProcess;
  relays: RelayChild[];
  haproxy: HaproxyProcess;
  haproxyPort: number;
  fingerprint: string;
  members: Member[];
  wires: WireClient[];
  /** Every relay's and HAProxy's log lines, printed when a test fails. */
  logs: string[];
};

const failover = suite<Ctx>('failover behind HAProxy: three relay processes on one Redis');
const haproxyBinary = await findHaproxy();
const ready = haproxyBinary !== undefined && redisServerAvailable();
if (!ready) console.log('failover tests skipped: they need haproxy and redis-server (Debian: apt-get install haproxy redis-server)');

/** Resolves with `promise`, or rejects after `ms` saying what did not happen. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `condition` every 20 ms for at most `ms` (for state spread over many clients); true once it holds. */
async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

async function startRelayChild(ctx: Ctx, relayId: string): Promise<RelayChild> {
  const certificate = join(ctx.dir.path, 'certificate');
  const config: RelayChildConfig = {
    relayId,
    redisUrl: ctx.redis.url,
    dataDir: join(ctx.dir.path, relayId),
    filesDir: join(ctx.dir.path, 'files'),
    certFile: join(certificate, CERT_FILE_NAME),
    keyFile: join(certificate, KEY_FILE_NAME),
    // HAProxy connects from 127.0.0.1 and names the client in its PROXY v2 header.
    trustedProxies: ['127.0.0.1'],
    limits: RELAY_LIMITS,
  };
  const child = spawn(process.execPath, [RELAY_CHILD, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  createInterface({ input: child.stderr! }).on('line', (line) => ctx.logs.push(`[${relayId}] ${line}`));
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await within(Promise.race([once(lines, 'line'), exited.then(() => [undefined])]), 20_000, `relay ${relayId} starting`)) as [string | undefined];
  if (!first) throw new Error(`relay ${relayId} did not start:\n${ctx.logs.join('\n')}`);
  const { port } = JSON.parse(first) as { port: number };
  return { relayId, port, child, exited };
}

/** SIGTERM (the relay's clean shutdown), SIGKILL if it is still there after 10 s. */
async function stopRelayChild(relay: RelayChild): Promise<void> {
  if (relay.child.exitCode !== null || relay.child.signalCode !== null) return;
  relay.child.kill('SIGTERM');
  await within(relay.exited, 10_000, `relay ${relay.relayId} stopping`).catch(() => {
    relay.child.kill('SIGKILL');
    return relay.exited;
  });
}

/** `show stat` on HAProxy's admin socket: current sessions per relay (scur). */
function sessionsPerRelay(ctx: Ctx): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const socket = connect(join(ctx.dir.path, 'haproxy', 'admin.sock'), () => socket.write('show stat\n'));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const sessions = new Map<string, number>();
      for (const line of text.split('\n')) {
        const [proxy, server, , , scur] = line.split(',');
        if (proxy === 'relays' && server !== 'BACKEND' && server !== undefined) sessions.set(server, Number(scur));
      }
      resolve(sessions);
    });
  });
}

failover.before.each(async (ctx) => {
  ctx.logs = [];
  ctx.members = [];
  ctx.wires = [];
  ctx.relays = [];
  ctx.dir = await tempDir('securechat-failover-');
  // One certificate for every relay: clients pin one fingerprint, whichever relay they reach.
  ctx.fingerprint = (await loadOrCreateCertificate(join(ctx.dir.path, 'certificate'))).fingerprint;
  ctx.redis = await startRedis(join(ctx.dir.path, 'redis'));
  for (const relayId of ['r1', 'r2', 'r3']) ctx.relays.push(await startRelayChild(ctx, relayId));
  ctx.haproxyPort = await freeLoopbackPort();
  ctx.haproxy = await startHaproxy(haproxyBinary!, join(ctx.dir.path, 'haproxy'), {
    host: '127.0.0.1',
    port: ctx.haproxyPort,
    relays: ctx.relays.map((relay) => ({ name: relay.relayId, address: `127.0.0.1:${relay.port}` })),
    log: (line) => ctx.logs.push(`[haproxy] ${line}`),
  });
});

failover.after.each(async (ctx) => {
  // Never throw from here: uvu would swallow the test's own failure.
  await Promise.all(ctx.members.map((member) => member.client.close().catch(() => {})));
  for (const wire of ctx.wires) wire.close();
  await Promise.all(ctx.relays.map((relay) => stopRelayChild(relay).catch(() => {})));
  await ctx.haproxy?.stop().catch(() => {});
  await ctx.redis?.stop().catch(() => {});
  await ctx.dir.remove().catch(() => {});
});

/** `count` clients through HAProxy, client i from 127.0.`net`.(i+2), all in ROOM. */
async function members(ctx: Ctx, count: number, net: number): Promise<Member[]> {
  const made: Member[] = [];
  for (let i = 0; i < count; i++) {
    const user = `u${net}x${i}`;
    const client = new ChatClient({
      host: '127.0.0.1',
      port: ctx.haproxyPort,
      user,
      password: TEST_PASSWORD,
      register: true,
      trust: { fingerprint: ctx.fingerprint },
      configDir: join(ctx.dir.path, 'clients', user, 'config'),
      dataDir: join(ctx.dir.path, 'clients', user, 'data'),
      localAddress: `127.0.${net}.${i + 2}`,
      // The product's reconnect backoff (0.5 s, 1 s, ... with jitter): the figures are what users get.
    });
    const member = { user, client, rec: new Recorder(client, 20_000) };
    ctx.members.push(member);
    made.push(member);
  }
  // A few at a time: registrations and key generation are CPU work on a shared machine.
  for (let i = 0; i < made.length; i += 6) await Promise.all(made.slice(i, i + 6).map((m) => m.client.connect()));
  await made[0].client.create(ROOM);
  for (let i = 1; i < made.length; i += 6) await Promise.all(made.slice(i, i + 6).map((m) => m.client.join(ROOM)));
  return made;
}

/**
 * Round-robin chat at `ratePerSecond` in total until `stop()`; bounded by `maxMessages`.
 * `acked`: the client ids each sender got an ack for.
 */
function chat(chatters: Member[], ratePerSecond: number, maxMessages: number) {
  const acked = new Map<string, Set<string>>(chatters.map((m) => [m.user, new Set<string>()]));
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
          (ack) => acked.get(member.user)!.add(ack.id),
          () => void refused++,
        ),
      );
    }
    if (sent >= maxMessages) clearInterval(timer);
  }, 10);
  return {
    acked,
    get sent() {
      return sent;
    },
    get refused() {
      return refused;
    },
    ackedCount: () => [...acked.values()].reduce((sum, ids) => sum + ids.size, 0),
    /** Stops sending (a failed test must not leave the timer running). */
    halt: () => clearInterval(timer),
    /** Stops sending and waits (bounded) until every send is acknowledged or refused. */
    async stop(): Promise<void> {
      clearInterval(timer);
      await within(Promise.all(pending), 30_000, 'every send answered');
    },
  };
}

function roomMessages(member: Member): ChatMessage[] {
  return member.rec.of('message').filter((m) => !m.own && m.room === ROOM);
}

/**
 * Per member: messages of the others in strictly increasing seq, no id twice, and every id the
 * others had acknowledged present. Waits (bounded) for the last deliveries first.
 */
async function checkDelivery(all: Member[], acked: Map<string, Set<string>>): Promise<{ lost: number; duplicates: number; outOfOrder: number; delivered: number }> {
  const expected = (member: Member): string[] => all.filter((m) => m !== member).flatMap((m) => [...acked.get(m.user)!]);
  await until(() => all.every((member) => {
    const got = new Set(roomMessages(member).map((m) => m.id));
    return expected(member).every((id) => got.has(id));
  }), 15_000);
  let lost = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let delivered = 0;
  for (const member of all) {
    const got = roomMessages(member);
    delivered += got.length;
    const ids = new Set(got.map((m) => m.id));
    duplicates += got.length - ids.size;
    for (let i = 1; i < got.length; i++) if (got[i].seq <= got[i - 1].seq) outOfOrder++;
    const missing = expected(member).filter((id) => !ids.has(id));
    lost += missing.length;
    if (missing.length > 0) {
      const seqs = got.map((m) => m.seq);
      console.log(`${member.user} is missing ${missing.join(', ')} (received seqs ${seqs[0]}..${seqs.at(-1)}, ${got.length} messages, gaps at ${seqs.filter((seq, i) => i > 0 && seq !== seqs[i - 1] + 1).join(', ') || 'none'})`);
    }
  }
  return { lost, duplicates, outOfOrder, delivered };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Stops `relay` with `signal` during chat and measures, for each client that was on it, the
 * time from the signal to its next `connected`. Returns those times (sorted) and the delivery check.
 */
async function failoverRun(ctx: Ctx, all: Member[], relay: RelayChild, signal: 'SIGKILL' | 'SIGTERM', rate: number) {
  const trafficStarted = Date.now();
  const traffic = chat(all, rate, rate * 60);
  try {
    // Two seconds' worth acknowledged before, two seconds' worth after everyone is back.
    assert.ok(await until(() => traffic.ackedCount() >= 2 * rate, 20_000), 'chat is flowing before the relay goes');
    const onRelay = (await sessionsPerRelay(ctx)).get(relay.relayId) ?? 0;
    assert.ok(onRelay >= 1, `some clients are on ${relay.relayId} (HAProxy: ${onRelay})`);
    const marks = all.map((m) => m.rec.mark());
    const signalledAt = Date.now();
    process.kill(relay.child.pid!, signal);
    // The clients that were on it: each sees its connection go, then connects (resumes) again.
    const dropped = (): number[] => all.map((m, i) => i).filter((i) => all[i].rec.of('disconnected', marks[i]).length > 0);
    assert.ok(await until(() => dropped().length >= onRelay, 10_000), `the ${onRelay} clients on ${relay.relayId} lost their connection (saw ${dropped().length})`);
    const moved = dropped();
    const back = await Promise.all(moved.map((i) => all[i].rec.waitFor('connected', () => true, marks[i])));
    await within(relay.exited, 10_000, `${relay.relayId} exits`);
    // Taken by a listener when each `connected` fired, not when this test got round to looking.
    const times = moved.map((i) => connectedAt.get(all[i].client)!.find((at) => at >= signalledAt)! - signalledAt).sort((a, b) => a - b);
    assert.ok(back.every((connected) => connected.resumed), 'every moved client resumed its session');
    assert.ok(all.every((m) => m.client.state === 'online'), 'every client is online');
    // A little more chat with everyone back, then stop and settle.
    const ackedBefore = traffic.ackedCount();
    assert.ok(await until(() => traffic.ackedCount() >= ackedBefore + 2 * rate, 20_000), 'chat goes on after the failover');
    const sendSeconds = (Date.now() - trafficStarted) / 1000;
    await traffic.stop();
    const delivery = await checkDelivery(all, traffic.acked);
    return { times, onRelay, delivery, rate: Math.round(traffic.sent / sendSeconds), sent: traffic.sent, acked: traffic.ackedCount(), refused: traffic.refused };
  } finally {
    traffic.halt();
  }
}

/** The time of every `connected` event per client, taken when the event fires. */
const connectedAt = new Map<ChatClient, number[]>();
function watchConnected(all: Member[]): void {
  for (const member of all) {
    const times: number[] = [];
    connectedAt.set(member.client, times);
    member.client.on('connected', () => times.push(Date.now()));
  }
}

function printLogsOnFailure<T>(ctx: Ctx, run: () => Promise<T>): Promise<T> {
  return run().catch((error: unknown) => {
    console.log(ctx.logs.slice(-80).join('\n'));
    throw error;
  });
}

if (ready) {
  failover(`kill -9 of one relay while ${CLIENTS} clients chat at ${RATE_PER_SECOND} msg/s: all back within 5 s, every acked message to every member once, in order`, async (ctx) =>
    printLogsOnFailure(ctx, async () => {
      const all = await members(ctx, CLIENTS, 1);
      watchConnected(all);
      const run = await failoverRun(ctx, all, ctx.relays[0], 'SIGKILL', RATE_PER_SECOND);
      const { times, delivery } = run;
      console.log(
        `failover figures (kill -9 of r1, ${CLIENTS} clients, ${RATE_PER_SECOND} msg/s): ${run.onRelay} clients moved; ` +
          `back after p50 ${percentile(times, 50)} ms, max ${times[times.length - 1]} ms; ` +
          `${run.sent} sent (${run.rate} msg/s achieved), ${run.acked} acked, ${run.refused} refused; ${delivery.delivered} deliveries, ` +
          `lost ${delivery.lost}, duplicates ${delivery.duplicates}, out of order ${delivery.outOfOrder}`,
      );
      assert.ok(times[times.length - 1] <= 5_000, `the last client was back after ${times[times.length - 1]} ms (at most 5 s)`);
      assert.is(delivery.lost, 0, 'no acknowledged message lost');
      assert.is(delivery.duplicates, 0, 'no message twice');
      assert.is(delivery.outOfOrder, 0, 'seq strictly increasing for every member');
    }));

  failover('SIGTERM of one relay: its clients get E_SHUTDOWN and are back within 2 s, nothing lost', async (ctx) =>
    printLogsOnFailure(ctx, async () => {
      const all = await members(ctx, 12, 2);
      watchConnected(all);
      const run = await failoverRun(ctx, all, ctx.relays[0], 'SIGTERM', 50);
      const { times, delivery } = run;
      console.log(
        `failover figures (SIGTERM of r1, 12 clients, 50 msg/s): ${run.onRelay} clients moved; back after p50 ${percentile(times, 50)} ms, ` +
          `max ${times[times.length - 1]} ms; lost ${delivery.lost}, duplicates ${delivery.duplicates}, out of order ${delivery.outOfOrder}`,
      );
      const shutdownSeen = all.filter((m) => m.rec.of('disconnected').some((e) => e.code === 'E_SHUTDOWN')).length;
      assert.is(shutdownSeen, run.onRelay, 'each client of the stopped relay was told E_SHUTDOWN');
      assert.ok(times[times.length - 1] <= 2_000, `the last client was back after ${times[times.length - 1]} ms (at most 2 s)`);
      assert.is(delivery.lost, 0, 'nothing lost');
      assert.is(delivery.duplicates, 0, 'no message twice');
      assert.is(delivery.outOfOrder, 0, 'seq strictly increasing for every member');
    }));

  failover('through HAProxy the relay sees each client address: the per-address connection cap hits that address only', async (ctx) =>
    printLogsOnFailure(ctx, async () => {
      const open = async (from: string): Promise<{ wire: WireClient; first: Awaited<ReturnType<WireClient['waitFor']>> }> => {
        const wire = await WireClient.open(ctx.haproxyPort, { localAddress: from });
        ctx.wires.push(wire);
        const first = wire.waitFor((m) => m.t === 'welcome' || m.t === 'bye', 10_000);
        wire.send({ t: 'hello', v: 1 });
        return { wire, first: await first };
      };
      const cap = RELAY_LIMITS.connectionsPerAddress!;
      // HAProxy spreads 127.0.3.2's connections over the three relays; each relay counts them
      // under 127.0.3.2 (from the PROXY header, not HAProxy's own address), so a refusal comes
      // by the time one relay holds `cap` of them: at most 3 x cap are let in.
      const kept: WireClient[] = [];
      let over: Awaited<ReturnType<typeof open>> | undefined;
      for (let i = 0; i <= 3 * cap && !over; i++) {
        const opened = await open('127.0.3.2');
        if (opened.first.t === 'bye') over = opened;
        else {
          kept.push(opened.wire);
          assert.ok(opened.first.t === 'welcome' && opened.first.observed === '127.0.3.2', `connection ${i + 1} from 127.0.3.2 is seen as 127.0.3.2: ${JSON.stringify(opened.first)}`);
        }
      }
      assert.ok(over?.first.t === 'bye' && over.first.code === 'E_RATE', `a connection from 127.0.3.2 past a relay's cap is refused: ${JSON.stringify(over?.first)}`);
      assert.ok(kept.length >= cap && kept.length <= 3 * cap, `${kept.length} let in before the refusal`);
      assert.ok(kept.every((wire) => !wire.closed), 'the connections 127.0.3.2 already had stay open');
      // Another address is not touched by 127.0.3.2's cap: it connects, is seen as itself and logs in.
      const { wire, first } = await open('127.0.3.3');
      assert.ok(first.t === 'welcome' && first.observed === '127.0.3.3', `127.0.3.3 is seen as itself: ${JSON.stringify(first)}`);
      wire.challenge = first.t === 'welcome' ? first.challenge : undefined;
      const session = await wire.request({ t: 'register', id: 'reg', user: 'dora', password: TEST_PASSWORD, ...(await wire.credentials('dora')) });
      assert.is(session.t, 'session');
    }));
}

failover.run();
