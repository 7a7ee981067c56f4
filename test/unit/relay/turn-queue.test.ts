import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TurnQueue } from '../../../relay/turn-queue.js';

test('jobs run in arrival order, one per turn of the event loop', async () => {
  const queue = new TurnQueue();
  const seen: string[] = [];
  queue.run(() => {
    seen.push('a');
    // Queued during a's turn: it runs before b, so b did not share a's turn.
    setImmediate(() => seen.push('between'));
  });
  queue.run(() => seen.push('b'));
  const c = queue.turn().then(() => seen.push('c'));
  assert.is(queue.waiting, 3);
  assert.equal(seen, [], 'nothing runs synchronously');
  await c;
  assert.equal(seen, ['a', 'between', 'b', 'c']);
  assert.is(queue.waiting, 0);
});

test('an empty queue takes the next job in the next turn', async () => {
  const queue = new TurnQueue();
  await queue.turn();
  let ran = false;
  queue.run(() => (ran = true));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(ran);
});

test.run();
