/**
 * `npm run test:cluster`: the login limiter is the cluster's, not a relay's (issue 10). A real
 * redis-server and three relays as their own processes (test/cluster/relay-child.ts: nothing
 * shared but Redis), clients connecting straight to each relay from distinct loopback
 * addresses: A = 127.0.0.1 (the attacker), B = 127.0.0.2 (bob's known address), C = 127.0.0.3
 * (an address bob never used). Failed logins on r1 must delay the same address on r2 and bob's
 * account everywhere but at B. With per-process limiters r2 and r3 would let every one through.
 *
 * Skipped, with a line saying so, when redis-server is not installed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Limits } from '../../shared/limits.js';
import type { RelayMessage } from '../../shared/messages.js';
import { redisServerAvailable } from '../../relay/cluster/redis-process.js';
import { WireClient, outcome } from '../helpers/wire-client.js';
import { startCluster, type Cluster } from './cluster-fixture.js';

const ATTACKER = '127.0.0.1';
const KNOWN = '127.0.0.2';
const NEW_PLACE = '127.0.0.3';
/** Free failures, then a delay far longer than the test: any refusal shows as E_RATE at once. */
const LIMITS: Partial<Limits> = { loginFreeFailures: 3, loginBaseDelayMs: 10 * 60_000, loginMaxDelayMs: 10 * 60_000 };
const BOB_PASSWORD = 'bob-real-password';

type Ctx = {
  /** Redis and r1..r3 as processes, no HAProxy: clients connect straight to each relay, which sees their own address. */
  cluster: Cluster;
  clients: WireClient[];
};

const spec = suite<Ctx>('login limiter shared by three relay processes on one Redis');

spec.before.each(async (ctx) => {
  ctx.clients = [];
  ctx.cluster = await startCluster({ prefix: 'securechat-cluster-limiter-', relays: 3, limits: LIMITS });
});

spec.after.each(async (ctx) => {
  for (const client of ctx.clients) client.close();
  await ctx.cluster?.stop();
});

/** A fresh connection to relay `index` (0 = r1) from `localAddress`, after hello. */
async function from(ctx: Ctx, index: number, localAddress: string): Promise<WireClient> {
  const client = await WireClient.open(ctx.cluster.relays[index].port, { localAddress });
  ctx.clients.push(client);
  await client.hello();
  return client;
}

function retryAfter(reply: RelayMessage): number {
  return reply.t === 'error' ? (reply.retryAfterMs ?? 0) : 0;
}

spec('failed logins on r1 delay the same address on r2 and bob\'s account on r3; bob at his known address gets in anywhere', async (ctx) => {
  try {
    // Bob registers on r3 from B, which makes B known to his account (in Redis).
    assert.is(outcome(await (await from(ctx, 2, KNOWN)).passwordAttempt('register', 'bob', BOB_PASSWORD)), 'session');

    // The attacker spends the free failures on r1 only.
    const onR1 = await from(ctx, 0, ATTACKER);
    for (let i = 0; i < (LIMITS.loginFreeFailures ?? 0); i++) {
      assert.is(outcome(await onR1.passwordAttempt('login', 'bob', `guess number ${i}`)), 'E_AUTH');
    }

    // Landing on r2 resets nothing: the address owes its delay there, for any account, even
    // with bob's right password (a refusal comes before the password is looked at).
    const onR2 = await from(ctx, 1, ATTACKER);
    const refused = await onR2.passwordAttempt('login', 'bob', BOB_PASSWORD);
    assert.is(outcome(refused), 'E_RATE', 'the same address on r2');
    assert.ok(retryAfter(refused) > 60_000, `retryAfterMs ${retryAfter(refused)}`);
    assert.is(outcome(await onR2.passwordAttempt('login', 'carol', 'whatever')), 'E_RATE', 'another account from the address on r2');
    assert.is(outcome(await (await from(ctx, 2, ATTACKER)).passwordAttempt('register', 'mallory', 'a new account')), 'E_RATE', 'a registration from it on r3');

    // Bob's account owes the delay on every relay, from every address he never used...
    const elsewhere = await (await from(ctx, 2, NEW_PLACE)).passwordAttempt('login', 'bob', BOB_PASSWORD);
    assert.is(outcome(elsewhere), 'E_RATE', 'bob from a new address on r3');
    // ...but not from B, on any relay: the known address was recorded on r3 and is honoured on r1 and r2.
    assert.is(outcome(await (await from(ctx, 1, KNOWN)).passwordAttempt('login', 'bob', BOB_PASSWORD)), 'session', 'bob at B on r2');
    assert.is(outcome(await (await from(ctx, 0, KNOWN)).passwordAttempt('login', 'bob', BOB_PASSWORD)), 'session', 'bob at B on r1');
    // His success on r1 cleared the account's count for the cluster: C gets through on r3 now.
    assert.is(outcome(await (await from(ctx, 2, NEW_PLACE)).passwordAttempt('login', 'bob', BOB_PASSWORD)), 'session', 'bob from C on r3 after the success');
    // The attacker's address is still slowed everywhere (a success clears the account, not the address).
    assert.is(outcome(await (await from(ctx, 2, ATTACKER)).passwordAttempt('login', 'bob', BOB_PASSWORD)), 'E_RATE', 'A on r3');
  } catch (error) {
    console.error(ctx.cluster.logs.join('\n'));
    throw error;
  }
});

if (redisServerAvailable()) spec.run();
else console.log('login limiter cluster test skipped: it needs redis-server (Debian: apt-get install redis-server)');
