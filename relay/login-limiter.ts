/**
 * Failed-login limiting: growing delays per remote address and per account, built so that
 * nobody can lock an account's owner out by failing logins on purpose (OWASP Authentication
 * Cheat Sheet: throttle rather than lock out). The rule, in full:
 *
 * 1. Counting. A failed password login counts one failure against its address (IPv4, or the
 *    IPv6 /64) and one against the account named. The first `loginFreeFailures` failures of a
 *    key cost nothing; from then on the next attempt must wait
 *    `loginBaseDelayMs * 2^(failures - loginFreeFailures)` (at most `loginMaxDelayMs`) after
 *    that key's last failure. A key is forgotten `loginFailureMemoryMs` after its last failure.
 * 2. Known addresses. An address the account logged in from, registered from or resumed from
 *    is "known" to it for `loginKnownAddressMemoryMs` after the last such success (at most
 *    `loginKnownAddressesPerAccount` per account, the most recent kept).
 * 3. A password login waits for its address's delay, and for the account's delay only when
 *    the address is not known to the account. So failures from elsewhere slow guessing from
 *    everywhere else but never stop the owner at home; someone at the owner's own address is
 *    still slowed by that address's delay.
 * 4. Registration waits for the address's delay only (the account does not exist yet).
 * 5. Resumes are not limited here: a token is 256 random bits, so a delay would protect
 *    nothing and only hand an attacker a lever on the owner. A valid resume makes its address
 *    known; a failed one counts nothing.
 * 6. A success clears the account's failures, not the address's: otherwise logging into an
 *    account of one's own would wipe the record of guessing other accounts from that address.
 *
 * This module is the rule itself (LoginPolicy: pure, no timers, no I/O, the clock passed in)
 * and the seam the relay calls (LoginLimiter). Where the counters live is the implementation's
 * business: in this process (memory-login-limiter.ts, a single relay) or in Redis, shared by
 * every relay of a cluster (redis-login-limiter.ts). Both read their counters, then let the
 * policy decide, so the rule is written once.
 */
import { isIP } from 'node:net';
import { DEFAULT_LIMITS, type Limits } from '../shared/limits.js';

export type LoginLimiterLimits = Pick<
  Limits,
  'loginFreeFailures' | 'loginBaseDelayMs' | 'loginMaxDelayMs' | 'loginFailureMemoryMs' | 'loginKnownAddressMemoryMs' | 'loginKnownAddressesPerAccount'
>;

export type LoginDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/** One failure counter (an address's or an account's). */
export interface FailureEntry {
  failures: number;
  /** Time of the last failure, ms (the counters' clock). */
  lastFailureAt: number;
}

/** The counters one decision reads. */
export interface LoginView {
  address?: FailureEntry;
  /** The account's counter; left out for a registration (rule 4). */
  account?: FailureEntry;
  /** Time of the last success of this account from this address, if any. */
  knownAt?: number;
}

/** Default cap on remembered failure keys (addresses plus accounts): ~100 bytes each in memory (~10 MB), ~300 in Redis. */
export const LOGIN_LIMITER_MAX_ENTRIES = 100_000;

/** Default cap on known (account, address) pairs in all: ~100 bytes each in memory (~10 MB), ~280 in Redis. */
export const LOGIN_KNOWN_ADDRESSES_MAX = 100_000;

/**
 * What the relay asks of the login limiter. `now` is the implementation's clock: Date.now for
 * the in-memory one (a test may pass its own), Redis' TIME for the shared one, so relays whose
 * clocks differ neither shorten nor stretch a delay. The shared one fails with
 * E_STORE_UNAVAILABLE, fast, while Redis is away; the caller then refuses the login.
 */
export interface LoginLimiter {
  /** May a password login for `userKey` from `address` be attempted now? (Rule 3.) */
  check(address: string, userKey: string): Awaitable<LoginDecision>;
  /** May a registration be attempted from `address` now? (Rule 4.) */
  checkAddress(address: string): Awaitable<LoginDecision>;
  /** Counts a failed password login against both the address and the account. */
  recordFailure(address: string, userKey: string): Awaitable<void>;
  /** A successful password login or registration: the account's failures go, the address becomes known. */
  recordSuccess(address: string, userKey: string): Awaitable<void>;
  /** A valid resume: the address becomes (or stays) known to the account; no counter changes. */
  rememberAddress(address: string, userKey: string): Awaitable<void>;
  /** Failures currently remembered for an address / an account (for logs and tests). */
  failures(kind: 'address' | 'account', key: string): Awaitable<number>;
  /** Is `address` known to the account? (For logs and tests.) */
  isKnownAddress(address: string, userKey: string): Awaitable<boolean>;
  close(): Promise<void>;
}

/** The in-memory limiter answers at once; the shared one after a round trip to Redis. */
export type Awaitable<T> = T | Promise<T>;

/** The limits with shared/limits.ts' defaults filled in (at least one known address per account). */
export function loginLimits(limits: Partial<LoginLimiterLimits> = {}): LoginLimiterLimits {
  return {
    loginFreeFailures: limits.loginFreeFailures ?? DEFAULT_LIMITS.loginFreeFailures,
    loginBaseDelayMs: limits.loginBaseDelayMs ?? DEFAULT_LIMITS.loginBaseDelayMs,
    loginMaxDelayMs: limits.loginMaxDelayMs ?? DEFAULT_LIMITS.loginMaxDelayMs,
    loginFailureMemoryMs: limits.loginFailureMemoryMs ?? DEFAULT_LIMITS.loginFailureMemoryMs,
    loginKnownAddressMemoryMs: limits.loginKnownAddressMemoryMs ?? DEFAULT_LIMITS.loginKnownAddressMemoryMs,
    loginKnownAddressesPerAccount: Math.max(1, Math.floor(limits.loginKnownAddressesPerAccount ?? DEFAULT_LIMITS.loginKnownAddressesPerAccount)),
  };
}

/**
 * The key an address is limited under. IPv4-mapped IPv6 becomes plain IPv4; other IPv6
 * addresses count per /64, since one host usually owns a whole /64 and could rotate within it.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (isIP(address) !== 6) return address;
  return ipv6Prefix64(address);
}

function ipv6Prefix64(address: string): string {
  const withoutZone = address.split('%')[0];
  const [head, tail = ''] = withoutZone.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = withoutZone.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  // An embedded IPv4 tail only affects the low 64 bits, which are dropped anyway.
  const missing = 8 - headParts.length - tailParts.length;
  const groups = withoutZone.includes('::') ? [...headParts, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailParts] : headParts;
  return groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':') + '::/64';
}

/** The rule (rules 1 to 3 above) as arithmetic on counters: pure, the clock passed in. */
export class LoginPolicy {
  readonly limits: LoginLimiterLimits;

  constructor(limits: Partial<LoginLimiterLimits> = {}) {
    this.limits = loginLimits(limits);
  }

  /** Delay owed after `failures` failures, ms (0 while within the free failures). */
  delayAfter(failures: number): number {
    const { loginFreeFailures, loginBaseDelayMs, loginMaxDelayMs } = this.limits;
    if (failures < loginFreeFailures) return 0;
    const doublings = failures - loginFreeFailures;
    // 2^doublings overflows to Infinity for huge counts; min() keeps it at the cap.
    return Math.min(loginMaxDelayMs, loginBaseDelayMs * 2 ** Math.min(doublings, 1024));
  }

  /** Is the counter forgotten (its last failure `loginFailureMemoryMs` ago or more)? */
  isExpired(entry: FailureEntry, now: number): boolean {
    return now - entry.lastFailureAt >= this.limits.loginFailureMemoryMs;
  }

  /** The counter after one more failure at `now`: an expired or missing one starts again from one. */
  afterFailure(entry: FailureEntry | undefined, now: number): FailureEntry {
    const failures = entry === undefined || this.isExpired(entry, now) ? 1 : entry.failures + 1;
    return { failures, lastFailureAt: now };
  }

  /** How long an attempt at `now` must still wait for this counter, ms (0: not at all). */
  waitFor(entry: FailureEntry | undefined, now: number): number {
    if (entry === undefined || this.isExpired(entry, now)) return 0;
    return Math.max(0, entry.lastFailureAt + this.delayAfter(entry.failures) - now);
  }

  /** Is an address whose last success for the account was at `knownAt` still known at `now`? */
  isKnown(knownAt: number | undefined, now: number): boolean {
    return knownAt !== undefined && now - knownAt < this.limits.loginKnownAddressMemoryMs;
  }

  /** The address's wait always; the account's only when the address is not known to it (rules 3, 4). */
  decide(view: LoginView, now: number): LoginDecision {
    const addressWait = this.waitFor(view.address, now);
    const accountWait = this.isKnown(view.knownAt, now) ? 0 : this.waitFor(view.account, now);
    const waitMs = Math.max(addressWait, accountWait);
    return waitMs > 0 ? { allowed: false, retryAfterMs: waitMs } : { allowed: true };
  }
}
