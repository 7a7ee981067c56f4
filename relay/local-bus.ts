import { ChatError } from '../shared/errors.js';
import { GLOBAL_ROOM } from '../shared/names.js';
import { TokenBucket } from '../shared/token-bucket.js';
import { newTicket, type BusHandlers, type ClusterBus, type PipeMeeting, type RosterEntry, type SealedMessage, type TicketKind, type UserLocation } from './bus.js';
import type { StoredMessage } from './store.js';

/** Buckets remembered at once; the least recently used is forgotten first (it then starts full). */
const MAX_BUCKETS = 100_000;
/** Live tickets, and pipe sides waiting, for the whole relay (each also bounded per user by the caller). */
const MAX_TICKETS = 100_000;

interface Ticket {
  kind: TicketKind;
  ownerKey: string;
  record: string;
  expiresAt: number;
}

interface Member {
  userName: string;
  away: boolean;
  awayText?: string;
}

/**
 * The cluster bus of a relay that is alone: everything in this process's memory, every event
 * handed straight back to the host. Nothing to install, nothing to wait for.
 */
export class LocalBus implements ClusterBus {
  readonly relayId = 'local';
  private handlers: BusHandlers | undefined;
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly sessions = new Map<string, UserLocation>();
  /** roomKey -> (userKey -> member), with the room's display name. */
  private readonly rooms = new Map<string, { name: string; members: Map<string, Member> }>();
  private readonly tickets = new Map<string, Ticket>();
  /** Pipe sides waiting here: own key -> until (epoch ms). */
  private readonly waitingPipes = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  async start(handlers: BusHandlers): Promise<void> {
    this.handlers = handlers;
  }

  async close(): Promise<void> {
    this.handlers = undefined;
  }

  async take(key: string, perSecond: number, burst: number): Promise<number> {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      // Re-insert: the map stays in least-recently-used order.
      this.buckets.delete(key);
    } else {
      bucket = new TokenBucket(perSecond, burst, now);
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, bucket);
    return bucket.take(now) ? 0 : Math.max(1, bucket.waitMs(now));
  }

  async claimSession(userKey: string): Promise<void> {
    this.sessions.set(userKey, { relayId: this.relayId, roomKey: undefined });
  }

  async setUserRoom(userKey: string, roomKey: string | undefined): Promise<void> {
    const session = this.sessions.get(userKey);
    if (session) session.roomKey = roomKey;
  }

  async releaseSession(userKey: string): Promise<void> {
    this.sessions.delete(userKey);
  }

  async locate(userKey: string): Promise<UserLocation | undefined> {
    return this.sessions.get(userKey);
  }

  async announceReturn(userKey: string): Promise<void> {
    this.handlers?.returned(userKey, this.relayId);
  }

  async route(_relayId: string, userKey: string, message: SealedMessage, roomKey: string | undefined): Promise<void> {
    this.handlers?.sealed(userKey, message, roomKey);
  }

  async enterRoom(roomKey: string, roomName: string, userKey: string, userName: string, silent: boolean, awayText?: string): Promise<void> {
    let room = this.rooms.get(roomKey);
    if (!room) {
      room = { name: roomName, members: new Map() };
      this.rooms.set(roomKey, room);
    }
    room.members.set(userKey, awayText === undefined ? { userName, away: false } : { userName, away: false, awayText });
    if (!silent) this.handlers?.presence(roomKey, room.name, userName, 'join');
  }

  async setAway(roomKey: string, roomName: string, userKey: string, userName: string, text: string | undefined): Promise<void> {
    const room = this.rooms.get(roomKey);
    const member = room?.members.get(userKey);
    if (!room || !member) return;
    if (text === undefined) delete member.awayText;
    else member.awayText = text;
    this.handlers?.away(roomKey, room.name, userName, text);
  }

  async stepAway(roomKey: string, userKey: string): Promise<void> {
    const member = this.rooms.get(roomKey)?.members.get(userKey);
    if (member) member.away = true;
  }

  async leaveRoom(roomKey: string, roomName: string, userKey: string, userName: string): Promise<boolean> {
    const room = this.rooms.get(roomKey);
    if (!room?.members.delete(userKey)) return false;
    this.handlers?.presence(roomKey, roomName, userName, 'leave');
    if (room.members.size > 0 || roomKey === GLOBAL_ROOM) return false;
    this.rooms.delete(roomKey);
    return true;
  }

  async roster(roomKey: string): Promise<RosterEntry[]> {
    const members = this.rooms.get(roomKey)?.members ?? new Map<string, Member>();
    return [...members]
      .map(([userKey, { userName, away, awayText }]): RosterEntry => (awayText === undefined ? { userKey, userName, away } : { userKey, userName, away, awayText }))
      .sort((a, b) => a.userName.localeCompare(b.userName));
  }

  async chatrooms(): Promise<Array<{ name: string; members: number }>> {
    return [...this.rooms]
      .filter(([key]) => key !== GLOBAL_ROOM)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, room]) => ({ name: room.name, members: room.members.size }));
  }

  async roomLive(roomKey: string): Promise<boolean> {
    return (this.rooms.get(roomKey)?.members.size ?? 0) > 0;
  }

  async issueTicket(kind: TicketKind, ownerKey: string, record: string, ttlMs: number, maxPerOwner: number): Promise<string> {
    this.dropExpired();
    let held = 0;
    for (const ticket of this.tickets.values()) if (ticket.kind === kind && ticket.ownerKey === ownerKey) held++;
    if (held >= maxPerOwner || this.tickets.size >= MAX_TICKETS) throw new ChatError('E_RATE', 'too many tickets; use or let some expire first');
    const ticket = newTicket();
    this.tickets.set(ticket, { kind, ownerKey, record, expiresAt: this.now() + ttlMs });
    return ticket;
  }

  async redeemTicket(kind: TicketKind, ticket: string): Promise<string | undefined> {
    const found = this.tickets.get(ticket);
    if (!found || found.kind !== kind) return undefined;
    this.tickets.delete(ticket);
    return found.expiresAt >= this.now() ? found.record : undefined;
  }

  async liveTickets(kind: TicketKind, ownerKey: string): Promise<string[]> {
    this.dropExpired();
    return [...this.tickets.values()].filter((ticket) => ticket.kind === kind && ticket.ownerKey === ownerKey).map((ticket) => ticket.record);
  }

  async meetPipe(ownKey: string, partnerKey: string, waitMs: number): Promise<PipeMeeting> {
    const now = this.now();
    const partnerUntil = this.waitingPipes.get(partnerKey);
    if (partnerUntil !== undefined) {
      this.waitingPipes.delete(partnerKey);
      if (partnerUntil >= now) return { kind: 'partner', relayId: this.relayId };
    }
    const ownUntil = this.waitingPipes.get(ownKey);
    if ((ownUntil !== undefined && ownUntil >= now) || this.waitingPipes.size >= MAX_TICKETS) {
      throw new ChatError('E_BAD_TICKET', 'this side of the pipe is already waiting');
    }
    this.waitingPipes.set(ownKey, now + waitMs);
    return { kind: 'waiting' };
  }

  async leavePipe(ownKey: string): Promise<void> {
    this.waitingPipes.delete(ownKey);
  }

  async advertiseLink(): Promise<void> {
    // Alone there is no other relay to link with.
  }

  async linkAddress(): Promise<string | undefined> {
    return undefined;
  }

  async watchRoom(): Promise<void> {}

  async unwatchRoom(): Promise<void> {}

  committed(messages: readonly StoredMessage[]): void {
    for (const message of messages) this.handlers?.roomMessage(message);
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [ticket, { expiresAt }] of this.tickets) if (expiresAt < now) this.tickets.delete(ticket);
    for (const [key, until] of this.waitingPipes) if (until < now) this.waitingPipes.delete(key);
  }
}
