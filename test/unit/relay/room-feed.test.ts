import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RoomFeed } from '../../../relay/room-feed.js';
import type { MessagePage, StoredMessage } from '../../../relay/store.js';
import { eventually } from '../../helpers/wait.js';

function message(seq: number, roomKey = 'r'): StoredMessage {
  return { room: roomKey.toUpperCase(), roomKey, seq, from: 'ann', text: `m${seq}`, time: seq, id: `id${seq}` };
}

/** The room log as a store would serve it (messagesSince only); `failing` makes reads fail. */
function logOf(seqs: number[]) {
  const log = { messages: seqs.map((seq) => message(seq)), failing: 0, reads: 0 };
  const store = {
    async messagesSince(roomKey: string, since: number, limit: number): Promise<MessagePage> {
      log.reads += 1;
      if (log.failing > 0) {
        log.failing -= 1;
        throw new Error('store down');
      }
      const after = log.messages.filter((m) => m.roomKey === roomKey && m.seq > since);
      return { messages: after.slice(0, limit), hasMore: after.length > limit };
    },
  };
  return { log, store };
}

async function settled(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('in order: each message once; older and repeated ones dropped; rooms not followed ignored', () => {
  const delivered: number[] = [];
  const feed = new RoomFeed(logOf([]).store, (m) => delivered.push(m.seq), 100, () => {});
  feed.follow('r', 3);
  for (const seq of [2, 3, 4, 5, 5, 4, 6]) feed.offer(message(seq));
  feed.offer(message(7, 'other'));
  assert.equal(delivered, [4, 5, 6]);
});

test('a gap is filled from the store, in pages, before anything newer; what arrived meanwhile follows once', async () => {
  const { log, store } = logOf([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const delivered: number[] = [];
  const feed = new RoomFeed(store, (m) => delivered.push(m.seq), 3, () => {});
  feed.follow('r', 1);
  feed.offer(message(2));
  feed.offer(message(6)); // 3..5 missed
  feed.offer(message(7));
  feed.offer(message(6));
  await settled();
  assert.equal(delivered, [2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(log.reads >= 3, 'paged');
  feed.offer(message(11));
  assert.equal(delivered.at(-1), 11);
});

test('catchUp after a (re)subscription reads what was published meanwhile', async () => {
  const { store } = logOf([1, 2, 3]);
  const delivered: number[] = [];
  const feed = new RoomFeed(store, (m) => delivered.push(m.seq), 100, () => {});
  feed.follow('r', 1);
  await feed.catchUp('r');
  assert.equal(delivered, [2, 3]);
});

test('a store that fails: nothing is skipped; the fill is tried again', async () => {
  const { log, store } = logOf([1, 2, 3, 4]);
  const delivered: number[] = [];
  const lines: string[] = [];
  const feed = new RoomFeed(store, (m) => delivered.push(m.seq), 100, (line) => lines.push(line));
  feed.follow('r', 1);
  log.failing = 1;
  feed.offer(message(4));
  await settled();
  assert.equal(delivered, [], 'held, not delivered past the gap');
  assert.is(lines.length, 1);
  await eventually(() => delivered.length >= 3, 'the fill tried again', 3_000);
  assert.equal(delivered, [2, 3, 4]);
});

test('unfollow drops a room, also while a fill is under way', async () => {
  const { store } = logOf([1, 2, 3]);
  const delivered: number[] = [];
  const feed = new RoomFeed(store, (m) => delivered.push(m.seq), 100, () => {});
  feed.follow('r', 0);
  feed.offer(message(3));
  feed.unfollow('r');
  await settled();
  assert.equal(delivered, []);
  assert.not.ok(feed.follows('r'));
});

test('whenDelivered: waits until the seq is delivered here; reads the store when pub/sub does not bring it', async () => {
  const { store } = logOf([1, 2, 3, 4]);
  const delivered: number[] = [];
  const feed = new RoomFeed(store, (m) => delivered.push(m.seq), 100, () => {});
  feed.follow('r', 1);
  let done = false;
  const waiting = feed.whenDelivered('r', 2).then(() => (done = true));
  await settled();
  assert.not.ok(done);
  feed.offer(message(2));
  await waiting;
  assert.equal(delivered, [2]);
  // Nothing comes by pub/sub: after the wait, the store fills in 3 and 4. (The feed's timer does
  // not hold the process open; a relay has its sockets for that, this test a timer of its own.)
  const keepAlive = setTimeout(() => {}, 5_000);
  await feed.whenDelivered('r', 4, 20);
  clearTimeout(keepAlive);
  assert.equal(delivered, [2, 3, 4]);
  await feed.whenDelivered('r', 3);
  await feed.whenDelivered('not followed', 99);
});

test.run();
