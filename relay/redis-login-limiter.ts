/**
 * The login limiter of a cluster: its counters in the Redis every relay shares, so an address's
 * growing delay and an account's count follow the attacker from relay to relay (issue 10). The
 * rule is LoginPolicy's (login-limiter.ts), the same as a single relay's: each call reads or
 * changes counters in one Lua script (redis-login-limiter-scripts.ts) on Redis' clock, and
 * decisions are made here from what the script returns.
 *
 * Its own connection to the cluster's Redis (same URL, same key prefix as the store and bus):
 * the bus and store keep theirs private, and a login costs one or two short scripts, so one
 * more connection per relay is cheaper than an interface change to share one. Like the bus it
 * fails fast while Redis is away (no offline queue, no resent commands, a command timeout):
 * callers get E_STORE_UNAVAILABLE at once and the connection comes back by itself.
 *
 * Every key has a TTL (the failure memory, or the known-address memory) and both indexes are
 * capped like the in-memory maps, so nothing grows without bound (docs/storage.md).
 */
import { createHash } from 'node:crypto';
import { failFastRedisOptions } from './redis-bus.js';
import { Redis } from 'ioredis';
import { ChatError } from '../shared/errors.js';
import {
  addressKey,
  LOGIN_KNOWN_ADDRESSES_MAX,
  LOGIN_LIMITER_MAX_ENTRIES,
  LoginPolicy,
  type FailureEntry,
  type LoginDecision,
  type LoginLimiter,
  type LoginLimiterLimits,
  type LoginView,
} from './login-limiter.js';
import { FAIL, LIMITER_SCRIPTS, REMEMBER, VIEW, type LimiterScript } from './redis-login-limiter-scripts.js';

export interface RedisLoginLimiterOptions {
  /** `redis://[user:password@]host:port[/db]`: the cluster's Redis. */
  url: string;
  /** Prefix of every key (default `sc:`, as the store and bus). */
  keyPrefix?: string;
  /** Names the connection in Redis' CLIENT LIST. */
  relayId?: string;
  limits?: Partial<LoginLimiterLimits>;
  /** Most failure counters in all (default LOGIN_LIMITER_MAX_ENTRIES). */
  maxEntries?: number;
  /** Most known (account, address) pairs in all (default LOGIN_KNOWN_ADDRESSES_MAX). */
  maxKnownAddresses?: number;
  commandTimeoutMs?: number;
  reconnectMaxMs?: number;
  log?: (line: string) => void;
}

/** PEXPIRE refuses times past what its clock can hold; a memory longer than this is kept this long. */
const MAX_TTL_MS = 2 ** 40;

export class RedisLoginLimiter implements LoginLimiter {
  readonly policy: LoginPolicy;
  private readonly prefix: string;
  private readonly maxEntries: number;
  private readonly maxKnownAddresses: number;
  private readonly redis: Redis;
  private readonly shas = new Map<string, string>();

  private constructor(options: RedisLoginLimiterOptions) {
    this.policy = new LoginPolicy(options.limits);
    this.prefix = `${options.keyPrefix ?? 'sc:'}login:`;
    this.maxEntries = Math.max(2, Math.floor(options.maxEntries ?? LOGIN_LIMITER_MAX_ENTRIES));
    this.maxKnownAddresses = Math.max(1, Math.floor(options.maxKnownAddresses ?? LOGIN_KNOWN_ADDRESSES_MAX));
    this.redis = new Redis(options.url, { ...failFastRedisOptions(options), connectionName: `securechat:${options.relayId ?? 'relay'}:login` });
    const log = options.log ?? (() => {});
    this.redis.on('error', (error: Error) => log(`redis login limiter: ${error.message}`));
    for (const script of LIMITER_SCRIPTS) this.shas.set(script.name, createHash('sha1').update(script.lua).digest('hex'));
  }

  /** Connects (E_STORE_UNAVAILABLE when Redis cannot be reached; nothing is left retrying then). */
  static async connect(options: RedisLoginLimiterOptions): Promise<RedisLoginLimiter> {
    const limiter = new RedisLoginLimiter(options);
    try {
      await limiter.redis.connect();
    } catch (error) {
      limiter.redis.disconnect();
      throw unavailable(error);
    }
    return limiter;
  }

  async check(address: string, userKey: string): Promise<LoginDecision> {
    const addr = addressKey(address);
    const [now, view] = await this.view([this.failKey(`a:${addr}`), this.failKey(`u:${userKey}`), this.knownKey(userKey)], addr);
    return this.policy.decide(view, now);
  }

  async checkAddress(address: string): Promise<LoginDecision> {
    const addr = addressKey(address);
    const [now, view] = await this.view([this.failKey(`a:${addr}`)], addr);
    return this.policy.decide({ address: view.address }, now);
  }

  async recordFailure(address: string, userKey: string): Promise<void> {
    const members = [`a:${addressKey(address)}`, `u:${userKey}`];
    await this.run(FAIL, [...members.map((member) => this.failKey(member)), this.failIndexKey()], [
      ttl(this.policy.limits.loginFailureMemoryMs),
      this.maxEntries,
      this.failKey(''),
      ...members,
    ]);
  }

  async recordSuccess(address: string, userKey: string): Promise<void> {
    await this.remember(address, userKey, true);
  }

  async rememberAddress(address: string, userKey: string): Promise<void> {
    await this.remember(address, userKey, false);
  }

  async failures(kind: 'address' | 'account', key: string): Promise<number> {
    // VIEW with one key reads just that counter (in the address's place).
    const [now, { address: counter }] = await this.view([this.failKey(kind === 'address' ? `a:${addressKey(key)}` : `u:${key}`)], '');
    return counter === undefined || this.policy.isExpired(counter, now) ? 0 : counter.failures;
  }

  async isKnownAddress(address: string, userKey: string): Promise<boolean> {
    const addr = addressKey(address);
    const [now, view] = await this.view([this.failKey(`a:${addr}`), this.failKey(`u:${userKey}`), this.knownKey(userKey)], addr);
    return this.policy.isKnown(view.knownAt, now);
  }

  async close(): Promise<void> {
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  private async remember(address: string, userKey: string, success: boolean): Promise<void> {
    const { loginKnownAddressMemoryMs, loginKnownAddressesPerAccount } = this.policy.limits;
    const keys = [this.knownKey(userKey), this.knownIndexKey(), ...(success ? [this.failKey(`u:${userKey}`), this.failIndexKey()] : [])];
    await this.run(REMEMBER, keys, [addressKey(address), userKey, ttl(loginKnownAddressMemoryMs), loginKnownAddressesPerAccount, this.maxKnownAddresses, this.knownKey(''), `u:${userKey}`]);
  }

  /** Redis' time and the counters VIEW read (address only with one key). */
  private async view(keys: string[], addr: string): Promise<[number, LoginView]> {
    const reply = (await this.run(VIEW, keys, [addr])) as number[];
    const [now, addressN, addressAt, accountN, accountAt, knownAt] = reply.map(Number);
    const view: LoginView = { address: entry(addressN, addressAt), account: entry(accountN, accountAt) };
    if (knownAt >= 0) view.knownAt = knownAt;
    return [now, view];
  }

  /** Runs a script by its SHA1, loading it when Redis does not know it (first use, after a restart). */
  private async run(script: LimiterScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      try {
        return await this.redis.evalsha(this.shas.get(script.name)!, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error as Error).message.startsWith('NOSCRIPT')) throw error;
        return await this.redis.eval(script.lua, keys.length, ...keys, ...args);
      }
    } catch (error) {
      throw unavailable(error);
    }
  }

  private failKey(member: string): string {
    return `${this.prefix}fail:${member}`;
  }

  private failIndexKey(): string {
    return `${this.prefix}fails`;
  }

  private knownKey(userKey: string): string {
    return `${this.prefix}known:${userKey}`;
  }

  private knownIndexKey(): string {
    return `${this.prefix}known-pairs`;
  }
}

function entry(failures: number, lastFailureAt: number): FailureEntry | undefined {
  return failures >= 0 && lastFailureAt >= 0 ? { failures, lastFailureAt } : undefined;
}

function ttl(ms: number): number {
  return Math.max(1, Math.min(MAX_TTL_MS, Math.ceil(ms)));
}

function unavailable(error: unknown): ChatError {
  if (error instanceof ChatError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ChatError('E_STORE_UNAVAILABLE', 'the relay cannot reach its store right now; try again in a moment', { reason });
}
