import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LineEditor } from '../../../tui/view/line-editor.js';
import { textWidth } from '../../../tui/view/text-width.js';

function typed(text: string): LineEditor {
  const e = new LineEditor();
  e.insert(text);
  return e;
}

test('insert, move, backspace and delete by code point (surrogate pairs stay whole)', () => {
  const e = typed('a👍b');
  assert.is(e.text, 'a👍b');
  assert.is(e.cursor, 3);
  assert.is(e.cursorUnits, 4);
  e.left();
  e.backspace();
  assert.is(e.text, 'ab');
  assert.is(e.cursor, 1);
  e.home();
  e.deleteForward();
  assert.is(e.text, 'b');
  e.end();
  e.insert('漢字');
  assert.is(e.text, 'b漢字');
  e.right();
  assert.is(e.cursor, 3, 'right stops at the end');
  e.home();
  e.left();
  assert.is(e.cursor, 0, 'left stops at the start');
  e.backspace();
  assert.is(e.text, 'b漢字');
});

test('typed and pasted control characters never enter the line', () => {
  const e = typed('a\x1b[31mb\x07c\nd');
  assert.is(e.text, 'abc d');
  e.set('x\x1b]0;t\x07y');
  assert.is(e.text, 'xy');
});

test('word motions and deletions (Ctrl-W, Ctrl-U, Ctrl-K)', () => {
  const e = typed('hello big  world');
  e.deleteWordBefore();
  assert.is(e.text, 'hello big  ');
  e.wordLeft();
  assert.is(e.cursor, 6);
  e.wordRight();
  assert.is(e.cursor, 9);
  e.killToEnd();
  assert.is(e.text, 'hello big');
  e.wordLeft();
  e.killToStart();
  assert.is(e.text, 'big');
  assert.is(e.cursor, 0);
});

test('set places the cursor by UTF-16 index; take empties the line', () => {
  const e = new LineEditor();
  e.set('a👍b', 3);
  assert.is(e.cursor, 2);
  e.set('abc', 1);
  assert.is(e.cursor, 1);
  e.set('abc');
  assert.is(e.cursor, 3);
  assert.is(e.take(), 'abc');
  assert.ok(e.empty);
  assert.is(e.cursor, 0);
});

test('the window keeps the cursor visible and never exceeds the width, with wide characters', () => {
  const e = new LineEditor();
  const text = 'ab漢字cdefg你好hijklmnop';
  for (const char of text) {
    e.insert(char);
    for (const width of [1, 2, 3, 5, 8, 13]) {
      const w = e.window(width);
      const used = textWidth(w.before) + Math.max(1, textWidth(w.atCursor)) + textWidth(w.after);
      assert.ok(used <= Math.max(width, 2), `width ${width}: ${JSON.stringify(w)}`);
      assert.is(w.atCursor, ' ', 'at the end the cursor is a blank cell');
      assert.is(w.cursorColumn, textWidth(w.before));
    }
  }
  // Walking left scrolls back, showing some context before the cursor.
  for (let i = 0; i < 12; i += 1) e.left();
  const w = e.window(8);
  assert.ok(text.includes(w.before + w.atCursor + w.after));
  assert.ok(w.atCursor !== ' ');
  e.home();
  assert.is(e.window(8).before, '');
});


test('an emoji typed as two key presses (its UTF-16 halves) arrives whole', () => {
  const e = new LineEditor();
  for (const half of 'a👍b'.split('')) e.insert(half);
  assert.is(e.text, 'a👍b');
  assert.is(e.cursor, 3);
  const lone = new LineEditor();
  lone.insert('\ud83d');
  lone.insert('x');
  assert.is(lone.text, '\ufffdx', 'a high half not followed by a low half is replaced');
});

test.run();
