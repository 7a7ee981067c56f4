import { ChatError } from '../../shared/errors.js';
import type { RelayMessage, RelayMessageOf, RoomMessage } from '../../shared/messages.js';
import type { SeqWindow } from './seen.js';

/** Asks the relay for one page of history: up to `limit` messages with seq < `before` (newest page if undefined). */
export type HistoryPager = (before: number | undefined, limit: number) => Promise<RelayMessage>;

export interface CatchUpLimits {
  /** Largest page the relay serves (limits.historyMaxPage). */
  maxPage: number;
  /** Most messages to collect; older missed ones are left to /history. */
  maxMessages: number;
}

export interface CatchUp {
  /** Not shown before, oldest first. */
  messages: RoomMessage[];
  /** More were missed than `maxMessages`. */
  truncated: boolean;
}

/**
 * After a reconnect into the room we were in: the messages of it not shown yet, oldest
 * first. When the relay says it sent fewer than were missed (`hasMore`), every hole between
 * our last seen id and what it sent is filled by paging back with `history`, whichever part
 * of the missed range the relay chose to send. Pure apart from `page`.
 */
export async function collectMissed(window: SeqWindow, joined: RelayMessageOf<'joined'>, page: HistoryPager, limits: CatchUpLimits): Promise<CatchUp> {
  const floor = window.floor;
  const collected = new Map<number, RoomMessage>();
  for (const m of joined.history) if (!window.has(m.seq)) collected.set(m.seq, m);
  let truncated = false;
  if (joined.hasMore && floor >= 0) {
    // Holes as (below, above): the ids strictly between are wanted; `above` undefined = up to the newest.
    const holes: Array<[number, number | undefined]> = [];
    let previous = floor;
    for (const m of [...joined.history].sort((a, b) => a.seq - b.seq)) {
      if (m.seq <= previous) continue;
      if (m.seq > previous + 1) holes.push([previous, m.seq]);
      previous = m.seq;
    }
    // Nothing missing inside what was sent: the rest lies above it, up to the newest.
    if (holes.length === 0) holes.push([previous, undefined]);
    fill: for (const [below, above] of holes) {
      let before = above;
      for (;;) {
        const room = limits.maxMessages - collected.size;
        if (room <= 0) {
          truncated = true;
          break fill;
        }
        const wanted = before === undefined ? limits.maxPage : before - below - 1;
        const limit = Math.max(1, Math.min(limits.maxPage, room, wanted));
        const reply = await page(before, limit);
        if (reply.t === 'error') throw new ChatError('E_PROTOCOL', `catching up failed: ${reply.code}: ${reply.message}`, { relayCode: reply.code });
        if (reply.t !== 'history') throw new ChatError('E_PROTOCOL', `expected history from the relay, got ${reply.t}`);
        let oldest: number | undefined;
        for (const m of reply.messages) {
          if (oldest === undefined || m.seq < oldest) oldest = m.seq;
          if (m.seq > below && !window.has(m.seq)) collected.set(m.seq, m);
        }
        if (!reply.hasMore || oldest === undefined || oldest <= below + 1 || (before !== undefined && oldest >= before)) break;
        before = oldest;
      }
    }
  }
  const messages = [...collected.values()].sort((a, b) => a.seq - b.seq);
  return { messages, truncated };
}
