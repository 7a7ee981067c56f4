import { test } from 'uvu';
import * as assert from 'uvu/assert';
import blessed from 'blessed';
import { charColumns, charWidth, fitWidth, padToWidth, textWidth } from '../../../tui/view/text-width.js';
import { wrapText } from '../../../tui/view/wrap.js';

test('widths: CJK two columns; emoji two columns (taught to blessed); layout width never below the columns', () => {
  assert.is(textWidth('abc'), 3);
  assert.is(textWidth('漢字'), 4);
  assert.is(textWidth('한국'), 4);
  assert.is(textWidth('ｆｕｌｌ'), 8);
  assert.is(charColumns('e'), 1);
  assert.is(charColumns('\u0301'), 0);
  assert.is(textWidth('e\u0301'), 2, 'blessed counts the combining mark when it splits rows');
  assert.is(charColumns('👍'), 2);
  assert.is(charColumns('🎉'), 2);
  assert.is(charColumns('⌚'), 2);
  assert.is(charColumns('漢'), 2);
  assert.is(charColumns('𝐀'), 1, 'a narrow character outside the BMP');
  assert.is(charWidth('👍'), 3);
  assert.is(charWidth('𝐀'), 2);
  for (const char of ['a', '漢', '👍', '⌚', '𝐀', '\u0301', 'é', '…']) assert.ok(charWidth(char) >= charColumns(char), char);
  // blessed reserves the second cell after an emoji, as it does after CJK.
  const all = (blessed as unknown as { unicode: { chars: { all: RegExp } } }).unicode.chars.all;
  assert.is('a👍b漢c'.replace(all, '$1\x03'), 'a👍\x03b漢\x03c');
  assert.equal(fitWidth('漢字abc', 3), { text: '漢', width: 2 });
  assert.is(padToWidth('ab', 4), 'ab  ');
  assert.is(padToWidth('abcdef', 4), 'abc…');
  assert.is(padToWidth('漢字漢字', 5), '漢字…');
  assert.is(textWidth(padToWidth('漢字漢字', 4)), 4);
  assert.is(padToWidth('x', 0), '');
});

test('wraps at spaces, drops the spaces at breaks, and uses the first and rest widths', () => {
  assert.equal(wrapText('hello world', 20, 20), ['hello world']);
  assert.equal(wrapText('hello world', 5, 5), ['hello', 'world']);
  assert.equal(wrapText('aa bb cc dd', 5, 5), ['aa bb', 'cc dd']);
  assert.equal(wrapText('one two three four', 8, 5), ['one two', 'three', 'four']);
  assert.equal(wrapText('a  b', 1, 1), ['a', 'b']);
  assert.equal(wrapText('', 10, 10), ['']);
});

test('long words and text without spaces break between characters; CJK never splits a character', () => {
  assert.equal(wrapText('abcdefghij', 4, 4), ['abcd', 'efgh', 'ij']);
  assert.equal(wrapText('漢字漢字漢', 4, 4), ['漢字', '漢字', '漢']);
  assert.equal(wrapText('漢字漢字漢', 5, 5), ['漢字', '漢字', '漢']);
  assert.equal(wrapText('x 1234567890', 6, 4), ['x', '1234', '5678', '90']);
  // A line narrower than one wide character still makes progress.
  assert.equal(wrapText('漢字', 1, 1), ['漢', '字']);
});

test('no wrapped row is wider than its width (random text)', () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const alphabet = ['a', 'b', ' ', ' ', '漢', '字', 'é', 'e\u0301', '-', 'W'];
  for (let round = 0; round < 500; round += 1) {
    let text = '';
    const length = Math.floor(random() * 60);
    for (let i = 0; i < length; i += 1) text += alphabet[Math.floor(random() * alphabet.length)];
    const first = 2 + Math.floor(random() * 20);
    const rest = 2 + Math.floor(random() * 20);
    const rows = wrapText(text, first, rest);
    rows.forEach((row, i) => assert.ok(textWidth(row) <= (i === 0 ? first : rest), `${JSON.stringify(text)} ${first}/${rest}: ${JSON.stringify(rows)}`));
    // Nothing but spaces is lost.
    assert.is(rows.join('').replace(/ /g, ''), text.replace(/ /g, ''));
  }
});

test.run();
