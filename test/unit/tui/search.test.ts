import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatMessage } from '../../../tui/core/events.js';
import { formatClock } from '../../../tui/view/render.js';
import { MAX_SEARCH_RESULTS, searchScrollback } from '../../../tui/view/search.js';
import { ViewModel } from '../../../tui/view/state.js';

const T0 = new Date(2026, 11, 3, 14, 0, 0).getTime();

function msg(seq: number, from: string, text: string, time = T0 + seq * 60_000): ChatMessage {
  return { room: 'lobby', seq, from, text, id: `m${seq}`, time };
}

function lobby(history: ChatMessage[]): ViewModel {
  const m = new ViewModel({ server: '127.0.0.1:7443', user: 'alice', now: () => T0 + 3_600_000 });
  m.apply({ type: 'joined', room: 'lobby', users: ['alice', 'bob'], history, hasMore: false, rejoined: false });
  return m;
}

test('matches any case in text and nick, with the time; actions and whispers as shown; notices are not searched', () => {
  const m = lobby([msg(1, 'bob', 'the Deploy is done'), msg(2, 'carol', 'lunch?'), msg(3, 'bob', '/me deploys again'), msg(4, 'dave', 'no')]);
  m.apply({ type: 'whisper', from: 'bob', to: 'alice', text: 'deploy key?', time: T0 + 5 * 60_000, id: 'w1', verified: false });
  m.system('a notice about deploy');
  const result = searchScrollback(m.current, 'DEPLOY', m.currentTime()).split('\n');
  assert.equal(result, [
    '3 lines in lobby match "DEPLOY":',
    `${formatClock(T0 + 60_000)} <bob> the Deploy is done`,
    `${formatClock(T0 + 3 * 60_000)} * bob deploys again`,
    `${formatClock(T0 + 5 * 60_000)} *bob* deploy key?`,
  ]);
  assert.equal(searchScrollback(m.current, 'carol', m.currentTime()).split('\n')[1], `${formatClock(T0 + 2 * 60_000)} <carol> lunch?`, 'the nick matches');
});

test('nothing matches: one clear line (and a hint when older messages are on the relay)', () => {
  const m = lobby([msg(1, 'bob', 'hello')]);
  assert.is(searchScrollback(m.current, 'zebra', m.currentTime()), 'no lines in lobby match "zebra"');
  m.current.hasMore = true;
  assert.is(searchScrollback(m.current, 'zebra', m.currentTime()), 'no lines in lobby match "zebra"; /history loads older messages to search too');
});

test('many matches: the newest shown with a count; other days carry their date; multi-line shows the matching line', () => {
  const many = Array.from({ length: 30 }, (_, i) => msg(i + 1, 'bob', `ping ${i + 1}`));
  const m = lobby([msg(100, 'bob', 'ping yesterday', T0 - 86_400_000), ...many, msg(200, 'carol', 'first\nsecond ping\nthird')]);
  const rows = searchScrollback(m.current, 'ping', m.currentTime()).split('\n');
  assert.is(rows[0], `32 lines in lobby match "ping" (the newest ${MAX_SEARCH_RESULTS} shown):`);
  assert.is(rows.length, MAX_SEARCH_RESULTS + 1);
  assert.ok(rows.at(-1)?.endsWith('second ping …'), rows.at(-1));
  const old = searchScrollback(m.current, 'yesterday', m.currentTime()).split('\n')[1];
  assert.match(old, /^2 Dec \d\d:\d\d <bob> ping yesterday$/);
});

test.run();
