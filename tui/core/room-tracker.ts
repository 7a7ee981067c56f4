import { ChatError } from '../../shared/errors.js';
import type { RelayMessageOf, RoomMessage } from '../../shared/messages.js';
import { GLOBAL_ROOM, nameKey } from '../../shared/names.js';
import type { EventHub } from './event-hub.js';
import type { ChatMessage } from './events.js';
import { SeqWindow } from './seen.js';
import type { AckInfo, SendQueue } from './send-queue.js';

export interface RoomState {
  room: string;
  users: string[];
}

export function sameRoom(a: string | null, b: string | null): boolean {
  return a !== null && b !== null && nameKey(a) === nameKey(b);
}

/** `{ away }` when someone is away, else nothing (events leave the field out). */
function awayField(away: Record<string, string> | undefined): { away?: Record<string, string> } {
  return away !== undefined && Object.keys(away).length > 0 ? { away: { ...away } } : {};
}

export function isGlobal(room: string | null): boolean {
  return room !== null && nameKey(room) === GLOBAL_ROOM;
}

/**
 * Where the client is and what it has shown: the current room and its users, per room the
 * sequence ids seen (each message shown once, across reconnects) and the oldest one shown
 * (where /history pages back from). Turns the relay's room traffic into events.
 */
export class RoomTracker {
  private roomName: string | null = null;
  private userList: string[] = [];
  /** Away texts of the current room's members, by name key. */
  private awayTexts = new Map<string, string>();
  private readonly seen = new Map<string, SeqWindow>();
  /** Per room, the oldest sequence id shown: where /history pages back from. */
  private readonly oldestShown = new Map<string, number>();

  constructor(
    private readonly events: EventHub,
    private readonly queue: SendQueue,
    /** This client's user name as the relay spells it (it may change at login). */
    private readonly user: () => string,
  ) {}

  /** The current room, or null before the first login. */
  get room(): string | null {
    return this.roomName;
  }

  /** Users in the current room (kept up to date from presence events); the live list, not a copy. */
  get users(): readonly string[] {
    return this.userList;
  }

  windowFor(room: string): SeqWindow {
    const key = nameKey(room);
    let window = this.seen.get(key);
    if (!window) this.seen.set(key, (window = new SeqWindow()));
    return window;
  }

  /** Who in the current room is away, with their away text, by name as the relay spells it. */
  get away(): Record<string, string> {
    const away: Record<string, string> = {};
    for (const user of this.userList) {
      const text = this.awayTexts.get(nameKey(user));
      if (text !== undefined) away[user] = text;
    }
    return away;
  }

  private setAwayTexts(away: Record<string, string> | undefined): void {
    this.awayTexts = new Map(Object.entries(away ?? {}).map(([user, text]) => [nameKey(user), text]));
  }

  /** Where a resume or rejoin of `room` asks the relay to continue from. */
  sinceFor(room: string): number | undefined {
    const floor = this.windowFor(room).floor;
    return floor >= 0 ? floor : undefined;
  }

  /** Where /history pages back from in the current room. */
  historyBefore(): number | undefined {
    return this.roomName !== null ? this.oldestShown.get(nameKey(this.roomName)) : undefined;
  }

  toChatMessage(m: RoomMessage): ChatMessage {
    const message: ChatMessage = { room: m.room, seq: m.seq, from: m.from, text: m.text, id: m.id, time: m.time };
    if (nameKey(m.from) === nameKey(this.user())) message.own = true;
    return message;
  }

  /** A fresh arrival in a room (login, /create, /join, /leave, or the relay moving us). */
  applyJoined(m: RelayMessageOf<'joined'>): RoomState {
    const previous = this.roomName;
    this.roomName = m.room;
    this.userList = [...m.users];
    this.setAwayTexts(m.away);
    if (previous !== null && !sameRoom(previous, m.room)) this.events.emit({ type: 'left', room: previous });
    const window = this.windowFor(m.room);
    const first = m.history[0];
    // Older messages than what the relay sent as context are not "missed": start counting here.
    if (first) window.skipTo(first.seq - 1);
    const history: ChatMessage[] = [];
    for (const message of m.history) {
      if (nameKey(message.from) === nameKey(this.user()) && this.queue.isUnacked(message.id)) {
        this.settleAck({ id: message.id, room: message.room, seq: message.seq, time: message.time });
      } else if (window.mark(message.seq)) {
        history.push(this.toChatMessage(message));
      }
    }
    if (first) this.oldestShown.set(nameKey(m.room), first.seq);
    else this.oldestShown.delete(nameKey(m.room));
    this.events.emit({ type: 'joined', room: m.room, users: [...m.users], history, hasMore: m.hasMore, rejoined: false, ...awayField(m.away) });
    return { room: m.room, users: [...m.users] };
  }

  /** Back in the same room after a reconnect: what was missed follows as message events. */
  applyRejoined(m: RelayMessageOf<'joined'>, missed: RoomMessage[], truncated: boolean, catchUpMax: number): void {
    this.roomName = m.room;
    this.userList = [...m.users];
    this.setAwayTexts(m.away);
    this.events.emit({ type: 'joined', room: m.room, users: [...m.users], history: [], hasMore: m.hasMore, rejoined: true, ...awayField(m.away) });
    if (truncated) {
      this.events.emitError(new ChatError('E_TOO_LARGE', `more than ${catchUpMax} messages were missed; older ones are left to /history`));
    }
    const window = this.windowFor(m.room);
    const first = missed[0];
    if (first && first.seq > window.floor + 1 && truncated) window.skipTo(first.seq - 1);
    for (const message of missed) this.receiveMessage(message);
  }

  receiveMessage(m: RoomMessage): void {
    if (nameKey(m.from) === nameKey(this.user()) && this.queue.isUnacked(m.id)) {
      // Our own message, stored before the connection broke and its ack was lost.
      this.settleAck({ id: m.id, room: m.room, seq: m.seq, time: m.time });
      return;
    }
    if (!this.windowFor(m.room).mark(m.seq)) return;
    this.noteShown(m.room, m.seq);
    this.events.emit({ type: 'message', ...this.toChatMessage(m) });
  }

  /** The relay stored one of our room messages: `ack`, then (once) the message itself. */
  settleAck(ack: AckInfo): void {
    this.queue.acknowledge(ack, (text) => {
      this.events.emit({ type: 'ack', ...ack });
      if (this.windowFor(ack.room).mark(ack.seq)) {
        this.noteShown(ack.room, ack.seq);
        this.events.emit({ type: 'message', room: ack.room, seq: ack.seq, from: this.user(), text, id: ack.id, time: ack.time, own: true });
      }
    });
  }

  /** Someone came or went. */
  applyPresence(m: RelayMessageOf<'presence'>): void {
    if (sameRoom(m.room, this.roomName)) {
      const key = nameKey(m.user);
      this.userList = this.userList.filter((u) => nameKey(u) !== key);
      if (m.event === 'join') this.userList.push(m.user);
      // A new arrival (or a leave) starts without an away text; theirs follows as `away`.
      this.awayTexts.delete(key);
    }
    this.events.emit({ type: 'presence', room: m.room, user: m.user, event: m.event });
  }

  /** Someone in the room set or cleared their away text. */
  applyAway(m: RelayMessageOf<'away'>): void {
    if (!sameRoom(m.room, this.roomName)) return;
    if (m.text === undefined) this.awayTexts.delete(nameKey(m.user));
    else this.awayTexts.set(nameKey(m.user), m.text);
    this.events.emit(m.text === undefined ? { type: 'away', room: m.room, user: m.user } : { type: 'away', room: m.room, user: m.user, text: m.text });
  }

  /** The answer to /users. */
  applyUsers(m: RelayMessageOf<'users'>): string[] {
    if (sameRoom(m.room, this.roomName)) {
      this.userList = [...m.users];
      this.setAwayTexts(m.away);
    }
    this.events.emit({ type: 'users', room: m.room, users: [...m.users], ...awayField(m.away) });
    return [...m.users];
  }

  /** The answer to /history: older messages, oldest first; the next page starts before them. */
  applyHistory(m: RelayMessageOf<'history'>): ChatMessage[] {
    const messages = m.messages.map((x) => this.toChatMessage(x)).sort((a, b) => a.seq - b.seq);
    const first = messages[0];
    if (first) {
      const key = nameKey(m.room);
      const known = this.oldestShown.get(key);
      if (known === undefined || first.seq < known) this.oldestShown.set(key, first.seq);
    }
    this.events.emit({ type: 'history', room: m.room, messages, hasMore: m.hasMore });
    return messages;
  }

  /** /history pages back from the oldest message shown; in a room joined empty that is the first live one. */
  private noteShown(room: string, seq: number): void {
    const key = nameKey(room);
    if (!this.oldestShown.has(key)) this.oldestShown.set(key, seq);
  }
}
