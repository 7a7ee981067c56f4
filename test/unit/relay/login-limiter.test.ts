import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_LIMITS } from '../../../shared/limits.js';
import { LOGIN_KNOWN_ADDRESSES_MAX, LoginPolicy, addressKey, type LoginDecision } from '../../../relay/login-limiter.js';
import { MemoryLoginLimiter } from '../../../relay/memory-login-limiter.js';

const limits = {
  loginFreeFailures: 3,
  loginBaseDelayMs: 1_000,
  loginMaxDelayMs: 8_000,
  loginFailureMemoryMs: 60_000,
  loginKnownAddressMemoryMs: 600_000,
  loginKnownAddressesPerAccount: 3,
};

/** A fake clock: `now` only moves when the test moves it. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('delayAfter: free failures, doubling from the base, capped', () => {
  const l = new LoginPolicy(limits);
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((n) => l.delayAfter(n)), [0, 0, 0, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000, 8_000]);
});

test('defaults come from shared/limits.ts', () => {
  const l = new LoginPolicy();
  assert.is(l.delayAfter(DEFAULT_LIMITS.loginFreeFailures - 1), 0);
  assert.is(l.delayAfter(DEFAULT_LIMITS.loginFreeFailures), DEFAULT_LIMITS.loginBaseDelayMs);
  assert.is(l.delayAfter(1_000), DEFAULT_LIMITS.loginMaxDelayMs);
});

test('LoginPolicy: counting restarts after the memory; decide takes the longer wait, the account\'s only when unknown', () => {
  const p = new LoginPolicy(limits);
  assert.equal(p.afterFailure(undefined, 5_000), { failures: 1, lastFailureAt: 5_000 });
  assert.equal(p.afterFailure({ failures: 4, lastFailureAt: 0 }, 59_999), { failures: 5, lastFailureAt: 59_999 });
  assert.equal(p.afterFailure({ failures: 4, lastFailureAt: 0 }, 60_000), { failures: 1, lastFailureAt: 60_000 });
  const address = { failures: 3, lastFailureAt: 10_000 }; // owes 1 s
  const account = { failures: 5, lastFailureAt: 10_000 }; // owes 4 s
  assert.equal(p.decide({}, 10_000), { allowed: true });
  assert.equal(p.decide({ address }, 10_500), { allowed: false, retryAfterMs: 500 });
  assert.equal(p.decide({ address, account }, 10_500), { allowed: false, retryAfterMs: 3_500 });
  assert.equal(p.decide({ address, account, knownAt: 0 }, 10_500), { allowed: false, retryAfterMs: 500 });
  assert.equal(p.decide({ address, account, knownAt: 0 }, 11_000), { allowed: true });
  // Known for loginKnownAddressMemoryMs after the success, not a millisecond longer.
  assert.equal(p.decide({ account, knownAt: 10_500 - 600_000 }, 10_500), { allowed: false, retryAfterMs: 3_500 });
  assert.equal(p.decide({ account, knownAt: 10_501 - 600_000 }, 10_500), { allowed: true });
  // An expired counter owes nothing, however long its delay was.
  assert.is(p.waitFor({ failures: 1_000, lastFailureAt: 0 }, 60_000), 0);
});

test('free failures cost nothing; then each attempt waits for its delay after the last failure', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
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
  const l = new MemoryLoginLimiter(limits);
  for (let i = 0; i < 4; i++) l.recordFailure(`10.0.0.${i}`, 'alice', c.now());
  assert.equal(l.check('10.0.0.99', 'alice', c.now()), { allowed: false, retryAfterMs: 2_000 });
  // Other accounts from a fresh address are unaffected; each address has only one failure.
  assert.equal(l.check('10.0.0.99', 'bob', c.now()), { allowed: true });
  assert.equal(l.check('10.0.0.1', 'bob', c.now()), { allowed: true });
  assert.is(l.failures('address', '10.0.0.1', c.now()), 1);
});

test('per address: guessing many accounts from one address is slowed', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  for (const user of ['a', 'b', 'c', 'd', 'e']) l.recordFailure('192.0.2.7', user, c.now());
  assert.equal(l.check('192.0.2.7', 'f', c.now()), { allowed: false, retryAfterMs: 4_000 });
  assert.equal(l.check('192.0.2.8', 'f', c.now()), { allowed: true });
});

test('the longer of the two waits wins', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  for (let i = 0; i < 5; i++) l.recordFailure(`198.51.100.${i}`, 'alice', c.now()); // account: 5 -> 4 s
  for (let i = 0; i < 3; i++) l.recordFailure('203.0.113.1', `u${i}`, c.now()); // address: 3 -> 1 s
  assert.equal(l.check('203.0.113.1', 'alice', c.now()), { allowed: false, retryAfterMs: 4_000 });
  assert.equal(l.check('203.0.113.1', 'u0', c.now()), { allowed: false, retryAfterMs: 1_000 });
});

test('success clears the account, not the address (an own account is no reset button for guessing others)', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  for (let i = 0; i < 6; i++) l.recordFailure('10.1.1.1', 'alice', c.now());
  l.recordFailure('10.1.1.2', 'alice', c.now());
  c.advance(20_000);
  l.recordSuccess('10.1.1.1', 'alice', c.now());
  assert.is(l.failures('account', 'alice', c.now()), 0);
  assert.is(l.failures('address', '10.1.1.1', c.now()), 6);
  assert.is(l.failures('address', '10.1.1.2', c.now()), 1);
  // The 8 s owed after the 6th failure are long over: allowed now.
  assert.equal(l.check('10.1.1.1', 'alice', c.now()), { allowed: true });
  // The address keeps growing from where it was: the next failure owes 16 s, capped to 8 s.
  l.recordFailure('10.1.1.1', 'mallory', c.now());
  assert.equal(l.check('10.1.1.1', 'bob', c.now()), { allowed: false, retryAfterMs: 8_000 });
  // The account counts from zero again.
  assert.is(l.failures('account', 'alice', c.now()), 0);
  for (let i = 0; i < 3; i++) l.recordFailure('10.9.9.9', 'alice', c.now());
  assert.equal(l.check('10.9.9.8', 'alice', c.now()), { allowed: false, retryAfterMs: 1_000 });
});

test('failures are forgotten loginFailureMemoryMs after the last one', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
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
  const l = new MemoryLoginLimiter(limits);
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
  const l = new MemoryLoginLimiter(limits, { maxEntries: 10 });
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
  const l = new MemoryLoginLimiter({ ...limits, loginFailureMemoryMs: Number.MAX_SAFE_INTEGER });
  for (let i = 0; i < 3_000; i++) l.recordFailure('10.7.7.7', 'alice', c.now());
  assert.equal(l.check('10.7.7.7', 'alice', c.now()), { allowed: false, retryAfterMs: 8_000 });
});

test('zero free failures: the first failure already costs a delay', () => {
  const c = clock();
  const l = new MemoryLoginLimiter({ ...limits, loginFreeFailures: 0 });
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
  const l = new MemoryLoginLimiter(limits);
  for (let i = 1; i <= 3; i++) l.recordFailure(`2001:db8:1:2::${i}`, `u${i}`, c.now());
  assert.equal(l.check('2001:db8:1:2::99', 'other', c.now()), { allowed: false, retryAfterMs: 1_000 });
  assert.equal(l.check('2001:db8:1:3::1', 'other', c.now()), { allowed: true });
});

// ---- known addresses: throttling that never locks the owner out (OWASP) ---------------------

/** The wait a decision asks for (0 when allowed). */
function waitOf(d: LoginDecision): number {
  return d.allowed ? 0 : d.retryAfterMs;
}

/** `n` failures against `userKey`, each from a different throwaway address. */
function failFromEverywhere(l: MemoryLoginLimiter, userKey: string, n: number, now: number, prefix = '198.51.100.'): void {
  for (let i = 0; i < n; i++) l.recordFailure(`${prefix}${i}`, userKey, now);
}

test('a known address skips the account delay; an unknown one waits for it', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  l.recordSuccess('10.0.0.2', 'bob', c.now()); // bob logged in from home once
  failFromEverywhere(l, 'bob', 50, c.now());
  assert.equal(l.check('10.0.0.2', 'bob', c.now()), { allowed: true });
  assert.equal(l.check('10.0.0.3', 'bob', c.now()), { allowed: false, retryAfterMs: 8_000 });
  assert.ok(l.isKnownAddress('10.0.0.2', 'bob', c.now()));
  assert.not.ok(l.isKnownAddress('10.0.0.3', 'bob', c.now()));
});

test('a known address still waits for its own address delay (someone at bob\'s address is slowed)', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  l.recordSuccess('10.0.0.2', 'bob', c.now());
  for (let i = 0; i < 4; i++) l.recordFailure('10.0.0.2', 'bob', c.now()); // 4 failures: 2 s
  assert.equal(l.check('10.0.0.2', 'bob', c.now()), { allowed: false, retryAfterMs: 2_000 });
  // Those failures count on the account too, so they slow every unknown address as well.
  assert.is(l.failures('account', 'bob', c.now()), 4);
  assert.equal(l.check('10.0.0.9', 'bob', c.now()), { allowed: false, retryAfterMs: 2_000 });
});

test('every combination of address failures, account failures and known-ness gives the documented wait', () => {
  const counts = [0, 1, 2, 3, 4, 5, 7, 12];
  for (const addressFailures of counts) {
    for (const accountFailuresElsewhere of counts) {
      for (const known of [false, true]) {
        const c = clock();
        const l = new MemoryLoginLimiter(limits);
        if (known) l.recordSuccess('10.0.0.2', 'bob', c.now());
        // Address failures against other accounts, so they do not touch bob's count.
        for (let i = 0; i < addressFailures; i++) l.recordFailure('10.0.0.2', `other${i}`, c.now());
        failFromEverywhere(l, 'bob', accountFailuresElsewhere, c.now());
        const expected = Math.max(l.policy.delayAfter(addressFailures), known ? 0 : l.policy.delayAfter(accountFailuresElsewhere));
        const label = `address ${addressFailures}, account ${accountFailuresElsewhere}, known ${known}`;
        assert.is(waitOf(l.check('10.0.0.2', 'bob', c.now())), expected, label);
        // Registration looks at the address only.
        assert.is(waitOf(l.checkAddress('10.0.0.2', c.now())), l.policy.delayAfter(addressFailures), label);
      }
    }
  }
});

test('known to one account is not known to another: an attacker\'s own account buys no bypass on bob', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  l.recordSuccess('203.0.113.5', 'mallory', c.now());
  failFromEverywhere(l, 'bob', 6, c.now());
  assert.not.ok(l.isKnownAddress('203.0.113.5', 'bob', c.now()));
  assert.equal(l.check('203.0.113.5', 'bob', c.now()), { allowed: false, retryAfterMs: 8_000 });
  assert.equal(l.check('203.0.113.5', 'mallory', c.now()), { allowed: true });
});

test('a valid resume makes its address known without touching any counter', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  failFromEverywhere(l, 'bob', 5, c.now());
  for (let i = 0; i < 2; i++) l.recordFailure('10.0.0.7', 'someone', c.now());
  l.rememberAddress('10.0.0.7', 'bob', c.now());
  assert.is(l.failures('account', 'bob', c.now()), 5);
  assert.is(l.failures('address', '10.0.0.7', c.now()), 2);
  assert.ok(l.isKnownAddress('10.0.0.7', 'bob', c.now()));
  assert.equal(l.check('10.0.0.7', 'bob', c.now()), { allowed: true });
});

test('registration is slowed by its address only, and makes the address known', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  failFromEverywhere(l, 'newbie', 6, c.now()); // failures on a name not yet taken
  assert.equal(l.checkAddress('10.0.0.8', c.now()), { allowed: true });
  for (let i = 0; i < 3; i++) l.recordFailure('10.0.0.8', `x${i}`, c.now());
  assert.equal(l.checkAddress('10.0.0.8', c.now()), { allowed: false, retryAfterMs: 1_000 });
  c.advance(1_000);
  l.recordSuccess('10.0.0.8', 'newbie', c.now());
  assert.ok(l.isKnownAddress('10.0.0.8', 'newbie', c.now()));
  assert.is(l.failures('account', 'newbie', c.now()), 0);
});

test('known addresses are forgotten loginKnownAddressMemoryMs after the last success from them', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  l.recordSuccess('10.0.0.2', 'bob', c.now());
  c.advance(599_999);
  assert.ok(l.isKnownAddress('10.0.0.2', 'bob', c.now()));
  l.rememberAddress('10.0.0.2', 'bob', c.now()); // a resume refreshes it
  c.advance(599_999);
  assert.ok(l.isKnownAddress('10.0.0.2', 'bob', c.now()));
  c.advance(1);
  assert.not.ok(l.isKnownAddress('10.0.0.2', 'bob', c.now()));
  failFromEverywhere(l, 'bob', 4, c.now());
  assert.equal(l.check('10.0.0.2', 'bob', c.now()), { allowed: false, retryAfterMs: 2_000 });
  // The sweep drops the whole account once its newest success is too old.
  assert.is(l.knownSize, 0);
});

test('forgetExpired sweeps known addresses oldest account first and stops at the first one still known', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  l.recordSuccess('10.0.1.1', 'old', c.now());
  c.advance(100_000);
  l.recordSuccess('10.0.1.2', 'mid', c.now());
  l.recordSuccess('10.0.1.3', 'mid', c.now());
  c.advance(100_000);
  l.recordSuccess('10.0.1.4', 'young', c.now());
  l.rememberAddress('10.0.1.5', 'old', c.now()); // old's newest success is now the youngest
  assert.is(l.knownSize, 5);
  l.forgetExpired(c.now() + 600_000 - 100_000); // mid's successes are exactly 600 s old
  assert.is(l.knownSize, 3);
  assert.not.ok(l.isKnownAddress('10.0.1.2', 'mid', c.now()));
  assert.ok(l.isKnownAddress('10.0.1.4', 'young', c.now()));
  assert.ok(l.isKnownAddress('10.0.1.5', 'old', c.now()));
  l.forgetExpired(c.now() + 600_000);
  assert.is(l.knownSize, 0);
});

test('at most loginKnownAddressesPerAccount per account: the least recently used goes first', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits); // 3 per account
  for (const a of ['10.0.2.1', '10.0.2.2', '10.0.2.3']) {
    l.recordSuccess(a, 'bob', c.now());
    c.advance(1);
  }
  l.rememberAddress('10.0.2.1', 'bob', c.now()); // used again: now the youngest
  c.advance(1);
  l.recordSuccess('10.0.2.4', 'bob', c.now());
  assert.is(l.knownSize, 3);
  assert.equal(
    ['10.0.2.1', '10.0.2.2', '10.0.2.3', '10.0.2.4'].map((a) => l.isKnownAddress(a, 'bob', c.now())),
    [true, false, true, true],
  );
  // Remembering the same address again adds nothing.
  l.rememberAddress('10.0.2.4', 'bob', c.now());
  assert.is(l.knownSize, 3);
});

test('at most maxKnownAddresses in all: the account with the oldest success loses its oldest address first', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits, { maxKnownAddresses: 4 });
  l.recordSuccess('10.0.3.1', 'ann', c.now());
  l.recordSuccess('10.0.3.2', 'ann', c.now() + 1);
  l.recordSuccess('10.0.3.3', 'bob', c.now() + 2);
  l.recordSuccess('10.0.3.4', 'cat', c.now() + 3);
  assert.is(l.knownSize, 4);
  l.recordSuccess('10.0.3.5', 'dan', c.now() + 4);
  assert.is(l.knownSize, 4);
  assert.not.ok(l.isKnownAddress('10.0.3.1', 'ann', c.now() + 4));
  assert.ok(l.isKnownAddress('10.0.3.2', 'ann', c.now() + 4));
  l.recordSuccess('10.0.3.6', 'eve', c.now() + 5);
  assert.not.ok(l.isKnownAddress('10.0.3.2', 'ann', c.now() + 5)); // ann had nothing left: gone
  assert.ok(l.isKnownAddress('10.0.3.3', 'bob', c.now() + 5));
  for (let i = 0; i < 1_000; i++) l.recordSuccess(`10.1.${i >> 8}.${i & 255}`, `user${i}`, c.now() + 10 + i);
  assert.is(l.knownSize, 4);
  assert.ok(LOGIN_KNOWN_ADDRESSES_MAX > 0);
});

test('known addresses use the same keys as the address limit: IPv4-mapped and the IPv6 /64', () => {
  const c = clock();
  const l = new MemoryLoginLimiter(limits);
  l.recordSuccess('::ffff:192.0.2.1', 'bob', c.now());
  l.recordSuccess('2001:db8:1:2::1', 'bob', c.now());
  assert.ok(l.isKnownAddress('192.0.2.1', 'bob', c.now()));
  assert.ok(l.isKnownAddress('2001:db8:1:2:ffff::9', 'bob', c.now()));
  assert.not.ok(l.isKnownAddress('2001:db8:1:3::1', 'bob', c.now()));
});

test('the attack: a botnet failing on bob from fresh addresses is slowed; bob at home never is', () => {
  const c = clock();
  const l = new MemoryLoginLimiter({ ...limits, loginKnownAddressMemoryMs: 24 * 3_600_000 });
  l.recordSuccess('10.0.0.2', 'bob', c.now());
  // For an hour, a fresh address tries bob every second (whenever the limiter allows it).
  let guesses = 0;
  for (let second = 0; second < 3_600; second++) {
    const bot = `198.51.${second >> 8}.${second & 255}`;
    if (l.check(bot, 'bob', c.now()).allowed) {
      l.recordFailure(bot, 'bob', c.now());
      guesses += 1;
    }
    assert.equal(l.check('10.0.0.2', 'bob', c.now()), { allowed: true }, `second ${second}`);
    c.advance(1_000);
  }
  // 3 free, then 1 + 2 + 4 s, then one every 8 s (the cap): about 450, not 3,600.
  assert.ok(guesses <= 3 + 3 + 3_600 / 8, `${guesses} guesses`);
  assert.ok(guesses >= 3_600 / 8 - 5, `${guesses} guesses`);
  // Bob's own typo at home costs him only what any address's typo costs.
  l.recordFailure('10.0.0.2', 'bob', c.now());
  assert.equal(l.check('10.0.0.2', 'bob', c.now()), { allowed: true });
});

test.run();
