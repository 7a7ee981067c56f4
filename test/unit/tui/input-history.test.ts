import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputHistory } from '../../../tui/input-history.js';

test('Up walks back, Down forward, then back to the draft', () => {
  const h = new InputHistory();
  h.push('one');
  h.push('two');
  h.push('three');
  assert.is(h.up('draft'), 'three');
  assert.ok(h.browsing);
  assert.is(h.up('three'), 'two');
  assert.is(h.up('two'), 'one');
  assert.is(h.up('one'), undefined, 'nothing older');
  assert.is(h.down('one'), 'two');
  assert.is(h.down('two'), 'three');
  assert.is(h.down('three'), 'draft', 'the half-typed line comes back');
  assert.not.ok(h.browsing);
  assert.is(h.down('draft'), undefined, 'nothing newer than the draft');
});

test('an empty history has nothing to recall', () => {
  const h = new InputHistory();
  assert.is(h.up(''), undefined);
  assert.is(h.down(''), undefined);
  assert.equal(h.lines, []);
});

test('blank lines and immediate repeats are not recorded', () => {
  const h = new InputHistory();
  h.push('a');
  h.push('a');
  h.push('   ');
  h.push('');
  h.push('b');
  h.push('a');
  assert.equal(h.lines, ['a', 'b', 'a']);
});

test('edits to a recalled line are kept while browsing and forgotten after a submit', () => {
  const h = new InputHistory();
  h.push('first');
  h.push('second');
  assert.is(h.up(''), 'second');
  assert.is(h.up('second edited'), 'first');
  assert.is(h.down('first'), 'second edited');
  assert.is(h.down('second edited'), '');
  h.push('third');
  assert.is(h.up(''), 'third');
  assert.is(h.up('third'), 'second', 'the edit was forgotten');
  assert.equal(h.lines, ['first', 'second', 'third']);
});

test('push returns to the draft position; reset forgets browsing', () => {
  const h = new InputHistory();
  h.push('x');
  h.push('y');
  h.up('');
  h.up('y');
  h.reset();
  assert.is(h.up('new draft'), 'y');
  assert.is(h.down('y'), 'new draft');
});

test('the oldest lines are dropped beyond maxEntries', () => {
  const h = new InputHistory(3);
  for (const line of ['1', '2', '3', '4', '5']) h.push(line);
  assert.equal(h.lines, ['3', '4', '5']);
  assert.is(h.up(''), '5');
  assert.is(h.up('5'), '4');
  assert.is(h.up('4'), '3');
  assert.is(h.up('3'), undefined);
  assert.throws(() => new InputHistory(0), RangeError);
  assert.throws(() => new InputHistory(1.5), RangeError);
});

test.run();
