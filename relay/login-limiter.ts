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
 * Pure: no timers, no I/O, the clock is passed in. Memory is bounded: at most `maxEntries`
 * failure keys (the one with the oldest last failure evicted first) and `maxKnownAddresses`
 * known addresses in all (the account with the oldest success loses its oldest one first).
 */
import { isIP } from 'node:net';
import { DEFAULT_LIMITS, type Limits } from '../shared/limits.js';

export type LoginLimiterLimits = Pick<
  Limits,
  'loginFreeFailures' | 'loginBaseDelayMs' | 'loginMaxDelayMs' | 'loginFailureMemoryMs' | 'loginKnownAddressMemoryMs' | 'loginKnownAddressesPerAccount'
>;

export type LoginDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

interface FailureEntry {
  failures: number;
  /** Time of the last failure, ms (caller's clock). */
  lastFailureAt: number;
}

/** Default cap on remembered failure keys (addresses plus accounts): ~100 bytes each, ~10 MB at most. */
export const LOGIN_LIMITER_MAX_ENTRIES = 100_000;

/** Default cap on known (account, address) pairs in all: ~100 bytes each, ~10 MB at most. */
export const LOGIN_KNOWN_ADDRESSES_MAX = 100_000;

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
  private readonly maxKnownAddresses: number;
  /** Failure counters. Insertion order = order of last failure, so the oldest entry is always first. */
  private readonly entries = new Map<string, FailureEntry>();
  /**
   * Known addresses: account key -> (address key -> time of the last success from it). Both
   * levels in order of last success, oldest first, so eviction and expiry start at the front.
   */
  private readonly known = new Map<string, Map<string, number>>();
  private knownCount = 0;

  constructor(limits: Partial<LoginLimiterLimits> = {}, opts: { maxEntries?: number; maxKnownAddresses?: number } = {}) {
    this.limits = {
      loginFreeFailures: limits.loginFreeFailures ?? DEFAULT_LIMITS.loginFreeFailures,
      loginBaseDelayMs: limits.loginBaseDelayMs ?? DEFAULT_LIMITS.loginBaseDelayMs,
      loginMaxDelayMs: limits.loginMaxDelayMs ?? DEFAULT_LIMITS.loginMaxDelayMs,
      loginFailureMemoryMs: limits.loginFailureMemoryMs ?? DEFAULT_LIMITS.loginFailureMemoryMs,
      loginKnownAddressMemoryMs: limits.loginKnownAddressMemoryMs ?? DEFAULT_LIMITS.loginKnownAddressMemoryMs,
      loginKnownAddressesPerAccount: Math.max(1, Math.floor(limits.loginKnownAddressesPerAccount ?? DEFAULT_LIMITS.loginKnownAddressesPerAccount)),
    };
    this.maxEntries = Math.max(2, Math.floor(opts.maxEntries ?? LOGIN_LIMITER_MAX_ENTRIES));
    this.maxKnownAddresses = Math.max(1, Math.floor(opts.maxKnownAddresses ?? LOGIN_KNOWN_ADDRESSES_MAX));
  }

  /** Delay owed after `failures` failures, ms (0 while within the free failures). */
  delayAfter(failures: number): number {
    const { loginFreeFailures, loginBaseDelayMs, loginMaxDelayMs } = this.limits;
    if (failures < loginFreeFailures) return 0;
    const doublings = failures - loginFreeFailures;
    // 2^doublings overflows to Infinity for huge counts; min() keeps it at the cap.
    return Math.min(loginMaxDelayMs, loginBaseDelayMs * 2 ** Math.min(doublings, 1024));
  }

  /**
   * May a password login for `userKey` from `address` be attempted at `now` (ms)? The
   * address's delay always applies; the account's only when the address is not known to it.
   */
  check(address: string, userKey: string, now: number): LoginDecision {
    const addressWait = this.waitFor(this.addressEntryKey(address), now);
    const accountWait = this.isKnownAddress(address, userKey, now) ? 0 : this.waitFor(this.accountEntryKey(userKey), now);
    return decision(Math.max(addressWait, accountWait));
  }

  /** May a registration be attempted from `address` at `now`? Only the address's delay applies. */
  checkAddress(address: string, now: number): LoginDecision {
    return decision(this.waitFor(this.addressEntryKey(address), now));
  }

  /** Count a failed password login against both the address and the account. */
  recordFailure(address: string, userKey: string, now: number): void {
    this.bump(this.addressEntryKey(address), now);
    this.bump(this.accountEntryKey(userKey), now);
    this.forgetExpired(now);
  }

  /**
   * A successful password login or registration: the account's failures are cleared (the
   * address's are not, see rule 6) and the address becomes known to the account.
   */
  recordSuccess(address: string, userKey: string, now: number): void {
    this.entries.delete(this.accountEntryKey(userKey));
    this.rememberAddress(address, userKey, now);
  }

  /** A valid resume: the address becomes (or stays) known to the account; no counter changes. */
  rememberAddress(address: string, userKey: string, now: number): void {
    const addr = addressKey(address);
    let addresses = this.known.get(userKey);
    if (addresses) this.known.delete(userKey);
    else addresses = new Map();
    // Re-inserted at the young end of both levels.
    this.known.set(userKey, addresses);
    if (addresses.delete(addr)) this.knownCount -= 1;
    addresses.set(addr, now);
    this.knownCount += 1;
    if (addresses.size > this.limits.loginKnownAddressesPerAccount) {
      addresses.delete(addresses.keys().next().value as string);
      this.knownCount -= 1;
    }
    this.forgetExpired(now);
    while (this.knownCount > this.maxKnownAddresses) this.evictOldestKnown();
  }

  /** Is `address` known to the account (a success from it within `loginKnownAddressMemoryMs`)? */
  isKnownAddress(address: string, userKey: string, now: number): boolean {
    const seenAt = this.known.get(userKey)?.get(addressKey(address));
    return seenAt !== undefined && now - seenAt < this.limits.loginKnownAddressMemoryMs;
  }

  /** Failures currently remembered for an address / an account (for logs and tests). */
  failures(kind: 'address' | 'account', key: string, now: number): number {
    const entryKey = kind === 'address' ? this.addressEntryKey(key) : this.accountEntryKey(key);
    const entry = this.entries.get(entryKey);
    if (entry === undefined || this.isExpired(entry, now)) return 0;
    return entry.failures;
  }

  /** Remembered failure keys (addresses plus accounts). */
  get size(): number {
    return this.entries.size;
  }

  /** Remembered known (account, address) pairs. */
  get knownSize(): number {
    return this.knownCount;
  }

  /**
   * Drop failure entries whose last failure is older than the failure memory, and accounts
   * whose last success is older than the known-address memory. Cheap: both maps are in time
   * order, so the sweep stops at the first entry still remembered.
   */
  forgetExpired(now: number): void {
    for (const [key, entry] of this.entries) {
      if (!this.isExpired(entry, now)) break;
      this.entries.delete(key);
    }
    for (const [userKey, addresses] of this.known) {
      let newest = -Infinity;
      for (const seenAt of addresses.values()) newest = seenAt;
      if (now - newest < this.limits.loginKnownAddressMemoryMs) break;
      this.known.delete(userKey);
      this.knownCount -= addresses.size;
    }
  }

  private evictOldestKnown(): void {
    const oldest = this.known.entries().next().value as [string, Map<string, number>] | undefined;
    if (!oldest) return;
    const [userKey, addresses] = oldest;
    addresses.delete(addresses.keys().next().value as string);
    this.knownCount -= 1;
    if (addresses.size === 0) this.known.delete(userKey);
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

function decision(waitMs: number): LoginDecision {
  return waitMs > 0 ? { allowed: false, retryAfterMs: waitMs } : { allowed: true };
}
