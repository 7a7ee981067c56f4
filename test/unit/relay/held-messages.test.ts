import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HeldMessages } from '../../../relay/held-messages.js';

const whisper = (id: string) => ({ t: 'whisper' as const, from: 'ann', body: 'b', time: 1, id });

test('holds only for users that dropped, from the given room, within the time and count', () => {
  let now = 0;
  const held = new HeldMessages(1000, 2, () => now);
  assert.not.ok(held.hold('bob', whisper('a')), 'never seen');
  held.noteGone('bob', 'lobby');
  assert.not.ok(held.hold('bob', whisper('a'), 'global'), 'another room');
  assert.ok(held.hold('bob', whisper('a'), 'lobby'));
  assert.ok(held.hold('bob', whisper('b')));
  assert.not.ok(held.hold('bob', whisper('c')), 'per-user cap');
  now = 500;
  assert.equal(held.release('bob').map((m) => m.id), ['a', 'b']);
  assert.equal(held.release('bob'), [], 'released once');
  held.noteGone('cat', undefined);
  held.hold('cat', whisper('x'));
  now = 5000;
  assert.equal(held.release('cat'), [], 'expired');
  assert.not.ok(held.hold('cat', whisper('y')), 'gone too long ago');
});

test.run();
