/**
 * The cluster bus of several relays on one Redis. What is shared lives in Redis keys (presence
 * hashes, sessions, token buckets, liveness leases: docs/storage.md, "Redis bus"); what moves
 * between relays goes over pub/sub (room events, relay inboxes), which Redis never writes to
 * its AOF, so whispers and transfer signals stay off disk. Every change that depends on a
 * check is one Lua script (redis-bus-scripts.ts).
 *
 * Two connections: commands, and a subscriber (a connection in subscribe mode runs nothing
 * else). Both fail fast while Redis is away (no offline queue, no retried commands): callers
 * get E_STORE_UNAVAILABLE at once and the connections keep reconnecting by themselves.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { ChatError } from '../shared/errors.js';
import { DEFAULT_LIMITS } from '../shared/limits.js';
import { GLOBAL_ROOM, isValidName } from '../shared/names.js';
import { newTicket, PREFETCH_HOLD_MS, type BusHandlers, type ClusterBus, type PipeMeeting, type RosterEntry, type SealedMessage, type TicketKind, type UserLocation } from './bus.js';
import {
  BUS_SCRIPTS,
  CHATROOMS,
  CLAIM,
  ENTER,
  ISSUE_TICKET,
  LEAVE,
  LIVE_TICKETS,
  LOCATE,
  MEET_PIPE,
  REDEEM_TICKET,
  RELEASE,
  RENEW,
  SET_ROOM,
  STEP_AWAY,
  SET_AWAY,
  SWEEP,
  TAKE,
  type BusScript,
} from './redis-bus-scripts.js';
import {
  parseClusterEvent,
  parseInboxEvent,
  parseLocation,
  parseMember,
  parseRoomEvent,
  replacedEvent,
  returnedEvent,
  sealedEvent,
  type MemberRecord,
} from './redis-bus-wire.js';
import type { StoredMessage } from './store.js';

export interface RedisBusOptions {
  /** `redis://[user:password@]host:port[/db]` */
  url: string;
  /** This relay's id in the cluster: a name (letters, digits, `_ . -`), unique among live relays. */
  relayId: string;
  /** Prefix of every key and channel; the store uses the same one. Default `sc:`. */
  keyPrefix?: string;
  /** Liveness lease, ms (default DEFAULT_LIMITS.busLeaseMs). */
  leaseMs?: number;
  /** Presence grace given to members of a relay found gone, ms (default DEFAULT_LIMITS.presenceGraceMs). */
  graceMs?: number;
  /** How often this relay runs the presence sweep, ms (default leaseMs / 2). */
  sweepMs?: number;
  commandTimeoutMs?: number;
  reconnectMaxMs?: number;
  /** Clock for presence graces and the lease watch (epoch ms). Token buckets use Redis' clock. */
  now?: () => number;
  log?: (line: string) => void;
}

type Timer = ReturnType<typeof setInterval>;

/** Bucket keys with tokens taken ahead, at most (the oldest is dropped: stricter, never looser). */
const MAX_PREFETCHED = 100_000;

/** Flood tokens taken ahead from a bucket in Redis (see take), spendable until `until`. */
interface HeldTokens {
  tokens: number;
  until: number;
  /** A background take for more is under way. */
  refilling: boolean;
}

export class RedisBus implements ClusterBus {
  readonly relayId: string;
  private readonly prefix: string;
  private readonly leaseMs: number;
  private readonly graceMs: number;
  private readonly sweepMs: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly commands: Redis;
  private readonly subscriber: Redis;
  private readonly shas = new Map<string, string>();
  /** Tokens taken ahead per bucket key (see ClusterBus.take), spendable here until `until`. */
  private readonly prefetched = new Map<string, HeldTokens>();
  /** Rooms whose channel this relay listens to (re-subscribed after every reconnect). */
  private readonly watched = new Set<string>();
  private handlers: BusHandlers | undefined;
  private timers: Timer[] = [];
  private closed = false;
  /** Marks the lease as this process's: another relay started with the same id is told apart. */
  private readonly instance = `${randomBytes(8).toString('hex')}`;
  /** Last time the lease was renewed (this relay's clock). */
  private renewedAt = 0;
  private renewing = false;
  private sweeping = false;
  /** cutOff was called and no renewal has succeeded since: do not call it again. */
  private isCutOff = false;

  constructor(options: RedisBusOptions) {
    if (!isValidName(options.relayId)) throw new ChatError('E_USAGE', 'a relay id is 1-32 characters: letters, digits, _ . -');
    this.relayId = options.relayId;
    this.prefix = options.keyPrefix ?? 'sc:';
    this.leaseMs = options.leaseMs ?? DEFAULT_LIMITS.busLeaseMs;
    this.graceMs = options.graceMs ?? DEFAULT_LIMITS.presenceGraceMs;
    this.sweepMs = options.sweepMs ?? Math.max(50, Math.floor(this.leaseMs / 2));
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => {});
    const common = failFastRedisOptions(options);
    // Commands issued in one tick (a burst of flood-token takes) go out in one write, in order.
    this.commands = new Redis(options.url, { ...common, enableAutoPipelining: true, connectionName: `securechat:${this.relayId}` });
    // Re-subscribed by hand after a reconnect (subscribeAll) so the host hears `resubscribed`
    // only once Redis confirmed the subscription: a gap fill from the store after that point
    // cannot miss a message published in between.
    this.subscriber = new Redis(options.url, { ...common, autoResubscribe: false, connectionName: `securechat:${this.relayId}:sub` });
    for (const [name, connection] of [['commands', this.commands], ['subscriber', this.subscriber]] as const) {
      connection.on('error', (error: Error) => this.log(`redis bus (${name}): ${error.message}`));
    }
    for (const script of BUS_SCRIPTS) this.shas.set(script.name, createHash('sha1').update(script.lua).digest('hex'));
  }

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
    // A bus that could not start leaves no connection retrying in the background.
    const started = this.unavailableOnError(async () => {
      await Promise.all([this.commands.connect(), this.subscriber.connect()]);
      this.subscriber.on('message', (channel: string, text: string) => this.dispatch(channel, text));
      await this.subscribeAll();
      await this.takeLease();
      // A relay starting (again) under this id holds no one yet: whoever Redis still lists on
      // it turns away now, with the grace, rather than hang on as present.
      await this.sweep(this.relayId);
    });
    await started.catch((error: unknown) => {
      this.abandon();
      throw error;
    });
    this.subscriber.on('ready', () => void this.subscribeAll().catch((error: Error) => this.log(`redis bus: re-subscribe failed: ${error.message}`)));
    this.every(Math.max(10, Math.floor(this.leaseMs / 5)), () => this.renewLease());
    this.every(this.sweepMs, () => this.sweep(''));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopTimers();
    // Give up the lease at once: the other relays' sweeps turn this relay's members away now,
    // with the grace, so its clients resume elsewhere silently.
    if (this.commands.status === 'ready') await this.commands.del(this.aliveKey(this.relayId)).catch(() => {});
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe().catch(() => {});
    this.watched.clear();
    this.handlers = undefined;
    await Promise.all([quit(this.commands), quit(this.subscriber)]);
  }

  /** Stops at once without a word to Redis, as a killed relay would (its lease lapses by itself). For tests. */
  abandon(): void {
    this.stopTimers();
    this.handlers = undefined;
    this.commands.disconnect();
    this.subscriber.disconnect();
  }

  // ---- rate limits

  async take(key: string, perSecond: number, burst: number, prefetch = 1): Promise<number> {
    const ahead = Math.max(1, Math.floor(prefetch));
    const held = this.prefetched.get(key);
    if (held && held.until >= this.now() && held.tokens > 0) {
      held.tokens -= 1;
      // Half spent: take the next ones now, in the background, so a steady sender never waits
      // for a Redis round trip before its message is stored.
      if (held.tokens <= ahead / 2 && !held.refilling) this.refill(key, held, perSecond, burst, ahead);
      return 0;
    }
    this.prefetched.delete(key);
    const [taken, wait] = await this.takeFromRedis(key, perSecond, burst, ahead);
    if (taken >= 1) {
      if (taken > 1) this.holdTokens(key, taken - 1);
      return 0;
    }
    return wait < 0 ? Infinity : wait;
  }

  /** Up to `count` tokens from the bucket in Redis: [tokens taken, ms until one is free or -1]. */
  private async takeFromRedis(key: string, perSecond: number, burst: number, count: number): Promise<[number, number]> {
    const reply = await this.run(TAKE, [`${this.prefix}bucket:${key}`], [perSecond, burst, count]);
    return Array.isArray(reply) ? [Number(reply[0]), Number(reply[1])] : [0, -1];
  }

  private holdTokens(key: string, tokens: number): void {
    if (this.prefetched.size >= MAX_PREFETCHED) this.prefetched.delete(this.prefetched.keys().next().value!);
    this.prefetched.set(key, { tokens, until: this.now() + PREFETCH_HOLD_MS, refilling: false });
  }

  /** Takes more tokens ahead and adds them to what is held for `key` (the hold restarts: they were just taken). */
  private refill(key: string, held: HeldTokens, perSecond: number, burst: number, count: number): void {
    held.refilling = true;
    this.takeFromRedis(key, perSecond, burst, count).then(
      ([taken]) => {
        held.refilling = false;
        if (taken < 1) return;
        const current = this.prefetched.get(key);
        if (current && current.until >= this.now()) {
          current.tokens += taken;
          current.until = this.now() + PREFETCH_HOLD_MS;
        } else {
          this.holdTokens(key, taken);
        }
      },
      // Redis unreachable: the next take past what is held asks again (and fails fast there).
      () => {
        held.refilling = false;
      },
    );
  }

  // ---- sessions

  async claimSession(userKey: string): Promise<void> {
    await this.run(CLAIM, [this.userKey(userKey)], [this.relayId, JSON.stringify({ relayId: this.relayId }), this.relayChannel(''), replacedEvent(userKey)]);
  }

  async setUserRoom(userKey: string, roomKey: string | undefined): Promise<void> {
    await this.run(SET_ROOM, [this.userKey(userKey)], [this.relayId, JSON.stringify({ relayId: this.relayId, roomKey })]);
  }

  async releaseSession(userKey: string): Promise<void> {
    await this.run(RELEASE, [this.userKey(userKey)], [this.relayId]);
  }

  async locate(userKey: string): Promise<UserLocation | undefined> {
    const text = await this.run(LOCATE, [this.userKey(userKey)], [this.relayChannel(''), ':alive']);
    return typeof text === 'string' ? parseLocation(text) : undefined;
  }

  async announceReturn(userKey: string): Promise<void> {
    await this.unavailableOnError(() => this.commands.publish(`${this.prefix}cluster`, returnedEvent(userKey, this.relayId)));
  }

  // ---- routing

  async route(relayId: string, userKey: string, message: SealedMessage, roomKey: string | undefined): Promise<void> {
    // PUBLISH only: never stored, never in the AOF.
    const receivers = await this.unavailableOnError(() => this.commands.publish(this.relayChannel(relayId), sealedEvent(userKey, message, roomKey)));
    // Nobody listens on that inbox (the relay is gone or reconnecting): say so rather than
    // drop a whisper without a word; the sender retries, by then the user may be elsewhere.
    if (receivers === 0) throw new ChatError('E_STORE_UNAVAILABLE', `relay ${relayId} is not reachable right now; try again`, { relayId });
  }

  // ---- presence

  async enterRoom(roomKey: string, roomName: string, userKey: string, userName: string, silent: boolean, awayText?: string): Promise<void> {
    const member: MemberRecord = { userName, relayId: this.relayId, away: false };
    if (awayText !== undefined) member.awayText = awayText;
    await this.run(ENTER, [this.membersKey(roomKey), this.roomsKey()], [roomKey, roomName, userKey, JSON.stringify(member), silent ? 1 : 0, this.roomChannel(roomKey), userName]);
  }

  async stepAway(roomKey: string, userKey: string, untilMs: number): Promise<void> {
    await this.run(STEP_AWAY, [this.membersKey(roomKey)], [this.relayId, roomKey, userKey, Math.round(untilMs)]);
  }

  async setAway(roomKey: string, roomName: string, userKey: string, userName: string, text: string | undefined): Promise<void> {
    await this.run(SET_AWAY, [this.membersKey(roomKey), this.roomsKey()], [this.relayId, roomKey, userKey, text ?? '', this.roomChannel(roomKey), roomName, userName]);
  }

  async leaveRoom(roomKey: string, roomName: string, userKey: string, userName: string): Promise<boolean> {
    const ended = await this.run(LEAVE, [this.membersKey(roomKey), this.roomsKey()], [this.relayId, roomKey, userKey, roomName, userName, this.roomChannel(roomKey), GLOBAL_ROOM]);
    return ended === 1;
  }

  async roster(roomKey: string): Promise<RosterEntry[]> {
    const entries = await this.unavailableOnError(() => this.commands.hgetall(this.membersKey(roomKey)));
    const roster: RosterEntry[] = [];
    for (const [userKey, text] of Object.entries(entries)) {
      const member = parseMember(text);
      if (member) roster.push(member.awayText === undefined ? { userKey, userName: member.userName, away: member.away } : { userKey, userName: member.userName, away: member.away, awayText: member.awayText });
    }
    return roster.sort((a, b) => a.userName.localeCompare(b.userName));
  }

  async chatrooms(): Promise<Array<{ name: string; members: number }>> {
    const flat = await this.run(CHATROOMS, [this.roomsKey()], [`${this.prefix}room:`, ':members', GLOBAL_ROOM]);
    const rooms: Array<{ key: string; name: string; members: number }> = [];
    if (Array.isArray(flat)) {
      for (let i = 0; i + 2 < flat.length; i += 3) {
        rooms.push({ key: String(flat[i]), name: String(flat[i + 1]), members: Number(flat[i + 2]) });
      }
    }
    return rooms.sort((a, b) => a.key.localeCompare(b.key)).map(({ name, members }) => ({ name, members }));
  }

  async roomLive(roomKey: string): Promise<boolean> {
    return (await this.unavailableOnError(() => this.commands.hlen(this.membersKey(roomKey)))) > 0;
  }

  // ---- one-time tickets (stored under their digest: whoever reads Redis cannot redeem them)

  async issueTicket(kind: TicketKind, ownerKey: string, record: string, ttlMs: number, maxPerOwner: number): Promise<string> {
    const ticket = newTicket();
    const digest = ticketDigest(ticket);
    const issued = await this.run(ISSUE_TICKET, [this.ticketKey(kind, digest), this.ticketIndexKey(kind, ownerKey)], [digest, ownerKey, record, Math.round(ttlMs), maxPerOwner]);
    if (issued !== 1) throw new ChatError('E_RATE', 'too many tickets; use or let some expire first');
    return ticket;
  }

  async redeemTicket(kind: TicketKind, ticket: string): Promise<string | undefined> {
    const digest = ticketDigest(ticket);
    const record = await this.run(REDEEM_TICKET, [this.ticketKey(kind, digest)], [this.ticketIndexKey(kind, ''), digest]);
    return typeof record === 'string' ? record : undefined;
  }

  async liveTickets(kind: TicketKind, ownerKey: string): Promise<string[]> {
    const records = await this.run(LIVE_TICKETS, [this.ticketIndexKey(kind, ownerKey)], [this.ticketKey(kind, '')]);
    return Array.isArray(records) ? records.map(String) : [];
  }

  // ---- relay pipe rendezvous

  async meetPipe(ownKey: string, partnerKey: string, waitMs: number): Promise<PipeMeeting> {
    const found = String(await this.run(MEET_PIPE, [this.pipeKey(partnerKey), this.pipeKey(ownKey)], [this.relayId, Math.round(waitMs)]));
    if (found === '!') throw new ChatError('E_BAD_TICKET', 'this side of the pipe is already waiting');
    return found === '' ? { kind: 'waiting' } : { kind: 'partner', relayId: found };
  }

  async leavePipe(ownKey: string): Promise<void> {
    // Only our own registration: a partner who took it meanwhile is on its way here.
    await this.unavailableOnError(() => this.commands.del(this.pipeKey(ownKey)));
  }

  async advertiseLink(address: string): Promise<void> {
    await this.unavailableOnError(() => this.commands.set(this.linkKey(this.relayId), address));
  }

  async linkAddress(relayId: string): Promise<string | undefined> {
    return (await this.unavailableOnError(() => this.commands.get(this.linkKey(relayId)))) ?? undefined;
  }

  // ---- room events

  async watchRoom(roomKey: string): Promise<void> {
    this.watched.add(roomKey);
    // While Redis is away (or just went: the connection may not know yet) the room stays
    // remembered and is subscribed on reconnect (subscribeAll), with `resubscribed` then.
    if (this.subscriber.status !== 'ready') return;
    try {
      await this.subscriber.subscribe(this.roomChannel(roomKey));
    } catch (error) {
      this.log(`redis bus: subscribing ${roomKey} failed, again on reconnect: ${(error as Error).message}`);
      return;
    }
    this.callHandler((handlers) => handlers.resubscribed(roomKey));
  }

  async unwatchRoom(roomKey: string): Promise<void> {
    if (!this.watched.delete(roomKey)) return;
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(this.roomChannel(roomKey)).catch(() => {});
  }

  committed(): void {
    // The store's append script already published each message on its room channel.
  }

  // ---- internals

  /** Subscribes the inbox, the cluster channel and every watched room; then each room may have a gap. */
  private async subscribeAll(): Promise<void> {
    if (this.closed) return;
    const rooms = [...this.watched];
    await this.subscriber.subscribe(this.relayChannel(this.relayId), `${this.prefix}cluster`, ...rooms.map((room) => this.roomChannel(room)));
    for (const room of rooms) if (this.watched.has(room)) this.callHandler((handlers) => handlers.resubscribed(room));
  }

  private dispatch(channel: string, text: string): void {
    if (channel === this.relayChannel(this.relayId)) {
      const event = parseInboxEvent(text);
      if (!event) return this.log(`redis bus: dropped an invalid event on ${channel}`);
      if (event.t === 'replaced') this.callHandler((handlers) => handlers.replaced(event.userKey));
      else this.callHandler((handlers) => handlers.sealed(event.userKey, event.message, event.roomKey));
      return;
    }
    if (channel === `${this.prefix}cluster`) {
      const event = parseClusterEvent(text);
      if (!event) return this.log(`redis bus: dropped an invalid event on ${channel}`);
      this.callHandler((handlers) => handlers.returned(event.userKey, event.relayId));
      return;
    }
    const roomKey = channel.slice(this.roomChannel('').length);
    // A message can still arrive between UNSUBSCRIBE and its confirmation.
    if (!channel.startsWith(this.roomChannel('')) || !this.watched.has(roomKey)) return;
    const event = parseRoomEvent(roomKey, text);
    if (!event) return this.log(`redis bus: dropped an invalid event on ${channel}`);
    if (event.kind === 'message') this.callHandler((handlers) => handlers.roomMessage(event.message));
    else if (event.kind === 'away') this.callHandler((handlers) => handlers.away(roomKey, event.roomName, event.userName, event.text));
    else this.callHandler((handlers) => handlers.presence(roomKey, event.roomName, event.userName, event.event));
  }

  /** A throwing handler is the host's bug; it must not take the subscriber connection down. */
  private callHandler(call: (handlers: BusHandlers) => void): void {
    const handlers = this.handlers;
    if (!handlers) return;
    try {
      call(handlers);
    } catch (error) {
      this.log(`redis bus: a handler threw: ${(error as Error).message}`);
    }
  }

  /**
   * Takes this relay id's lease at start. A lease held by another instance is either a relay
   * that was killed (it lapses within leaseMs) or a second relay running with the same id,
   * which would split the cluster's view of who is where: wait out the first, refuse the second.
   */
  private async takeLease(): Promise<void> {
    const deadline = this.now() + this.leaseMs + 500;
    for (;;) {
      const held = Number(await this.run(RENEW, [this.aliveKey(this.relayId)], [this.instance, this.leaseMs]));
      if (held >= 0) {
        this.renewedAt = this.now();
        return;
      }
      if (this.now() > deadline) throw new ChatError('E_USAGE', `relay id ${this.relayId} is in use by another running relay; give each relay its own --relay-id`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, this.leaseMs / 4)));
    }
  }

  private async renewLease(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    try {
      const held = Number(await this.run(RENEW, [this.aliveKey(this.relayId)], [this.instance, this.leaseMs]));
      if (held === -1) {
        this.cutOff(`another relay now runs as ${this.relayId}`);
      } else if (held === 1) {
        this.renewedAt = this.now();
        this.isCutOff = false;
      } else {
        // The lease lapsed: other relays may have turned our members away. Serving on would
        // show a split view; the host closes its clients, who resume (here or elsewhere).
        this.renewedAt = this.now();
        this.cutOff(`the liveness lease lapsed (not renewed within ${this.leaseMs} ms)`);
      }
    } catch (error) {
      if (this.now() - this.renewedAt > this.leaseMs) this.cutOff(`Redis unreachable for over ${this.leaseMs} ms: ${(error as Error).message}`);
    } finally {
      this.renewing = false;
    }
  }

  private cutOff(reason: string): void {
    if (this.isCutOff) return;
    this.isCutOff = true;
    this.log(`redis bus: cut off: ${reason}`);
    this.callHandler((handlers) => handlers.cutOff(reason));
  }

  /** One presence sweep over every live room (see SWEEP); `goneRelay` also counts as gone. */
  private async sweep(goneRelay: string): Promise<void> {
    if (this.sweeping || this.closed || this.commands.status !== 'ready') return;
    this.sweeping = true;
    try {
      const rooms = await this.commands.hkeys(this.roomsKey());
      for (const roomKey of rooms) {
        await this.run(SWEEP, [this.membersKey(roomKey), this.roomsKey()], [
          this.relayChannel(''),
          ':alive',
          this.now(),
          this.graceMs,
          this.roomChannel(roomKey),
          roomKey,
          GLOBAL_ROOM,
          goneRelay,
        ]);
      }
    } catch (error) {
      this.log(`redis bus: presence sweep failed: ${(error as Error).message}`);
    } finally {
      this.sweeping = false;
    }
  }

  /** Runs a script by its SHA1, loading it when Redis does not know it (first use, after a restart). */
  private async run(script: BusScript, keys: string[], args: Array<string | number>): Promise<unknown> {
    return this.unavailableOnError(async () => {
      try {
        return await this.commands.evalsha(this.shas.get(script.name)!, script.keys, ...keys, ...args);
      } catch (error) {
        if (!(error as Error).message.startsWith('NOSCRIPT')) throw error;
        return await this.commands.eval(script.lua, script.keys, ...keys, ...args);
      }
    });
  }

  private async unavailableOnError<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof ChatError) throw error;
      throw new ChatError('E_STORE_UNAVAILABLE', undefined, { cause: (error as Error).message });
    }
  }

  private every(ms: number, task: () => Promise<void>): void {
    const timer = setInterval(() => void task(), ms);
    timer.unref();
    this.timers.push(timer);
  }

  private stopTimers(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  private userKey(userKey: string): string {
    return `${this.prefix}user:${userKey}`;
  }

  private membersKey(roomKey: string): string {
    return `${this.prefix}room:${roomKey}:members`;
  }

  private roomsKey(): string {
    return `${this.prefix}rooms`;
  }

  private aliveKey(relayId: string): string {
    return `${this.prefix}relay:${relayId}:alive`;
  }

  private ticketKey(kind: TicketKind, digest: string): string {
    return `${this.prefix}ticket:${kind}:${digest}`;
  }

  private ticketIndexKey(kind: TicketKind, ownerKey: string): string {
    return `${this.prefix}tickets:${kind}:${ownerKey}`;
  }

  private pipeKey(sideKey: string): string {
    return `${this.prefix}pipe:${createHash('sha256').update(sideKey).digest('base64url')}`;
  }

  private linkKey(relayId: string): string {
    return `${this.prefix}relay:${relayId}:link`;
  }

  private roomChannel(roomKey: string): string {
    return `${this.prefix}room:${roomKey}`;
  }

  private relayChannel(relayId: string): string {
    return `${this.prefix}relay:${relayId}`;
  }
}

/**
 * ioredis options that fail fast while Redis is away (no queue of commands waiting for it to
 * come back, none resent after: callers get E_STORE_UNAVAILABLE at once) and reconnect by
 * themselves (every 100 ms more, at most `reconnectMaxMs`). Shared by the bus and the login limiter.
 */
export function failFastRedisOptions(options: { commandTimeoutMs?: number; reconnectMaxMs?: number }): RedisOptions {
  const reconnectMaxMs = options.reconnectMaxMs ?? DEFAULT_LIMITS.busReconnectMaxMs;
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_LIMITS.busCommandTimeoutMs,
    retryStrategy: (attempt) => Math.min(attempt * 100, reconnectMaxMs),
  };
}

/** Tickets are kept in Redis under their SHA-256: a copy of Redis' data redeems nothing. */
function ticketDigest(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}

/** QUIT when connected (Redis answers, then closes); otherwise just drop the socket. */
async function quit(connection: Redis): Promise<void> {
  if (connection.status === 'ready') {
    await connection.quit().catch(() => connection.disconnect());
  } else {
    connection.disconnect();
  }
}
