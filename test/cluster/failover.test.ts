/**
 * `npm run test:cluster`: failover with the real programs. A real redis-server, three relays as
 * their own processes (test/cluster/relay-child.ts, so one can be SIGKILLed for real), a real
 * haproxy in front rendered from the shared template (relay/cluster/haproxy-config.ts), and
 * client cores (ChatClient) that reconnect and resume by themselves. Each client connects from
 * its own loopback address (127.0.x.y); HAProxy spreads the connections over the relays (least
 * connections) and the relays' per-address limits apply to each client on its own.
 * The cluster is cluster-fixture.ts; the chat, the signal and the delivery check are
 * failover-load.ts, which the failover bench (bench/failover.ts) runs too.
 *
 * Skipped, with a line saying so, when haproxy or redis-server is not installed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Limits } from '../../shared/limits.js';
import { findHaproxy } from '../../relay/cluster/haproxy-process.js';
import { redisServerAvailable } from '../../relay/cluster/redis-process.js';
import { TEST_PASSWORD } from '../helpers/clients.js';
import { WireClient } from '../helpers/wire-client.js';
import { startCluster, type Cluster } from './cluster-fixture.js';
import { BACK_WITHIN_MS, describeLost, failoverRun, members, percentile, type Member } from './failover-load.js';

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

type Ctx = {
  cluster: Cluster;
  members: Member[];
  wires: WireClient[];
};

const failover = suite<Ctx>('failover behind HAProxy: three relay processes on one Redis');
const haproxyBinary = await findHaproxy();
const ready = haproxyBinary !== undefined && redisServerAvailable();
if (!ready) console.log('failover tests skipped: they need haproxy and redis-server (Debian: apt-get install haproxy redis-server)');

failover.before.each(async (ctx) => {
  ctx.members = [];
  ctx.wires = [];
  ctx.cluster = await startCluster({ prefix: 'securechat-failover-', limits: RELAY_LIMITS, haproxy: haproxyBinary });
});

failover.after.each(async (ctx) => {
  // Never throw from here: uvu would swallow the test's own failure.
  await Promise.all(ctx.members.map((member) => member.client.close().catch(() => {})));
  for (const wire of ctx.wires) wire.close();
  await ctx.cluster?.stop();
});

function printLogsOnFailure<T>(ctx: Ctx, run: () => Promise<T>): Promise<T> {
  return run().catch(async (error: unknown) => {
    console.log(ctx.cluster.logs.slice(-80).join('\n'));
    console.log(`every relay and HAProxy line: ${await ctx.cluster.saveLogs()}`);
    throw error;
  });
}

if (ready) {
  failover(`kill -9 of one relay while ${CLIENTS} clients chat at ${RATE_PER_SECOND} msg/s: all back within 5 s, every acked message to every member once, in order`, async (ctx) =>
    printLogsOnFailure(ctx, async () => {
      const all = await members(ctx.cluster, CLIENTS, 1, ctx.members);
      const run = await failoverRun(ctx.cluster, all, ctx.cluster.relays[0], 'SIGKILL', RATE_PER_SECOND);
      const { times, delivery } = run;
      console.log(
        `failover figures (kill -9 of r1, ${CLIENTS} clients, ${RATE_PER_SECOND} msg/s): ${run.onRelay} clients moved; ` +
          `back after p50 ${percentile(times, 50)} ms, max ${times[times.length - 1]} ms; ` +
          `${run.sent} sent (${run.rate} msg/s achieved), ${run.acked} acked, ${run.refused} refused; ${delivery.delivered} deliveries, ` +
          `lost ${delivery.lost}, duplicates ${delivery.duplicates}, out of order ${delivery.outOfOrder}` +
          delivery.lostSamples.map((lost) => `\n  lost: ${describeLost(lost)}`).join(''),
      );
      assert.ok(times[times.length - 1] <= BACK_WITHIN_MS.SIGKILL, `the last client was back after ${times[times.length - 1]} ms (at most 5 s)`);
      assert.is(delivery.lost, 0, 'no acknowledged message lost');
      assert.is(delivery.duplicates, 0, 'no message twice');
      assert.is(delivery.outOfOrder, 0, 'seq strictly increasing for every member');
    }));

  failover('SIGTERM of one relay: its clients get E_SHUTDOWN and are back within 2 s, nothing lost', async (ctx) =>
    printLogsOnFailure(ctx, async () => {
      const all = await members(ctx.cluster, 12, 2, ctx.members);
      const run = await failoverRun(ctx.cluster, all, ctx.cluster.relays[0], 'SIGTERM', 50);
      const { times, delivery } = run;
      console.log(
        `failover figures (SIGTERM of r1, 12 clients, 50 msg/s): ${run.onRelay} clients moved; back after p50 ${percentile(times, 50)} ms, ` +
          `max ${times[times.length - 1]} ms; lost ${delivery.lost}, duplicates ${delivery.duplicates}, out of order ${delivery.outOfOrder}` +
          delivery.lostSamples.map((lost) => `\n  lost: ${describeLost(lost)}`).join(''),
      );
      assert.is(run.shutdownSeen, run.onRelay, 'each client of the stopped relay was told E_SHUTDOWN');
      assert.ok(times[times.length - 1] <= BACK_WITHIN_MS.SIGTERM, `the last client was back after ${times[times.length - 1]} ms (at most 2 s)`);
      assert.is(delivery.lost, 0, 'nothing lost');
      assert.is(delivery.duplicates, 0, 'no message twice');
      assert.is(delivery.outOfOrder, 0, 'seq strictly increasing for every member');
    }));

  failover('through HAProxy the relay sees each client address: the per-address connection cap hits that address only', async (ctx) =>
    printLogsOnFailure(ctx, async () => {
      const open = async (from: string): Promise<{ wire: WireClient; first: Awaited<ReturnType<WireClient['waitFor']>> }> => {
        const wire = await WireClient.open(ctx.cluster.haproxyPort, { localAddress: from });
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
