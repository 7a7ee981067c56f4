import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SeqWindow } from '../../../../tui/core/seen.js';

test('in-order ids advance the floor; repeats are duplicates', () => {
  const w = new SeqWindow();
  assert.is(w.floor, 0);
  assert.not.ok(w.mark(0), 'ids start at 1');
  assert.is(new SeqWindow(-1).floor, -1);
  assert.ok(w.mark(1));
  assert.ok(w.mark(2));
  assert.not.ok(w.mark(1));
  assert.not.ok(w.mark(2));
  assert.is(w.floor, 2);
  assert.is(w.highest, 2);
});

test('out-of-order ids wait above the floor until the gap fills', () => {
  const w = new SeqWindow(10);
  assert.ok(w.mark(13));
  assert.ok(w.mark(12));
  assert.is(w.floor, 10);
  assert.is(w.highest, 13);
  assert.not.ok(w.mark(13));
  assert.ok(w.mark(11));
  assert.is(w.floor, 13);
  assert.not.ok(w.mark(12));
});

test('skipTo treats older ids as seen and absorbs the set', () => {
  const w = new SeqWindow();
  w.mark(5);
  w.mark(7);
  w.skipTo(5);
  assert.is(w.floor, 5);
  assert.ok(w.has(3));
  assert.ok(w.mark(6));
  assert.is(w.floor, 7);
  w.skipTo(2);
  assert.is(w.floor, 7);
});

test('the set above the floor is bounded', () => {
  const w = new SeqWindow(0, 8);
  for (let seq = 2; seq <= 20; seq += 1) w.mark(seq);
  // id 1 never came; the window gave up on it rather than grow without bound
  assert.ok(w.floor >= 20 - 8);
  assert.ok(w.has(1));
  assert.not.ok(w.mark(20));
  assert.ok(w.mark(21));
});

test.run();
