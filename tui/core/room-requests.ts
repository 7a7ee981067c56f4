import { performance } from 'node:perf_hooks';
import { ChatError } from '../../shared/errors.js';
import { MAX_HISTORY_MESSAGES, type Limits } from '../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { validateRoomName } from '../../shared/names.js';
import type { EventHub } from './event-hub.js';
import type { ChatMessage, RoomInfo } from './events.js';
import { expectReply } from './replies.js';
import type { RoomState, RoomTracker } from './room-tracker.js';

/** What the room requests may touch of the client. */
export interface RoomRequestsHost {
  request<T>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T): Promise<T>;
  nextId(prefix?: string): string;
  rooms: RoomTracker;
  events: EventHub;
  limits: Limits;
}

/**
 * The requests about rooms and the relay that are one question and one answer (/create,
 * /join, /leave, /users, /away, /rooms, /history, ping): each checks its arguments, asks, and
 * hands the answer to the RoomTracker or the listeners. Keeps this session's /away text (set
 * again after every reconnect: the relay forgets it with the connection) and the last RTT.
 * ChatClient documents each as its API.
 */
export class RoomRequests {
  private awayText: string | undefined;
  private rtt: number | null = null;

  constructor(private readonly host: RoomRequestsHost) {
    host.events.on('connected', () => {
      const text = this.awayText;
      if (text !== undefined) host.request({ t: 'away', id: host.nextId(), text }, (reply) => reply).catch(() => {});
    });
  }

  /** The last measured round-trip time in milliseconds, or null. */
  get rttMs(): number | null {
    return this.rtt;
  }

  moveTo(t: 'create' | 'join', room: string): Promise<RoomState> {
    try {
      validateRoomName(room);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.host.request({ t, id: this.host.nextId(), room }, (reply) => this.host.rooms.applyJoined(expectReply(reply, 'joined')));
  }

  leave(): Promise<RoomState> {
    return this.host.request({ t: 'leave', id: this.host.nextId() }, (reply) => this.host.rooms.applyJoined(expectReply(reply, 'joined')));
  }

  users(): Promise<string[]> {
    return this.host.request({ t: 'users', id: this.host.nextId() }, (reply) => this.host.rooms.applyUsers(expectReply(reply, 'users')));
  }

  away(text?: string): Promise<void> {
    const { limits } = this.host;
    const value = text === undefined || text.trim() === '' ? undefined : text;
    if (value !== undefined && Buffer.byteLength(value) > limits.maxAwayBytes) {
      return Promise.reject(new ChatError('E_TOO_LARGE', `an away text may be at most ${limits.maxAwayBytes} bytes`));
    }
    const id = this.host.nextId();
    return this.host.request(value === undefined ? { t: 'away', id } : { t: 'away', id, text: value }, (reply) => {
      expectReply(reply, 'ok');
      this.awayText = value;
    });
  }

  rooms(): Promise<RoomInfo[]> {
    return this.host.request({ t: 'rooms', id: this.host.nextId() }, (reply) => {
      const m = expectReply(reply, 'rooms');
      const rooms = m.rooms.map((r) => ({ name: r.name, members: r.members }));
      this.host.events.emit({ type: 'rooms', rooms });
      return rooms;
    });
  }

  history(count: number): Promise<ChatMessage[]> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_HISTORY_MESSAGES) {
      return Promise.reject(new ChatError('E_USAGE', `the history count is a whole number from 1 to ${MAX_HISTORY_MESSAGES}`));
    }
    const before = this.host.rooms.historyBefore();
    return this.host.request({ t: 'history', id: this.host.nextId(), before, limit: count }, (reply) => this.host.rooms.applyHistory(expectReply(reply, 'history')));
  }

  ping(): Promise<number> {
    const started = performance.now();
    return this.host.request({ t: 'ping', id: this.host.nextId('p') }, (reply) => {
      expectReply(reply, 'pong');
      const ms = Math.round((performance.now() - started) * 10) / 10;
      this.rtt = ms;
      this.host.events.emit({ type: 'rtt', ms });
      return ms;
    });
  }
}
