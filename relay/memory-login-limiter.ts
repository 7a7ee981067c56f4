/**
 * The login limiter of a single relay: its counters in this process's memory (the rule is in
 * login-limiter.ts). Nothing to install; a restart forgets everything (docs/security.md).
 *
 * Synchronous: every method answers at once and takes an optional `now` (ms) so tests can drive
 * a fake clock; the relay leaves it out (Date.now, or the `now` option). Memory is bounded: at
 * most `maxEntries` failure keys (the one with the oldest last failure evicted first) and
 * `maxKnownAddresses` known addresses in all (the account with the oldest success loses its
 * oldest one first).
 */
import {
  addressKey,
  LOGIN_KNOWN_ADDRESSES_MAX,
  LOGIN_LIMITER_MAX_ENTRIES,
  LoginPolicy,
  type FailureEntry,
  type LoginDecision,
  type LoginLimiter,
  type LoginLimiterLimits,
} from './login-limiter.js';

export interface MemoryLoginLimiterOptions {
  maxEntries?: number;
  maxKnownAddresses?: number;
  /** The clock when a call passes no `now`, ms since the epoch (default Date.now). */
  now?: () => number;
}

export class MemoryLoginLimiter implements LoginLimiter {
  readonly policy: LoginPolicy;
  private readonly maxEntries: number;
  private readonly maxKnownAddresses: number;
  private readonly clock: () => number;
  /** Failure counters. Insertion order = order of last failure, so the oldest entry is always first. */
  private readonly entries = new Map<string, FailureEntry>();
  /**
   * Known addresses: account key -> (address key -> time of the last success from it). Both
   * levels in order of last success, oldest first, so eviction and expiry start at the front.
   */
  private readonly known = new Map<string, Map<string, number>>();
  private knownCount = 0;

  constructor(limits: Partial<LoginLimiterLimits> = {}, opts: MemoryLoginLimiterOptions = {}) {
    this.policy = new LoginPolicy(limits);
    this.maxEntries = Math.max(2, Math.floor(opts.maxEntries ?? LOGIN_LIMITER_MAX_ENTRIES));
    this.maxKnownAddresses = Math.max(1, Math.floor(opts.maxKnownAddresses ?? LOGIN_KNOWN_ADDRESSES_MAX));
    this.clock = opts.now ?? Date.now;
  }

  check(address: string, userKey: string, now = this.clock()): LoginDecision {
    return this.policy.decide(
      {
        address: this.liveEntry(this.addressEntryKey(address), now),
        account: this.liveEntry(this.accountEntryKey(userKey), now),
        knownAt: this.known.get(userKey)?.get(addressKey(address)),
      },
      now,
    );
  }

  checkAddress(address: string, now = this.clock()): LoginDecision {
    return this.policy.decide({ address: this.liveEntry(this.addressEntryKey(address), now) }, now);
  }

  recordFailure(address: string, userKey: string, now = this.clock()): void {
    this.bump(this.addressEntryKey(address), now);
    this.bump(this.accountEntryKey(userKey), now);
    this.forgetExpired(now);
  }

  recordSuccess(address: string, userKey: string, now = this.clock()): void {
    this.entries.delete(this.accountEntryKey(userKey));
    this.rememberAddress(address, userKey, now);
  }

  rememberAddress(address: string, userKey: string, now = this.clock()): void {
    const addr = addressKey(address);
    let addresses = this.known.get(userKey);
    if (addresses) this.known.delete(userKey);
    else addresses = new Map();
    // Re-inserted at the young end of both levels.
    this.known.set(userKey, addresses);
    if (addresses.delete(addr)) this.knownCount -= 1;
    addresses.set(addr, now);
    this.knownCount += 1;
    if (addresses.size > this.policy.limits.loginKnownAddressesPerAccount) {
      addresses.delete(addresses.keys().next().value as string);
      this.knownCount -= 1;
    }
    this.forgetExpired(now);
    while (this.knownCount > this.maxKnownAddresses) this.evictOldestKnown();
  }

  isKnownAddress(address: string, userKey: string, now = this.clock()): boolean {
    return this.policy.isKnown(this.known.get(userKey)?.get(addressKey(address)), now);
  }

  failures(kind: 'address' | 'account', key: string, now = this.clock()): number {
    const entryKey = kind === 'address' ? this.addressEntryKey(key) : this.accountEntryKey(key);
    const entry = this.entries.get(entryKey);
    if (entry === undefined || this.policy.isExpired(entry, now)) return 0;
    return entry.failures;
  }

  async close(): Promise<void> {
    // Nothing held open: the counters go with the process.
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
      if (!this.policy.isExpired(entry, now)) break;
      this.entries.delete(key);
    }
    for (const [userKey, addresses] of this.known) {
      let newest = -Infinity;
      for (const seenAt of addresses.values()) newest = seenAt;
      if (this.policy.isKnown(newest, now)) break;
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

  /** The entry, or undefined when there is none or it expired (then it is dropped on the way). */
  private liveEntry(entryKey: string, now: number): FailureEntry | undefined {
    const entry = this.entries.get(entryKey);
    if (entry === undefined) return undefined;
    if (this.policy.isExpired(entry, now)) {
      this.entries.delete(entryKey);
      return undefined;
    }
    return entry;
  }

  private bump(entryKey: string, now: number): void {
    const entry = this.policy.afterFailure(this.entries.get(entryKey), now);
    // Re-insert so the map stays ordered by last failure.
    this.entries.delete(entryKey);
    this.entries.set(entryKey, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
