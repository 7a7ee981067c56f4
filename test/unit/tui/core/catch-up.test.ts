import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RelayMessage, RelayMessageOf, RoomMessage } from '../../../../shared/messages.js';
import { collectMissed, type HistoryPager } from '../../../../tui/core/catch-up.js';
import { SeqWindow } from '../../../../tui/core/seen.js';

/** A room log of messages 1..n and a pager over it that behaves like the relay's `history`. */
function room(n: number): { log: RoomMessage[]; pager: HistoryPager; calls: Array<[number | undefined, number]> } {
  const log = Array.from({ length: n }, (_, i) => ({ room: 'r', seq: i + 1, from: 'bob', text: `m${i + 1}`, time: i, id: `id${i + 1}` }));
  const calls: Array<[number | undefined, number]> = [];
  const pager: HistoryPager = async (before, limit) => {
    calls.push([before, limit]);
    const older = log.filter((m) => before === undefined || m.seq < before);
    const messages = older.slice(-limit);
    return { t: 'history', re: 'x', room: 'r', messages, hasMore: older.length > messages.length };
  };
  return { log, pager, calls };
}

function joined(history: RoomMessage[], hasMore: boolean): RelayMessageOf<'joined'> {
  return { t: 'joined', room: 'r', users: [], history, hasMore };
}

const seqs = (messages: RoomMessage[]) => messages.map((m) => m.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const limits = { maxPage: 5, maxMessages: 1000 };

test('everything missed came along: no paging', async () => {
  const { log, pager, calls } = room(20);
  const result = await collectMissed(new SeqWindow(15), joined(log.slice(15), false), pager, limits);
  assert.equal(seqs(result.messages), [16, 17, 18, 19, 20]);
  assert.is(result.truncated, false);
  assert.equal(calls, []);
});

test('already shown messages are dropped', async () => {
  const { log, pager } = room(20);
  const window = new SeqWindow(15);
  window.mark(18);
  const result = await collectMissed(window, joined(log.slice(15), false), pager, limits);
  assert.equal(seqs(result.messages), [16, 17, 19, 20]);
});

test('the relay sent the oldest missed and the newest (a hole in the middle): the hole is paged in', async () => {
  const { log, pager, calls } = room(40);
  // This is what the relay does after a long absence: the first page after `since`, then its ring.
  const sent = [...log.slice(10, 15), ...log.slice(37)];
  const result = await collectMissed(new SeqWindow(10), joined(sent, true), pager, limits);
  assert.equal(seqs(result.messages), range(11, 40));
  assert.ok(calls.length >= 5 && calls.every(([, limit]) => limit <= 5));
});

test('the relay sent only the newest: the hole below is paged in', async () => {
  const { log, pager } = room(30);
  const result = await collectMissed(new SeqWindow(3), joined(log.slice(25), true), pager, limits);
  assert.equal(seqs(result.messages), range(4, 30));
});

test('the relay sent only the oldest: the rest above is paged in from the newest down', async () => {
  const { log, pager } = room(30);
  const result = await collectMissed(new SeqWindow(3), joined(log.slice(3, 8), true), pager, limits);
  assert.equal(seqs(result.messages), range(4, 30));
});

test('the relay sent nothing but said more: paged from the newest', async () => {
  const { pager } = room(12);
  const result = await collectMissed(new SeqWindow(2), joined([], true), pager, limits);
  assert.equal(seqs(result.messages), range(3, 12));
});

test('bounded: beyond maxMessages the rest is left to /history', async () => {
  const { log, pager } = room(100);
  const result = await collectMissed(new SeqWindow(0), joined(log.slice(95), true), pager, { maxPage: 5, maxMessages: 20 });
  assert.is(result.truncated, true);
  assert.is(result.messages.length, 20);
  assert.equal(seqs(result.messages), range(81, 100));
});

test('never seen anything in the room: what the relay sent is all there is', async () => {
  const { log, pager, calls } = room(60);
  const result = await collectMissed(new SeqWindow(-1), joined(log.slice(10), true), pager, limits);
  assert.equal(seqs(result.messages), range(11, 60));
  assert.equal(calls, []);
});

test('a relay that answers with an error or nonsense ends the catch-up with E_PROTOCOL', async () => {
  const { log } = room(30);
  const failing: HistoryPager = async () => ({ t: 'error', re: 'x', code: 'E_INTERNAL', message: 'no' }) as RelayMessage;
  try {
    await collectMissed(new SeqWindow(1), joined(log.slice(25), true), failing, limits);
    assert.unreachable();
  } catch (error) {
    assert.is((error as { code: string }).code, 'E_PROTOCOL');
  }
  // A page that does not move back does not loop forever.
  const stuck: HistoryPager = async () => ({ t: 'history', re: 'x', room: 'r', messages: log.slice(25), hasMore: true });
  const result = await collectMissed(new SeqWindow(1), joined(log.slice(25), true), stuck, limits);
  assert.equal(seqs(result.messages), range(26, 30));
});

test.run();
