import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatEvent, ChatMessage } from '../../../../tui/core/events.js';
import { withoutIgnored } from '../../../../tui/core/ignore-list.js';

const ignored = (user: string): boolean => user.toLowerCase() === 'eve';
const message = (from: string, seq: number, own?: boolean): ChatMessage => ({ room: 'lobby', seq, from, text: `hi ${seq}`, id: `m${seq}`, time: seq, ...(own ? { own } : {}) });

test('room messages and whispers of an ignored user are dropped (any case); own ones and others pass', () => {
  const fromEve: ChatEvent = { type: 'message', ...message('Eve', 1) };
  assert.is(withoutIgnored(fromEve, ignored), null);
  const fromBob: ChatEvent = { type: 'message', ...message('bob', 2) };
  assert.is(withoutIgnored(fromBob, ignored), fromBob);
  const whisper: ChatEvent = { type: 'whisper', from: 'EVE', to: 'ann', text: 'psst', time: 1, id: 'w1', verified: false };
  assert.is(withoutIgnored(whisper, ignored), null);
  // A whisper we sent to an ignored user is ours: shown.
  const own: ChatEvent = { type: 'whisper', from: 'ann', to: 'eve', text: 'stop', time: 1, id: 'w2', own: true, verified: false };
  assert.is(withoutIgnored(own, ignored), own);
  const presence: ChatEvent = { type: 'presence', room: 'lobby', user: 'eve', event: 'join' };
  assert.is(withoutIgnored(presence, ignored), presence, 'presence is not hidden (irssi hides joins only when asked)');
});

test('joined and history batches lose the ignored user\'s messages; unchanged batches are the same object', () => {
  const joined: ChatEvent = { type: 'joined', room: 'lobby', users: ['ann', 'eve'], history: [message('eve', 1), message('bob', 2), message('ann', 3, true)], hasMore: false, rejoined: false };
  const shown = withoutIgnored(joined, ignored);
  assert.ok(shown !== null && shown.type === 'joined');
  if (shown?.type === 'joined') assert.equal(shown.history.map((m) => m.seq), [2, 3]);
  assert.equal(shown && shown.type === 'joined' ? shown.users : [], ['ann', 'eve'], 'still listed as a member');
  const history: ChatEvent = { type: 'history', room: 'lobby', messages: [message('bob', 4)], hasMore: true };
  assert.is(withoutIgnored(history, ignored), history);
  const mixed: ChatEvent = { type: 'history', room: 'lobby', messages: [message('Eve', 5), message('bob', 6)], hasMore: true };
  const cut = withoutIgnored(mixed, ignored);
  assert.equal(cut?.type === 'history' ? cut.messages.map((m) => m.seq) : [], [6]);
});

test.run();
