import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NICK_PALETTE, fnv1a32, nickColour } from '../../../tui/nick-colour.js';

test('FNV-1a matches its published test vectors', () => {
  assert.is(fnv1a32(''), 0x811c9dc5);
  assert.is(fnv1a32('a'), 0xe40c292c);
  assert.is(fnv1a32('foobar'), 0xbf9cf968);
});

test('a nick always gets the same colour, whatever its case', () => {
  for (const nick of ['alice', 'bob', 'Carol', 'x', 'a-very-long-nick_with.dots']) {
    assert.is(nickColour(nick), nickColour(nick));
    assert.is(nickColour(nick.toUpperCase()), nickColour(nick.toLowerCase()));
    assert.ok(NICK_PALETTE.includes(nickColour(nick)));
  }
  // Pinned so a change of palette or hash is a visible decision (people learn their colours).
  assert.is(nickColour('alice'), NICK_PALETTE[fnv1a32('alice') % NICK_PALETTE.length]);
});

test('the palette avoids red (errors), greys, black and white', () => {
  for (const colour of [1, 9, 196, 160, 124, 0, 7, 8, 15, 16, 231, 232, 244, 255]) assert.not.ok(NICK_PALETTE.includes(colour), String(colour));
  assert.is(new Set(NICK_PALETTE).size, NICK_PALETTE.length, 'no duplicates');
  for (const colour of NICK_PALETTE) assert.ok(colour >= 17 && colour <= 230);
});

test('similar nicks spread over the palette', () => {
  const used = new Set<number>();
  for (let i = 0; i < 500; i += 1) used.add(nickColour(`user${i}`));
  assert.ok(used.size >= NICK_PALETTE.length * 0.9, `only ${used.size} colours used`);
  assert.is.not(nickColour('bob1'), nickColour('bob2'));
});

test.run();
