/**
 * Failed-login limiting, per remote address and per account, with growing delays.
 *
 * Rule: the first `loginFreeFailures` failures of a key cost nothing. From then on the next
 * attempt must wait `loginBaseDelayMs * 2^(failures - loginFreeFailures)` (at most
 * `loginMaxDelayMs`) after the last failure. A key is forgotten `loginFailureMemoryMs` after
 * its last failure, and a successful login clears both its address and its account.
 *
 * Pure: no timers, no I/O, the clock is passed in. Memory is bounded: at most `maxEntries`
 * keys are kept, the one with the oldest last failure evicted first.
 */
import { isIP } from 'node:net';
import { DEFAULT_LIMITS, type Limits } from '../shared/limits.js';

export type LoginLimiterLimits = Pick<Limits, 'loginFreeFailures' | 'loginBaseDelayMs' | 'loginMaxDelayMs' | 'loginFailureMemoryMs'>;

export type LoginDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

interface FailureEntry {
  failures: number;
  /** Time of the last failure, ms (caller's clock). */
  lastFailureAt: number;
}

/** Default cap on remembered keys (addresses plus accounts): ~100 bytes each, ~10 MB at most. */
export const LOGIN_LIMITER_MAX_ENTRIES = 100_000;

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

export class LoginLimiter {
  private readonly limits: LoginLimiterLimits;
  private readonly maxEntries: number;
  /** Insertion order = order of last failure, so the oldest entry is always first. */
  private readonly entries = new Map<string, FailureEntry>();

  constructor(limits: Partial<LoginLimiterLimits> = {}, opts: { maxEntries?: number } = {}) {
    this.limits = {
      loginFreeFailures: limits.loginFreeFailures ?? DEFAULT_LIMITS.loginFreeFailures,
      loginBaseDelayMs: limits.loginBaseDelayMs ?? DEFAULT_LIMITS.loginBaseDelayMs,
      loginMaxDelayMs: limits.loginMaxDelayMs ?? DEFAULT_LIMITS.loginMaxDelayMs,
      loginFailureMemoryMs: limits.loginFailureMemoryMs ?? DEFAULT_LIMITS.loginFailureMemoryMs,
    };
    this.maxEntries = Math.max(2, Math.floor(opts.maxEntries ?? LOGIN_LIMITER_MAX_ENTRIES));
  }

  /** Delay owed after `failures` failures, ms (0 while within the free failures). */
  delayAfter(failures: number): number {
    const { loginFreeFailures, loginBaseDelayMs, loginMaxDelayMs } = this.limits;
    if (failures < loginFreeFailures) return 0;
    const doublings = failures - loginFreeFailures;
    // 2^doublings overflows to Infinity for huge counts; min() keeps it at the cap.
    return Math.min(loginMaxDelayMs, loginBaseDelayMs * 2 ** Math.min(doublings, 1024));
  }

  /** May a login for `userKey` from `address` be attempted at `now` (ms)? */
  check(address: string, userKey: string, now: number): LoginDecision {
    const wait = Math.max(this.waitFor(this.addressEntryKey(address), now), this.waitFor(this.accountEntryKey(userKey), now));
    return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
  }

  /** Count a failed login against both the address and the account. */
  recordFailure(address: string, userKey: string, now: number): void {
    this.bump(this.addressEntryKey(address), now);
    this.bump(this.accountEntryKey(userKey), now);
    this.forgetExpired(now);
  }

  /** A successful login clears the account's and the address's failures. */
  recordSuccess(address: string, userKey: string, _now?: number): void {
    this.entries.delete(this.addressEntryKey(address));
    this.entries.delete(this.accountEntryKey(userKey));
  }

  /** Failures currently remembered for an address / an account (for logs and tests). */
  failures(kind: 'address' | 'account', key: string, now: number): number {
    const entryKey = kind === 'address' ? this.addressEntryKey(key) : this.accountEntryKey(key);
    const entry = this.entries.get(entryKey);
    if (entry === undefined || this.isExpired(entry, now)) return 0;
    return entry.failures;
  }

  /** Remembered keys (addresses plus accounts). */
  get size(): number {
    return this.entries.size;
  }

  /** Drop entries whose last failure is older than the memory; cheap because the map is in failure order. */
  forgetExpired(now: number): void {
    for (const [key, entry] of this.entries) {
      if (!this.isExpired(entry, now)) break;
      this.entries.delete(key);
    }
  }

  private addressEntryKey(address: string): string {
    return `a ${addressKey(address)}`;
  }

  private accountEntryKey(userKey: string): string {
    return `u ${userKey}`;
  }

  private isExpired(entry: FailureEntry, now: number): boolean {
    return now - entry.lastFailureAt >= this.limits.loginFailureMemoryMs;
  }

  private waitFor(entryKey: string, now: number): number {
    const entry = this.entries.get(entryKey);
    if (entry === undefined) return 0;
    if (this.isExpired(entry, now)) {
      this.entries.delete(entryKey);
      return 0;
    }
    return Math.max(0, entry.lastFailureAt + this.delayAfter(entry.failures) - now);
  }

  private bump(entryKey: string, now: number): void {
    const entry = this.entries.get(entryKey);
    const failures = entry === undefined || this.isExpired(entry, now) ? 1 : entry.failures + 1;
    // Re-insert so the map stays ordered by last failure.
    this.entries.delete(entryKey);
    this.entries.set(entryKey, { failures, lastFailureAt: now });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
