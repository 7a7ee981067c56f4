import type { RelayStore, StoredMessage } from './store.js';

interface Followed {
  /** Highest seq handed to `deliver`. */
  last: number;
  /** Callers waiting until a seq is delivered here (see whenDelivered). */
  waiters: Array<{ seq: number; resolve: () => void }>;
  /** Messages that arrived while a gap was being filled. */
  waiting: StoredMessage[];
  filling: boolean;
}

/** A fill that failed (store unreachable) is tried again after this. */
const RETRY_FILL_MS = 1_000;
/** A message this relay stored that pub/sub has not brought back within this is read from the store. */
const WAIT_BEFORE_FILL_MS = 500;
/** Messages held back per room while a gap is filled; past this the newest are re-read from the store anyway. */
const MAX_WAITING = 10_000;

/**
 * Delivers each followed room's messages in sequence order, each exactly once. Messages reach
 * a relay best-effort (its own commits, or Redis pub/sub from every relay); a message that is
 * not the next one in sequence means some were missed, and the gap is filled from the store's
 * log before anything newer is delivered. The store is the truth; the feed only catches up.
 */
export class RoomFeed {
  private readonly rooms = new Map<string, Followed>();

  constructor(
    private readonly store: Pick<RelayStore, 'messagesSince'>,
    private readonly deliver: (message: StoredMessage) => void,
    private readonly pageSize: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts following a room whose messages up to `last` the caller already has. */
  follow(roomKey: string, last: number): void {
    if (!this.rooms.has(roomKey)) this.rooms.set(roomKey, { last, waiting: [], filling: false, waiters: [] });
  }

  follows(roomKey: string): boolean {
    return this.rooms.has(roomKey);
  }

  unfollow(roomKey: string): void {
    const room = this.rooms.get(roomKey);
    this.rooms.delete(roomKey);
    for (const waiter of room?.waiters ?? []) waiter.resolve();
  }

  /**
   * Resolves once the room's messages up to `seq` have been delivered here (at once when they
   * have, or the room is not followed). The relay acknowledges a sender only then, so a client
   * never holds an ack newer than a message it was not yet sent: its resume point (`since`)
   * then never skips one. If the message does not come by pub/sub within `fillAfterMs`, the
   * gap is read from the store.
   */
  whenDelivered(roomKey: string, seq: number, fillAfterMs = WAIT_BEFORE_FILL_MS): Promise<void> {
    const room = this.rooms.get(roomKey);
    if (!room || room.last >= seq) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.rooms.get(roomKey) === room && !room.filling && room.last < seq) void this.fill(roomKey, room);
      }, fillAfterMs);
      timer.unref();
      room.waiters.push({
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** A message of some room: delivered now, later (after a gap is filled) or not at all (seen, or not followed). */
  offer(message: StoredMessage): void {
    const room = this.rooms.get(message.roomKey);
    if (!room || message.seq <= room.last) return;
    if (room.filling) {
      if (room.waiting.length < MAX_WAITING) room.waiting.push(message);
      return;
    }
    if (message.seq === room.last + 1) {
      this.take(room, message);
      return;
    }
    room.waiting.push(message);
    void this.fill(message.roomKey, room);
  }

  /** Reads whatever the store has past what was delivered (after a (re)subscription). */
  catchUp(roomKey: string): Promise<void> {
    const room = this.rooms.get(roomKey);
    if (!room || room.filling) return Promise.resolve();
    return this.fill(roomKey, room);
  }

  private async fill(roomKey: string, room: Followed): Promise<void> {
    room.filling = true;
    try {
      for (;;) {
        const page = await this.store.messagesSince(roomKey, room.last, this.pageSize);
        if (this.rooms.get(roomKey) !== room) return;
        for (const message of page.messages) this.take(room, message);
        if (!page.hasMore) break;
      }
    } catch (error) {
      // The store is unreachable: hold what waits and try again shortly; nothing is skipped.
      this.log(`room ${roomKey}: could not fill a gap from the store: ${(error as Error)?.message ?? error}`);
      setTimeout(() => {
        if (this.rooms.get(roomKey) === room) void this.fill(roomKey, room);
      }, RETRY_FILL_MS).unref();
      return;
    }
    room.filling = false;
    // The store had everything it will have: what waits is newer, in order.
    const waiting = room.waiting.sort((a, b) => a.seq - b.seq);
    room.waiting = [];
    for (const message of waiting) this.take(room, message);
  }

  private take(room: Followed, message: StoredMessage): void {
    if (message.seq <= room.last) return;
    room.last = message.seq;
    this.deliver(message);
    if (room.waiters.length === 0) return;
    const due = room.waiters.filter((waiter) => waiter.seq <= room.last);
    room.waiters = room.waiters.filter((waiter) => waiter.seq > room.last);
    for (const waiter of due) waiter.resolve();
  }
}
