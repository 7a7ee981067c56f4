import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_LIMITS } from '../shared/limits.js';
import { LoginLimiter, addressKey } from '../relay/login-limiter.js';

const limits = { loginFreeFailures: 3, loginBaseDelayMs: 1_000, loginMaxDelayMs: 8_000, loginFailureMemoryMs: 60_000 };

/** A fake clock: `now` only moves when the test moves it. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('delayAfter: free failures, doubling from the base, capped', () => {
  const l = new LoginLimiter(limits);
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((n) => l.delayAfter(n)), [0, 0, 0, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000, 8_000]);
});

test('defaults come from shared/limits.ts', () => {
  const l = new LoginLimiter();
  assert.is(l.delayAfter(DEFAULT_LIMITS.loginFreeFailures - 1), 0);
  assert.is(l.delayAfter(DEFAULT_LIMITS.loginFreeFailures), DEFAULT_LIMITS.loginBaseDelayMs);
  assert.is(l.delayAfter(1_000), DEFAULT_LIMITS.loginMaxDelayMs);
});

test('free failures cost nothing; then each attempt waits for its delay after the last failure', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 3; i++) {
    assert.equal(l.check('10.0.0.1', 'alice', c.now()), { allowed: true });
    l.recordFailure('10.0.0.1', 'alice', c.now());
  }
  // 3 failures: 1 s.
  assert.equal(l.check('10.0.0.1', 'alice', c.now()), { allowed: false, retryAfterMs: 1_000 });
  c.advance(999);
  assert.equal(l.check('10.0.0.1', 'alice', c.now()), { allowed: false, retryAfterMs: 1 });
  c.advance(1);
  assert.equal(l.check('10.0.0.1', 'alice', c.now()), { allowed: true });
  l.recordFailure('10.0.0.1', 'alice', c.now());
  // 4 failures: 2 s, then 4 s, then 8 s, capped at 8 s.
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    const d = l.check('10.0.0.1', 'alice', c.now());
    assert.is(d.allowed, false);
    const wait = (d as { retryAfterMs: number }).retryAfterMs;
    waits.push(wait);
    c.advance(wait);
    assert.equal(l.check('10.0.0.1', 'alice', c.now()), { allowed: true });
    l.recordFailure('10.0.0.1', 'alice', c.now());
  }
  assert.equal(waits, [2_000, 4_000, 8_000, 8_000, 8_000]);
  assert.is(l.failures('address', '10.0.0.1', c.now()), 9);
  assert.is(l.failures('account', 'alice', c.now()), 9);
});

test('per account: failures from many addresses add up on the account only', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 4; i++) l.recordFailure(`10.0.0.${i}`, 'alice', c.now());
  assert.equal(l.check('10.0.0.99', 'alice', c.now()), { allowed: false, retryAfterMs: 2_000 });
  // Other accounts from a fresh address are unaffected; each address has only one failure.
  assert.equal(l.check('10.0.0.99', 'bob', c.now()), { allowed: true });
  assert.equal(l.check('10.0.0.1', 'bob', c.now()), { allowed: true });
  assert.is(l.failures('address', '10.0.0.1', c.now()), 1);
});

test('per address: guessing many accounts from one address is slowed', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (const user of ['a', 'b', 'c', 'd', 'e']) l.recordFailure('192.0.2.7', user, c.now());
  assert.equal(l.check('192.0.2.7', 'f', c.now()), { allowed: false, retryAfterMs: 4_000 });
  assert.equal(l.check('192.0.2.8', 'f', c.now()), { allowed: true });
});

test('the longer of the two waits wins', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 5; i++) l.recordFailure(`198.51.100.${i}`, 'alice', c.now()); // account: 5 -> 4 s
  for (let i = 0; i < 3; i++) l.recordFailure('203.0.113.1', `u${i}`, c.now()); // address: 3 -> 1 s
  assert.equal(l.check('203.0.113.1', 'alice', c.now()), { allowed: false, retryAfterMs: 4_000 });
  assert.equal(l.check('203.0.113.1', 'u0', c.now()), { allowed: false, retryAfterMs: 1_000 });
});

test('success clears both the account and the address', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 6; i++) l.recordFailure('10.1.1.1', 'alice', c.now());
  l.recordFailure('10.1.1.2', 'alice', c.now());
  c.advance(20_000);
  l.recordSuccess('10.1.1.1', 'alice', c.now());
  assert.is(l.failures('account', 'alice', c.now()), 0);
  assert.is(l.failures('address', '10.1.1.1', c.now()), 0);
  // Another address keeps its own count.
  assert.is(l.failures('address', '10.1.1.2', c.now()), 1);
  assert.equal(l.check('10.1.1.1', 'alice', c.now()), { allowed: true });
  // Counting starts again from zero.
  for (let i = 0; i < 3; i++) l.recordFailure('10.1.1.1', 'alice', c.now());
  assert.equal(l.check('10.1.1.1', 'alice', c.now()), { allowed: false, retryAfterMs: 1_000 });
});

test('failures are forgotten loginFailureMemoryMs after the last one', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 5; i++) l.recordFailure('10.2.2.2', 'alice', c.now());
  c.advance(59_999);
  assert.is(l.failures('account', 'alice', c.now()), 5);
  assert.equal(l.check('10.2.2.2', 'alice', c.now()), { allowed: true }); // 4 s delay long over
  l.recordFailure('10.2.2.2', 'alice', c.now()); // refreshes the memory: now 6
  c.advance(59_999);
  assert.is(l.failures('account', 'alice', c.now()), 6);
  c.advance(1);
  assert.is(l.failures('account', 'alice', c.now()), 0);
  assert.equal(l.check('10.2.2.2', 'alice', c.now()), { allowed: true });
  assert.is(l.size, 0); // check() dropped both expired entries
  // A failure after expiry starts from one.
  l.recordFailure('10.2.2.2', 'alice', c.now());
  assert.is(l.failures('account', 'alice', c.now()), 1);
});

test('expired entries are swept on the next failure (oldest first)', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 0; i < 50; i++) {
    l.recordFailure(`10.3.0.${i}`, `user${i}`, c.now());
    c.advance(1_000);
  }
  assert.is(l.size, 100);
  c.advance(60_000 - 50_000 + 24_000); // entries 0..24 are now older than the memory
  l.recordFailure('10.4.0.1', 'someone', c.now());
  assert.is(l.size, 100 - 50 + 2);
  l.forgetExpired(c.now() + 1_000_000);
  assert.is(l.size, 0);
});

test('memory is bounded: the oldest entries are evicted first', () => {
  const c = clock();
  const l = new LoginLimiter(limits, { maxEntries: 10 });
  for (let i = 0; i < 20; i++) {
    l.recordFailure(`10.5.0.${i}`, `user${i}`, c.now());
    c.advance(1);
  }
  assert.is(l.size, 10);
  assert.is(l.failures('address', '10.5.0.19', c.now()), 1);
  assert.is(l.failures('account', 'user15', c.now()), 1);
  assert.is(l.failures('account', 'user14', c.now()), 0);
  // A repeated failure moves its key to the young end, so it survives newer keys.
  for (let i = 0; i < 3; i++) l.recordFailure('10.5.0.15', 'user15', c.now());
  for (let i = 0; i < 4; i++) l.recordFailure(`10.6.0.${i}`, `x${i}`, c.now());
  assert.is(l.size, 10);
  assert.is(l.failures('account', 'user15', c.now()), 4);
  assert.is(l.failures('account', 'user16', c.now()), 0);
});

test('a huge failure count never overflows the delay', () => {
  const c = clock();
  const l = new LoginLimiter({ ...limits, loginFailureMemoryMs: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < 3_000; i++) l.recordFailure('10.7.7.7', 'alice', c.now());
  assert.equal(l.check('10.7.7.7', 'alice', c.now()), { allowed: false, retryAfterMs: 8_000 });
});

test('zero free failures: the first failure already costs a delay', () => {
  const c = clock();
  const l = new LoginLimiter({ ...limits, loginFreeFailures: 0 });
  assert.equal(l.check('10.8.8.8', 'alice', c.now()), { allowed: true });
  l.recordFailure('10.8.8.8', 'alice', c.now());
  assert.equal(l.check('10.8.8.8', 'alice', c.now()), { allowed: false, retryAfterMs: 2_000 });
});

test('addressKey: IPv4-mapped IPv6 is IPv4; IPv6 counts per /64; others unchanged', () => {
  assert.is(addressKey('127.0.0.1'), '127.0.0.1');
  assert.is(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.is(addressKey('::FFFF:192.0.2.1'), '192.0.2.1');
  assert.is(addressKey('::1'), '0:0:0:0::/64');
  assert.is(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:0DB8:0001:0002::'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.is(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.is(addressKey('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64');
  assert.is(addressKey('unknown'), 'unknown');
});

test('IPv6 addresses in one /64 share a counter', () => {
  const c = clock();
  const l = new LoginLimiter(limits);
  for (let i = 1; i <= 3; i++) l.recordFailure(`2001:db8:1:2::${i}`, `u${i}`, c.now());
  assert.equal(l.check('2001:db8:1:2::99', 'other', c.now()), { allowed: false, retryAfterMs: 1_000 });
  assert.equal(l.check('2001:db8:1:3::1', 'other', c.now()), { allowed: true });
});

test.run();
