/**
 * The cluster bus: what is live and shared between relays, as opposed to what is durable (the
 * store, store.ts). One relay uses `LocalBus` (in memory, nothing to install); several relays
 * on one Redis use `RedisBus`. The host (host.ts) keeps its own connections and the members
 * it serves; the bus answers for the whole cluster and carries events between relays.
 *
 * Rules every implementation keeps:
 * - Room messages reach relays through `RoomFeed` (room-feed.ts), which delivers each room's
 *   messages in sequence order exactly once and fills any gap from the store: pub/sub is
 *   best-effort, the store's log is the truth.
 * - Whispers and transfer signals are routed relay to relay and never written to disk or to
 *   anything Redis persists (its AOF): pub/sub only.
 * - Presence is "who is in which room right now, on any relay", with the presence grace: a
 *   member whose connection dropped stays listed as away until the grace ends.
 */
import { randomBytes } from 'node:crypto';
import type { RelayMessageOf } from '../shared/messages.js';
import type { StoredMessage } from './store.js';

export type SealedMessage = RelayMessageOf<'whisper'> | RelayMessageOf<'signal'>;

/** One member of a room as the cluster sees it. */
export interface RosterEntry {
  userKey: string;
  userName: string;
  /** Dropped a moment ago and within the presence grace: listed, sent nothing. */
  away: boolean;
  /** The text the user gave with /away (absent when they are not away by choice). */
  awayText?: string;
}

/** Where a logged-in user is: which relay, and in which room. */
export interface UserLocation {
  relayId: string;
  roomKey: string | undefined;
}

export type PresenceEvent = 'join' | 'leave';

/** The one-time tickets a relay hands out for side connections (relay pipe, room-file upload, download). */
export type TicketKind = 'pipe' | 'put' | 'get';

/** Where one side of a relay pipe stands after `meetPipe`. */
export type PipeMeeting =
  | { kind: 'waiting' }
  /** The partner waits on relay `relayId` (this one or another): join it there. */
  | { kind: 'partner'; relayId: string };

/** What the bus tells the host about other relays' doings. */
export interface BusHandlers {
  /** A stored room message (from any relay, own ones included), for the room feed. */
  roomMessage(message: StoredMessage): void;
  /** Another relay announced a join or leave in a room this relay has members in. */
  presence(roomKey: string, roomName: string, userName: string, event: PresenceEvent): void;
  /** A member of a room this relay has members in set (`text`) or cleared (undefined) their away text. */
  away(roomKey: string, roomName: string, userName: string, text: string | undefined): void;
  /** A sealed message for a user connected here (`roomKey`: only deliver while they are in that room). */
  sealed(userKey: string, message: SealedMessage, roomKey: string | undefined): void;
  /** The user logged in on another relay: close their session here with E_REPLACED. */
  replaced(userKey: string): void;
  /** A user came back on relay `relayId`: hand over anything held for them. */
  returned(userKey: string, relayId: string): void;
  /** (Re)subscribed to a room's events: whatever was published meanwhile may be missing. */
  resubscribed(roomKey: string): void;
  /** The bus lost its backend for longer than the liveness lease: stop serving. */
  cutOff(reason: string): void;
}

export interface ClusterBus {
  /** This relay's id in the cluster ("local" alone). */
  readonly relayId: string;
  start(handlers: BusHandlers): Promise<void>;
  close(): Promise<void>;

  // ---- rate limits (token buckets shared by every relay)
  /**
   * Takes one token from bucket `key` (refilled at `perSecond`, holding at most `burst`).
   * Resolves with 0 when taken, else the ms until one is free.
   *
   * `prefetch` > 1: the bus may take up to that many tokens at once and spend the rest here on
   * the next takes (for a bucket that only this relay draws from at a time, such as a user's
   * flood bucket: a user's session is on one relay), taking the next ones in the background
   * once half are spent, so a steady sender does not wait on the bucket. It never hands out
   * more tokens than the bucket gave; prefetched tokens unused for `PREFETCH_HOLD_MS` are
   * dropped, not returned, so a limit can only ever come out stricter.
   */
  take(key: string, perSecond: number, burst: number, prefetch?: number): Promise<number>;

  // ---- sessions
  /** Marks `userKey` as logged in here (in `roomKey`); another relay holding them is told to let go. */
  claimSession(userKey: string): Promise<void>;
  /** The user's room changed (undefined: between rooms). */
  setUserRoom(userKey: string, roomKey: string | undefined): Promise<void>;
  /** The session here ended (lost, replaced or exit); forgets the location only if it still points here. */
  releaseSession(userKey: string): Promise<void>;
  /** Where a user is logged in, if anywhere. */
  locate(userKey: string): Promise<UserLocation | undefined>;
  /** Tells the cluster a user is back on this relay (relays holding messages for them send them here). */
  announceReturn(userKey: string): Promise<void>;

  // ---- routing
  /** Sends a sealed message to the relay `relayId` for its user `userKey`. */
  route(relayId: string, userKey: string, message: SealedMessage, roomKey: string | undefined): Promise<void>;

  // ---- presence
  /** `userKey` is in the room now (or again), away with `awayText` if given; publishes a join unless `silent`. */
  enterRoom(roomKey: string, roomName: string, userKey: string, userName: string, silent: boolean, awayText?: string): Promise<void>;
  /**
   * Sets (`text`) or clears (undefined) the away text of `userKey`, listed in the room by this
   * relay, and tells the room's relays (`away`). Nothing happens when they are not listed here.
   */
  setAway(roomKey: string, roomName: string, userKey: string, userName: string, text: string | undefined): Promise<void>;
  /** `userKey` dropped: listed as away until `untilMs` (epoch ms). */
  stepAway(roomKey: string, userKey: string, untilMs: number): Promise<void>;
  /**
   * `userKey` left the room (or their grace ended): publishes the leave unless they are in it
   * again. Resolves true when this emptied the room (it ends).
   */
  leaveRoom(roomKey: string, roomName: string, userKey: string, userName: string): Promise<boolean>;
  /** Members of a room, sorted by name. */
  roster(roomKey: string): Promise<RosterEntry[]>;
  /** Live chatrooms (the global room excluded) with their member counts, sorted by key. */
  chatrooms(): Promise<Array<{ name: string; members: number }>>;
  /** Whether a chatroom is live anywhere in the cluster (has members or members away). */
  roomLive(roomKey: string): Promise<boolean>;

  // ---- one-time tickets: issued on one relay, redeemable once on any relay
  /**
   * Issues a ticket (24 random bytes, base64url) carrying `record` for `ttlMs`. E_RATE when
   * `ownerKey` already holds `maxPerOwner` live tickets of this kind.
   */
  issueTicket(kind: TicketKind, ownerKey: string, record: string, ttlMs: number, maxPerOwner: number): Promise<string>;
  /** Takes a ticket (single use): its record, or undefined when unknown, used, expired or of another kind. */
  redeemTicket(kind: TicketKind, ticket: string): Promise<string | undefined>;
  /** The records of `ownerKey`'s live, unredeemed tickets of this kind. */
  liveTickets(kind: TicketKind, ownerKey: string): Promise<string[]>;

  // ---- relay pipe rendezvous (the two sides may arrive on different relays)
  /**
   * One side of a pipe arrived here: when its partner (`partnerKey`) waits on some relay, that
   * place is taken (no one else can join it) and the partner's relay is returned; otherwise this
   * side (`ownKey`) is registered as waiting here for `waitMs`. E_BAD_TICKET when this side is
   * already waiting.
   */
  meetPipe(ownKey: string, partnerKey: string, waitMs: number): Promise<PipeMeeting>;
  /** This side stopped waiting here (it timed out or its connection closed). */
  leavePipe(ownKey: string): Promise<void>;
  /** Records where this relay accepts relay links (host:port), for the other relays. */
  advertiseLink(address: string): Promise<void>;
  /** Where relay `relayId` accepts relay links, if it said. */
  linkAddress(relayId: string): Promise<string | undefined>;

  // ---- room events
  /** Start receiving a room's messages and presence (a local member entered it). */
  watchRoom(roomKey: string): Promise<void>;
  /** Stop receiving them (the last local member left). */
  unwatchRoom(roomKey: string): Promise<void>;
  /** Messages this relay stored: LocalBus passes them to `roomMessage`; RedisBus has them from the store's publish. */
  committed(messages: readonly StoredMessage[]): void;
}

/** How long tokens taken ahead (see ClusterBus.take) stay spendable on the relay that took them. */
export const PREFETCH_HOLD_MS = 1_000;

/** A fresh one-time ticket: 24 random bytes, base64url. */
export function newTicket(): string {
  return randomBytes(24).toString('base64url');
}
