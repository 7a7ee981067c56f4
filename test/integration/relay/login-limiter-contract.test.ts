/**
 * The login limiter contract: the same cases against MemoryLoginLimiter (one relay) and
 * RedisLoginLimiter (a cluster; a real redis-server on a loopback port), then Redis-only cases:
 * two limiters (two relays) on one Redis, a TTL on every key, Redis down and back. Real clocks
 * (Date.now, Redis' TIME), so waits are checked within a margin; the exact arithmetic is
 * test/unit/relay/login-limiter.test.ts' (fake clock). Without /usr/bin/redis-server the Redis side
 * is skipped with a line.
 */
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { LoginDecision, LoginLimiter, LoginLimiterLimits } from '../../../relay/login-limiter.js';
import { MemoryLoginLimiter } from '../../../relay/memory-login-limiter.js';
import { RedisLoginLimiter } from '../../../relay/redis-login-limiter.js';
import { rejectsWith } from '../../helpers/errors.js';
import { freeLoopbackPort, REDIS_SERVER_PATH, redisServerAvailable, startRedisServer, type TestRedisServer } from '../../helpers/redis-server.js';

/** Delays far longer than a case takes: a refusal's wait is known to within the case's run time. */
const SLOW: LoginLimiterLimits = {
  loginFreeFailures: 3,
  loginBaseDelayMs: 60_000,
  loginMaxDelayMs: 240_000,
  loginFailureMemoryMs: 3_600_000,
  loginKnownAddressMemoryMs: 3_600_000,
  loginKnownAddressesPerAccount: 3,
};

/** Delays and memories short enough to wait out. */
const FAST: LoginLimiterLimits = {
  loginFreeFailures: 2,
  loginBaseDelayMs: 600,
  loginMaxDelayMs: 1_200,
  loginFailureMemoryMs: 1_500,
  loginKnownAddressMemoryMs: 1_500,
  loginKnownAddressesPerAccount: 3,
};

interface Caps {
  maxEntries?: number;
  maxKnownAddresses?: number;
}

type Open = (limits: LoginLimiterLimits, caps?: Caps) => Promise<LoginLimiter>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A refusal owing `expectedMs` as of the failure that caused it: at most that, and not much less. */
function assertWait(decision: LoginDecision, expectedMs: number, label = ''): number {
  assert.is(decision.allowed, false, `refused ${label}`);
  const wait = decision.allowed ? 0 : decision.retryAfterMs;
  assert.ok(wait <= expectedMs && wait > expectedMs - 5_000, `${label}: waits ${wait} ms, expected ${expectedMs}`);
  return wait;
}

async function failFromEverywhere(l: LoginLimiter, userKey: string, n: number, prefix = '198.51.100.'): Promise<void> {
  for (let i = 0; i < n; i++) await l.recordFailure(`${prefix}${i}`, userKey);
}

function contract(name: string, open: Open): void {
  const cases = suite(`login limiter contract (${name})`);
  const opened: LoginLimiter[] = [];
  const limiter: Open = async (limits, caps) => {
    const l = await open(limits, caps);
    opened.push(l);
    return l;
  };
  cases.after.each(async () => {
    for (const l of opened.splice(0)) await l.close();
  });

  cases('free failures, then each attempt waits for its doubling delay after the last failure', async () => {
    const l = await limiter(FAST);
    for (let i = 0; i < 2; i++) {
      assert.equal(await l.check('10.0.0.1', 'alice'), { allowed: true });
      await l.recordFailure('10.0.0.1', 'alice');
    }
    const first = await l.check('10.0.0.1', 'alice');
    assert.is(first.allowed, false);
    const wait = first.allowed ? 0 : first.retryAfterMs;
    assert.ok(wait > 0 && wait <= 600, `waits ${wait} ms`);
    await sleep(wait + 5);
    assert.equal(await l.check('10.0.0.1', 'alice'), { allowed: true }, 'allowed once the announced wait is over');
    await l.recordFailure('10.0.0.1', 'alice');
    const second = await l.check('10.0.0.1', 'alice');
    assert.ok(!second.allowed && second.retryAfterMs > 600 && second.retryAfterMs <= 1_200, 'then 1.2 s (doubled, at the cap)');
    assert.is(await l.failures('address', '10.0.0.1'), 3);
    assert.is(await l.failures('account', 'alice'), 3);
  });

  cases('per account from many addresses, per address over many accounts; the longer wait wins', async () => {
    const l = await limiter(SLOW);
    await failFromEverywhere(l, 'alice', 4); // account: 4 -> 120 s
    assertWait(await l.check('10.0.0.99', 'alice'), 120_000, 'alice from a fresh address');
    assert.equal(await l.check('10.0.0.99', 'bob'), { allowed: true });
    assert.equal(await l.check('198.51.100.1', 'bob'), { allowed: true }, 'each address failed once only');
    assert.is(await l.failures('address', '198.51.100.1'), 1);
    for (const user of ['a', 'b', 'c']) await l.recordFailure('192.0.2.7', user); // address: 3 -> 60 s
    assertWait(await l.check('192.0.2.7', 'f'), 60_000, 'another account from the guessing address');
    assertWait(await l.checkAddress('192.0.2.7'), 60_000, 'a registration from it');
    assertWait(await l.check('192.0.2.7', 'alice'), 120_000, 'the account\'s longer wait');
    assert.equal(await l.check('192.0.2.8', 'f'), { allowed: true });
  });

  cases('a known address skips the account delay, not its own; known to one account is not known to another', async () => {
    const l = await limiter(SLOW);
    await l.recordSuccess('10.0.0.2', 'bob');
    await l.recordSuccess('203.0.113.5', 'mallory');
    await failFromEverywhere(l, 'bob', 6);
    assert.equal(await l.check('10.0.0.2', 'bob'), { allowed: true });
    assert.ok(await l.isKnownAddress('10.0.0.2', 'bob'));
    assert.not.ok(await l.isKnownAddress('10.0.0.3', 'bob'));
    assertWait(await l.check('10.0.0.3', 'bob'), 240_000, 'bob from elsewhere');
    assert.not.ok(await l.isKnownAddress('203.0.113.5', 'bob'));
    assertWait(await l.check('203.0.113.5', 'bob'), 240_000, 'the attacker\'s own known address buys nothing on bob');
    assert.equal(await l.check('203.0.113.5', 'mallory'), { allowed: true });
    for (let i = 0; i < 3; i++) await l.recordFailure('10.0.0.2', `other${i}`);
    assertWait(await l.check('10.0.0.2', 'bob'), 60_000, 'someone at bob\'s own address is slowed by its delay');
  });

  cases('a success clears the account, not the address; a resume remembers the address and counts nothing', async () => {
    const l = await limiter(SLOW);
    for (let i = 0; i < 4; i++) await l.recordFailure('10.1.1.1', 'alice');
    await l.recordSuccess('10.1.1.1', 'alice');
    assert.is(await l.failures('account', 'alice'), 0);
    assert.is(await l.failures('address', '10.1.1.1'), 4);
    assertWait(await l.check('10.1.1.1', 'bob'), 120_000, 'the address still owes its delay');
    await l.recordFailure('10.1.1.1', 'mallory');
    assert.is(await l.failures('address', '10.1.1.1'), 5, 'and keeps growing from where it was');

    await failFromEverywhere(l, 'carol', 5);
    for (let i = 0; i < 2; i++) await l.recordFailure('10.0.0.7', 'someone');
    await l.rememberAddress('10.0.0.7', 'carol');
    assert.is(await l.failures('account', 'carol'), 5);
    assert.is(await l.failures('address', '10.0.0.7'), 2);
    assert.ok(await l.isKnownAddress('10.0.0.7', 'carol'));
    assert.equal(await l.check('10.0.0.7', 'carol'), { allowed: true });
  });

  cases('registration is slowed by its address only and makes the address known', async () => {
    const l = await limiter(SLOW);
    await failFromEverywhere(l, 'newbie', 6);
    assert.equal(await l.checkAddress('10.0.0.8'), { allowed: true });
    for (let i = 0; i < 3; i++) await l.recordFailure('10.0.0.9', `x${i}`);
    assertWait(await l.checkAddress('10.0.0.9'), 60_000, 'registration from a guessing address');
    await l.recordSuccess('10.0.0.8', 'newbie');
    assert.ok(await l.isKnownAddress('10.0.0.8', 'newbie'));
    assert.is(await l.failures('account', 'newbie'), 0);
  });

  cases('counters and known addresses are forgotten after their memory', async () => {
    const l = await limiter(FAST);
    await l.recordSuccess('10.2.2.1', 'alice');
    for (let i = 0; i < 4; i++) await l.recordFailure('10.2.2.2', 'alice');
    assert.is(await l.failures('account', 'alice'), 4);
    assert.ok(await l.isKnownAddress('10.2.2.1', 'alice'));
    await sleep(1_600);
    assert.is(await l.failures('account', 'alice'), 0);
    assert.is(await l.failures('address', '10.2.2.2'), 0);
    assert.not.ok(await l.isKnownAddress('10.2.2.1', 'alice'));
    assert.equal(await l.check('10.2.2.2', 'alice'), { allowed: true });
    await l.recordFailure('10.2.2.2', 'alice');
    assert.is(await l.failures('account', 'alice'), 1, 'a failure after the memory counts from one');
  });

  cases('IPv4-mapped addresses are IPv4; IPv6 addresses of one /64 share a counter and known-ness', async () => {
    const l = await limiter(SLOW);
    for (let i = 1; i <= 3; i++) await l.recordFailure(`2001:db8:1:2::${i}`, `u${i}`);
    assertWait(await l.check('2001:db8:1:2::99', 'other'), 60_000, 'another host of the /64');
    assert.equal(await l.check('2001:db8:1:3::1', 'other'), { allowed: true });
    await l.recordSuccess('::ffff:192.0.2.1', 'bob');
    await l.recordSuccess('2001:db8:1:2::1', 'bob');
    assert.ok(await l.isKnownAddress('192.0.2.1', 'bob'));
    assert.ok(await l.isKnownAddress('2001:db8:1:2:ffff::9', 'bob'));
    assert.not.ok(await l.isKnownAddress('2001:db8:1:3::1', 'bob'));
  });

  cases('at most loginKnownAddressesPerAccount per account: the least recently used goes first', async () => {
    const l = await limiter(SLOW);
    for (const a of ['10.0.2.1', '10.0.2.2', '10.0.2.3']) {
      await l.recordSuccess(a, 'bob');
      await sleep(3); // distinct milliseconds: the order is the clock's
    }
    await l.rememberAddress('10.0.2.1', 'bob');
    await sleep(3);
    await l.recordSuccess('10.0.2.4', 'bob');
    const known = [];
    for (const a of ['10.0.2.1', '10.0.2.2', '10.0.2.3', '10.0.2.4']) known.push(await l.isKnownAddress(a, 'bob'));
    assert.equal(known, [true, false, true, true]);
  });

  cases('memory is bounded: past the caps the oldest counters and known addresses go first', async () => {
    const l = await limiter(SLOW, { maxEntries: 9, maxKnownAddresses: 4 });
    for (let i = 0; i < 8; i++) {
      await l.recordFailure(`10.5.0.${i}`, `user${i}`);
      await sleep(3);
    }
    assert.is(await l.failures('address', '10.5.0.7'), 1);
    assert.is(await l.failures('account', 'user3'), 1);
    assert.is(await l.failures('address', '10.5.0.3'), 0, 'the address of the same failure went just before');
    assert.is(await l.failures('account', 'user2'), 0);
    for (const [address, user] of [['10.0.3.1', 'ann'], ['10.0.3.2', 'ann'], ['10.0.3.3', 'bob'], ['10.0.3.4', 'cat'], ['10.0.3.5', 'dan']]) {
      await l.recordSuccess(address, user);
      await sleep(3);
    }
    assert.not.ok(await l.isKnownAddress('10.0.3.1', 'ann'));
    assert.ok(await l.isKnownAddress('10.0.3.2', 'ann'));
    await l.recordSuccess('10.0.3.6', 'eve');
    assert.not.ok(await l.isKnownAddress('10.0.3.2', 'ann'));
    for (const [address, user] of [['10.0.3.3', 'bob'], ['10.0.3.4', 'cat'], ['10.0.3.5', 'dan'], ['10.0.3.6', 'eve']]) {
      assert.ok(await l.isKnownAddress(address, user), `${user} still known at ${address}`);
    }
  });

  cases.run();
}

contract('memory', async (limits, caps = {}) => new MemoryLoginLimiter(limits, caps));

if (!redisServerAvailable()) {
  console.log(`(redis-server not found at ${REDIS_SERVER_PATH}: the RedisLoginLimiter side of the login limiter contract is skipped)`);
} else {
  redisSide();
}

function redisSide(): void {
  let redis: TestRedisServer | undefined;
  let admin: Redis | undefined;
  let prefixes = 0;
  const start = suite('redis login limiter: setup');
  start('starts redis-server', async () => {
    redis = await startRedisServer();
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
  });
  start.run();

  // Each limiter under its own key prefix, as two chats sharing one Redis would be.
  contract('redis', (limits, caps = {}) => RedisLoginLimiter.connect({ url: redis!.url, keyPrefix: `c${++prefixes}:`, limits, ...caps }));

  const shared = suite('redis login limiter: several relays, keys, outages');
  const open: RedisLoginLimiter[] = [];
  const relay = async (keyPrefix: string, limits: LoginLimiterLimits = SLOW): Promise<RedisLoginLimiter> => {
    const l = await RedisLoginLimiter.connect({ url: redis!.url, keyPrefix, limits });
    open.push(l);
    return l;
  };
  shared.after.each(async () => {
    for (const l of open.splice(0)) await l.close();
  });

  shared('two relays on one Redis share every counter and every known address', async () => {
    const [r1, r2] = [await relay('s1:'), await relay('s1:')];
    for (let i = 0; i < 3; i++) await r1.recordFailure('192.0.2.50', `x${i}`);
    assertWait(await r2.check('192.0.2.50', 'anyone'), 60_000, 'the address on r2 after 3 failures on r1');
    await r2.recordFailure('192.0.2.50', 'bob');
    assert.is(await r1.failures('address', '192.0.2.50'), 4, 'failures on both relays add up');
    await r1.recordSuccess('10.9.0.1', 'bob');
    await failFromEverywhere(r2, 'bob', 5);
    assert.equal(await r2.check('10.9.0.1', 'bob'), { allowed: true }, 'known through r1, let through on r2');
    assertWait(await r1.check('10.9.0.2', 'bob'), 240_000, 'the account\'s 6 failures on r2 slow r1');
    await r2.recordSuccess('10.9.0.1', 'bob');
    assert.is(await r1.failures('account', 'bob'), 0, 'a success on r2 clears the account for r1');
    // Concurrent failures on both relays all count: each is one atomic script.
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? r1 : r2).recordFailure('192.0.2.60', 'carol')));
    assert.is(await r1.failures('address', '192.0.2.60'), 20);
  });

  shared('every key has a TTL no longer than its memory, and every key is under the prefix', async () => {
    const l = await relay('ttl:');
    await failFromEverywhere(l, 'bob', 3);
    await l.recordSuccess('10.0.0.2', 'bob');
    await l.rememberAddress('2001:db8::1', 'bob');
    await l.recordSuccess('10.0.0.3', 'ann');
    const keys = (await admin!.keys('*')).filter((key) => key.startsWith('ttl:')).sort();
    assert.equal(keys, [
      'ttl:login:fail:a:198.51.100.0',
      'ttl:login:fail:a:198.51.100.1',
      'ttl:login:fail:a:198.51.100.2',
      'ttl:login:fails',
      'ttl:login:known-pairs',
      'ttl:login:known:ann',
      'ttl:login:known:bob',
    ]);
    for (const key of keys) {
      const ttl = await admin!.pttl(key);
      const memory = key.includes(':fail') ? SLOW.loginFailureMemoryMs : SLOW.loginKnownAddressMemoryMs;
      assert.ok(ttl > 0 && ttl <= memory, `${key}: PTTL ${ttl}`);
    }
    assert.equal(await admin!.zrange('ttl:login:known:bob', '0', '-1'), ['10.0.0.2', '2001:db8:0:0::/64']);
    const [n, at] = await admin!.hmget('ttl:login:fail:a:198.51.100.0', 'n', 'at');
    const [seconds] = (await admin!.time()) as unknown as [string, string];
    assert.is(n, '1');
    assert.ok(Math.abs(Number(at) - Number(seconds) * 1000) < 5_000, 'the time of the failure is Redis\' clock, in ms');
  });

  shared('fails fast with E_STORE_UNAVAILABLE while Redis is down, and works again when it is back', async () => {
    const l = await relay('down:');
    await l.recordFailure('192.0.2.70', 'bob');
    await redis!.kill9();
    const started = Date.now();
    await rejectsWith(l.check('192.0.2.70', 'bob'), 'E_STORE_UNAVAILABLE');
    await rejectsWith(l.recordFailure('192.0.2.70', 'bob'), 'E_STORE_UNAVAILABLE');
    await rejectsWith(l.recordSuccess('192.0.2.70', 'bob'), 'E_STORE_UNAVAILABLE');
    assert.ok(Date.now() - started < 1_000, `failed fast (${Date.now() - started} ms)`);
    await redis!.restart();
    await admin!.ping().catch(() => undefined);
    const deadline = Date.now() + 15_000;
    let back: LoginDecision | undefined;
    while (!back && Date.now() < deadline) {
      back = await l.check('192.0.2.70', 'bob').catch(() => undefined);
      if (!back) await sleep(50);
    }
    assert.equal(back, { allowed: true }, 'answers again once Redis is back');
  });

  shared('connecting to a Redis that is not there fails with E_STORE_UNAVAILABLE', async () => {
    const port = await freeLoopbackPort();
    await rejectsWith(RedisLoginLimiter.connect({ url: `redis://127.0.0.1:${port}` }), 'E_STORE_UNAVAILABLE');
  });

  shared.run();

  const teardown = suite('redis login limiter: teardown');
  teardown('stops redis-server', async () => {
    admin?.disconnect();
    await redis?.stop();
  });
  teardown.run();
}
