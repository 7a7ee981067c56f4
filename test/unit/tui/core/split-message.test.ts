import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { splitMessage } from '../../../../tui/core/split-message.js';

const bytes = (text: string): number => Buffer.byteLength(text);

/** Every part within the limit, none empty, none with a broken code point (U+FFFD would show it). */
function checkParts(parts: string[], maxBytes: number): void {
  for (const part of parts) {
    assert.ok(bytes(part) <= maxBytes, `${bytes(part)} > ${maxBytes}: ${JSON.stringify(part)}`);
    assert.ok(part.trim() !== '', 'no empty part');
    assert.is(Buffer.from(part, 'utf8').toString('utf8'), part, 'whole code points only');
  }
}

test('a text that fits is one part, as it is (exactly the limit too)', () => {
  assert.equal(splitMessage('hello world', 11), ['hello world']);
  assert.equal(splitMessage('  spaced  ', 10), ['  spaced  ']);
  const exact = 'a'.repeat(4096);
  assert.equal(splitMessage(exact, 4096), [exact]);
  assert.equal(splitMessage('ä'.repeat(5), 10), ['ä'.repeat(5)], '10 bytes of two-byte letters');
});

test('split at word boundaries; the space at a cut is dropped; order kept', () => {
  assert.equal(splitMessage('the quick brown fox jumps', 10), ['the quick', 'brown fox', 'jumps']);
  assert.equal(splitMessage('aaaa bbbb cccc', 9), ['aaaa bbbb', 'cccc'], 'a part may end right before the space');
  assert.equal(splitMessage('one   two   three', 8), ['one', 'two', 'three'], 'runs of spaces at a cut go');
  assert.equal(splitMessage('line one\nline two', 9), ['line one', 'line two'], 'a newline is a boundary too');
  const words = Array.from({ length: 500 }, (_, i) => `word${i}`).join(' ');
  const parts = splitMessage(words, 100);
  checkParts(parts, 100);
  assert.is(parts.join(' '), words, 'nothing lost or reordered');
});

test('no spaces: cut between characters, just under the limit', () => {
  assert.equal(splitMessage('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
  const long = 'x'.repeat(10_000);
  const parts = splitMessage(long, 4096);
  assert.equal(parts.map((p) => p.length), [4096, 4096, 1808]);
  assert.is(parts.join(''), long);
  // A word longer than a part after some words: the words go first, then the word is cut.
  assert.equal(splitMessage('hi abcdefghijkl', 8), ['hi', 'abcdefgh', 'ijkl']);
});

test('multi-byte characters are never split: two-, three- and four-byte, emoji with joiners', () => {
  // 'ä' is 2 bytes: 5 bytes hold 2 of them, never 2.5.
  assert.equal(splitMessage('äääää', 5), ['ää', 'ää', 'ä']);
  assert.equal(splitMessage('漢字漢字', 7), ['漢字', '漢字'], '3 bytes each: 6 of 7 used');
  const emoji = '😀'.repeat(5); // 4 bytes each
  assert.equal(splitMessage(emoji, 9), ['😀😀', '😀😀', '😀']);
  const family = '👩‍👩‍👧'; // one character of 18 bytes (code points joined by U+200D)
  assert.equal(splitMessage(`${family}${family}`, 20), [family, family], 'a joined emoji stays whole when it fits');
  const cut = splitMessage(family, 8);
  checkParts(cut, 8);
  assert.is(cut.join(''), family, 'one character longer than a part: cut between code points');
  const mixed = 'Grüße aus 東京 🎉 '.repeat(300);
  checkParts(splitMessage(mixed, 4096), 4096);
  checkParts(splitMessage(mixed, 13), 13);
  assert.is(splitMessage(mixed, 4096).join(' ').trimEnd(), mixed.trim(), 'only the spaces at the cuts go');
});

test('whitespace-only stretches make no parts; a limit below one code point is refused', () => {
  assert.equal(splitMessage(`${' '.repeat(20)}word`, 8), ['word']);
  assert.equal(splitMessage(`word${' '.repeat(20)}`, 8), ['word']);
  assert.throws(() => splitMessage('abc', 3), /at least 4/);
});

test.run();
