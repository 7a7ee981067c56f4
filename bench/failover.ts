/**
 * failover: one relay of three behind HAProxy stopped while 60 clients chat at 200 msg/s in
 * one room, once with kill -9 and once with SIGTERM (the relay's clean shutdown: `bye`
 * E_SHUTDOWN to its clients). Figures: time from the signal until each of its clients is back
 * (connected and resumed through HAProxy on another relay; p50 and max over those clients),
 * messages sent and acknowledged, and the delivery check: every acknowledged message reaches
 * every other member exactly once, in order (lost, duplicates, out of order must be 0).
 *
 * The same machinery as the failover test (test/cluster/failover.test.ts, which asserts what
 * this prints): test/cluster/cluster-fixture.ts starts a fresh redis-server, three relay
 * processes and haproxy on loopback for each signal and stops them by PID afterwards, even on
 * failure; test/cluster/failover-load.ts runs the clients (ChatClient, in this process, each
 * from its own 127.0.1.x address), the chat, the signal and the check. Sending is bounded by
 * 60 s worth of messages; each step by a deadline.
 * Skipped, with a line saying so, where haproxy or redis-server is not installed.
 */
import { loadavg } from 'node:os';
import { findHaproxy } from '../relay/cluster/haproxy-process.js';
import { redisServerAvailable } from '../relay/cluster/redis-process.js';
import type { Limits } from '../shared/limits.js';
import { startCluster, within } from '../test/cluster/cluster-fixture.js';
import { BACK_WITHIN_MS, describeLost, failoverRun, members, percentile, type FailoverRun, type Member } from '../test/cluster/failover-load.js';
import type { BenchContext, Scenario } from './lib/context.js';
import { valueAtMost, valueEquals, type Figure, type ScenarioReport } from './lib/report.js';

interface Load {
  clients: number;
  /** Messages per second into the room, all clients taking turns. */
  ratePerSecond: number;
}

/** The load: 60 clients at 200 msg/s in total (3.3 msg/s each, under the relay's flood limit). */
const FULL: Load = { clients: 60, ratePerSecond: 200 };
const QUICK: Load = { clients: 6, ratePerSecond: 30 };

/** As in the failover test: a short presence grace; the relay's other limits are its defaults. */
const RELAY_LIMITS: Partial<Limits> = { presenceGraceMs: 2_000 };

type Signal = keyof typeof BACK_WITHIN_MS;

const SIGNAL_NAME: Record<Signal, string> = { SIGKILL: 'kill -9', SIGTERM: 'SIGTERM' };

/** Starts a cluster behind HAProxy, logs the clients in, runs one failover, stops everything it started. */
async function measure(ctx: BenchContext, haproxy: string, signal: Signal, load: Load): Promise<FailoverRun> {
  const cluster = await startCluster({ prefix: 'securechat-bench-failover-', limits: RELAY_LIMITS, haproxy });
  const all: Member[] = [];
  try {
    ctx.progress(`failover: ${load.clients} clients logging in through HAProxy`);
    await within(members(cluster, load.clients, 1, all), 180_000, `${load.clients} clients logging in`);
    ctx.progress(`failover: ${SIGNAL_NAME[signal]} of r1 during chat at ${load.ratePerSecond} msg/s`);
    return await within(failoverRun(cluster, all, cluster.relays[0], signal, load.ratePerSecond), 180_000, `the ${SIGNAL_NAME[signal]} run`);
  } catch (error) {
    process.stderr.write(`${cluster.logs.slice(-40).join('\n')}\nevery relay and HAProxy line: ${await cluster.saveLogs()}\n`);
    throw error;
  } finally {
    await Promise.all(all.map((member) => member.client.close().catch(() => {})));
    await cluster.stop();
  }
}

function report(signal: Signal, load: Load, run: FailoverRun): ScenarioReport {
  const { times, delivery } = run;
  const max = times.length > 0 ? times[times.length - 1] : Number.NaN;
  const limit = BACK_WITHIN_MS[signal];
  const zero = (value: number): ReturnType<typeof valueEquals> => valueEquals(value, 0, '= 0');
  const figures: Figure[] = [
    { key: 'moved', label: 'clients on the stopped relay', unit: '', value: run.onRelay },
    { key: 'backP50Ms', label: 'back after, p50 over them', unit: 'ms', value: times.length > 0 ? percentile(times, 50) : Number.NaN },
    { key: 'backMaxMs', label: 'back after, max (last client)', unit: 'ms', value: max, target: valueAtMost(max, limit, 'ms') },
    ...(signal === 'SIGTERM'
      ? [{ key: 'toldShutdown', label: 'clients told bye E_SHUTDOWN', unit: '', value: run.shutdownSeen, target: valueEquals(run.shutdownSeen, run.onRelay, '= clients on the relay') }]
      : []),
    { key: 'sent', label: 'messages sent', unit: '', value: run.sent },
    { key: 'acked', label: 'messages acknowledged', unit: '', value: run.acked },
    { key: 'refused', label: 'sends refused (client saw an error)', unit: '', value: run.refused },
    { key: 'ratePerSecond', label: 'send rate achieved', unit: 'msg/s', value: run.rate },
    { key: 'delivered', label: 'deliveries', unit: '', value: delivery.delivered },
    { key: 'lost', label: 'lost (acked, not delivered to a member)', unit: '', value: delivery.lost, target: zero(delivery.lost) },
    { key: 'duplicates', label: 'duplicates', unit: '', value: delivery.duplicates, target: zero(delivery.duplicates) },
    { key: 'outOfOrder', label: 'out of order', unit: '', value: delivery.outOfOrder, target: zero(delivery.outOfOrder) },
  ];
  return {
    bench: 'failover',
    case: `${SIGNAL_NAME[signal]} of one relay of three behind HAProxy: ${load.clients} clients chatting at ${load.ratePerSecond} msg/s`,
    figures,
    notes: [
      `back after: from the signal to each moved client's next \`connected\` (a resumed session on another relay), with the product's reconnect backoff (0.5 s, 1 s, ... with jitter); target: every client back within ${limit / 1000} s.`,
      'lost: (member, message) pairs where another member\'s acknowledged message never reached that member; duplicates and out of order count per member. Sending goes on through the failover and for two seconds\' worth after everyone is back.',
      'a fresh redis-server, three relay processes and haproxy per table (127.0.0.1, free ports), every client from its own 127.0.1.x address; the clients run in the bench process.',
      ...delivery.lostSamples.map((lost) => `lost: ${describeLost(lost)}.`),
      `load average at the end (1/5/15 min): ${loadavg().map((v) => v.toFixed(1)).join(' / ')}.`,
    ],
    extra: { ...load, signal, backMs: times },
  };
}

export const failover: Scenario = {
  name: 'failover',
  describe: 'kill -9 and SIGTERM of one relay of three behind HAProxy, 60 clients at 200 msg/s: time back (p50/max), lost, duplicates',
  async run(ctx) {
    const haproxy = await findHaproxy();
    if (haproxy === undefined || !redisServerAvailable()) {
      return [{ bench: 'failover', case: 'skipped', figures: [], notes: ['needs haproxy and redis-server (Debian: apt-get install haproxy redis-server).'] }];
    }
    const load = ctx.quick ? QUICK : FULL;
    const reports: ScenarioReport[] = [];
    // One after the other: each measures what its clients get, with the machine to itself.
    for (const signal of ['SIGKILL', 'SIGTERM'] as const) reports.push(report(signal, load, await measure(ctx, haproxy, signal, load)));
    return reports;
  },
};
