import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatMessage } from '../../../tui/core/events.js';
import {
  LOCK,
  TICK,
  computeLayout,
  connectionLabel,
  formatClock,
  messageRows,
  renderAdvisory,
  renderMessages,
  renderRooms,
  renderStatus,
  renderUsers,
  scrollBy,
  shortFingerprint,
  viewport,
} from '../../../tui/view/render.js';
import { ViewModel } from '../../../tui/view/state.js';
import { unstyle } from '../../../tui/view/style.js';
import { textWidth } from '../../../tui/view/text-width.js';

const T0 = new Date(2024, 0, 1, 9, 5).getTime();

function msg(seq: number, from: string, text: string, room = 'global'): ChatMessage {
  return { room, seq, from, text, id: `m${seq}`, time: T0 };
}

function busyModel(): ViewModel {
  const m = new ViewModel({ server: '127.0.0.1:7443', user: 'alice', now: () => T0 });
  m.apply({ type: 'connected', server: '127.0.0.1:7443', user: 'alice', fingerprint: 'sha256:' + '3f1a9c0b'.repeat(8), resumed: false, registration: 'open' });
  m.apply({ type: 'joined', room: 'global', users: ['alice', 'bob', '漢字さん', 'a-very-long-user-name-of-32-char'], history: [], hasMore: false, rejoined: false });
  m.apply({ type: 'message', ...msg(1, 'bob', 'plain') });
  m.apply({ type: 'message', ...msg(2, 'bob', '\x1b[31m{red-bg}escape\x1b]0;t\x07 attempt\r\nsecond line') });
  m.apply({ type: 'message', ...msg(3, '漢字さん', '漢字テスト '.repeat(20)) });
  m.apply({ type: 'message', ...msg(4, 'a-very-long-user-name-of-32-char', 'word '.repeat(40)) });
  m.apply({ type: 'whisper', from: 'bob', to: 'alice', text: 'psst alice', time: T0, id: 'w1', verified: false });
  m.apply({ type: 'rooms', rooms: [{ name: 'lobby', members: 2 }, { name: 'a-very-long-room-name-of-32-char', members: 1 }] });
  m.error('E_NO_SUCH_ROOM', 'no room named x', 'join');
  m.addPending('waiting for the relay');
  return m;
}

/** Only SGR escapes (from style.ts) and printable text. */
function wellFormed(row: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x1f\x7f-\x9f]/.test(unstyle(row));
}

test('layout: side panes shrink, then hide on narrow terminals; the panes fill the width', () => {
  const small = computeLayout(80, 24);
  assert.equal([small.roomsWidth, small.usersWidth, small.messagesWidth, small.paneHeight, small.statusRow, small.inputRow], [12, 12, 54, 22, 22, 23]);
  const big = computeLayout(100, 30);
  assert.equal([big.roomsWidth, big.usersWidth, big.messagesWidth], [16, 16, 66]);
  const narrow = computeLayout(65, 20);
  assert.is(narrow.usersWidth, 0);
  assert.is(narrow.roomsWidth, 12);
  const tiny = computeLayout(40, 10);
  assert.equal([tiny.roomsWidth, tiny.usersWidth, tiny.messagesWidth, tiny.messagesLeft], [0, 0, 40, 0]);
  for (const [cols, rows] of [[80, 24], [100, 30], [65, 20], [40, 10], [250, 80], [1, 1]]) {
    const l = computeLayout(cols, rows);
    const used = l.messagesLeft + l.messagesWidth + (l.usersWidth > 0 ? l.usersWidth + 1 : 0);
    assert.is(used, l.cols, `${cols}x${rows}`);
  }
});

test('every pane row fits its width and carries no escapes but SGR, at many sizes', () => {
  const m = busyModel();
  for (const [cols, rows] of [[80, 24], [100, 30], [65, 20], [40, 10], [30, 8], [160, 50]]) {
    const l = computeLayout(cols, rows);
    const panes: Array<[string[], number]> = [
      [renderMessages(m, l.messagesWidth, l.paneHeight).rows, l.messagesWidth],
      [renderRooms(m.roomList(), l.roomsWidth, l.paneHeight), l.roomsWidth],
      [renderUsers(m.users, m.user, l.usersWidth, l.paneHeight), l.usersWidth],
      [[renderStatus(m, l.cols, T0)], l.cols],
    ];
    for (const [paneRows, width] of panes) {
      assert.ok(paneRows.length <= l.paneHeight || paneRows.length === 1);
      for (const row of paneRows) {
        assert.ok(textWidth(unstyle(row)) <= width, `${cols}x${rows}: ${JSON.stringify(unstyle(row))} is wider than ${width}`);
        assert.ok(wellFormed(row), JSON.stringify(row));
      }
    }
    assert.is(textWidth(unstyle(renderStatus(m, l.cols, T0))), l.cols, 'the status bar fills its row');
    assert.is(renderMessages(m, l.messagesWidth, l.paneHeight).rows.length, l.paneHeight);
  }
});

test('message rows: time, nick, text; wrapped under the text; tags shown as written', () => {
  const m = busyModel();
  const rows = messageRows(m.current, m.pending, m.user, 60).map((r) => unstyle(r.text));
  const clock = formatClock(T0);
  assert.is(clock, '09:05');
  assert.ok(rows.includes(`${clock} <bob> plain`));
  assert.ok(rows.includes(`${clock} <bob> {red-bg}escape attempt`));
  assert.ok(rows.includes(`${' '.repeat(12)}second line`), 'continuation lines hang under the text');
  assert.ok(rows.some((r) => r.startsWith(`${clock} ${LOCK} *bob* psst alice`)), 'whispers carry the lock');
  assert.ok(rows.some((r) => r.startsWith(`${clock} -!- /join: no room named x (E_NO_SUCH_ROOM)`)));
  assert.ok(rows.at(-1)!.includes('waiting for the relay (sending…)'), 'pending messages come last');
});

test('history from other days is dated: a day row before the first line when it is not today, and where the day changes', () => {
  const today = new Date(2026, 11, 3, 9, 0).getTime();
  const m = new ViewModel({ server: '127.0.0.1:7443', user: 'alice', now: () => today });
  m.apply({ type: 'connected', server: '127.0.0.1:7443', user: 'alice', fingerprint: 'sha256:' + 'ab'.repeat(32), resumed: false, registration: 'open' });
  const at = (seq: number, time: number): ChatMessage => ({ room: 'global', seq, from: 'bob', text: `m${seq}`, id: `m${seq}`, time });
  m.apply({ type: 'joined', room: 'global', users: ['alice', 'bob'], history: [at(1, new Date(2026, 10, 30, 23, 50).getTime()), at(2, new Date(2026, 11, 1, 8, 0).getTime())], hasMore: false, rejoined: false });
  m.apply({ type: 'message', ...at(3, today) });
  const rows = messageRows(m.current, [], m.user, 60, today).map((r) => unstyle(r.text));
  const days = rows.filter((row) => row.startsWith('--- '));
  assert.equal(days, ['--- Mon 30 Nov 2026 ---', '--- Tue 1 Dec 2026 ---', '--- Thu 3 Dec 2026 ---'], rows.join('\n'));
  assert.ok(rows.indexOf('--- Tue 1 Dec 2026 ---') < rows.findIndex((row) => row.endsWith('<bob> m2')));
  // The same lines, all of today: no day rows.
  const quiet = new ViewModel({ server: '127.0.0.1:7443', user: 'alice', now: () => today });
  quiet.apply({ type: 'message', ...at(4, today) });
  assert.is(messageRows(quiet.current, [], quiet.user, 60, today).filter((r) => unstyle(r.text).startsWith('--- ')).length, 0);
});

test('whispers: a tick after the lock once verified; own whispers too', () => {
  const m = busyModel();
  m.apply({ type: 'whisper', from: 'bob', to: 'alice', text: 'checked', time: T0, id: 'w2', verified: true });
  m.apply({ type: 'whisper', from: 'alice', to: 'bob', text: 'mine', time: T0, id: 'w3', own: true, verified: true });
  const rows = messageRows(m.current, [], m.user, 60).map((r) => unstyle(r.text));
  assert.ok(rows.includes(`${formatClock(T0)} ${LOCK}${TICK} *bob* checked`), rows.join('\n'));
  assert.ok(rows.includes(`${formatClock(T0)} ${LOCK}${TICK} -> *bob* mine`));
});

test('key-change advisory: a bar above the status bar until /trust; Esc hides it', () => {
  const m = busyModel();
  assert.is(computeLayout(80, 24, false).advisoryRow, -1);
  assert.is(renderAdvisory(m, 80), '');
  m.apply({ type: 'key-changed', user: 'bob', oldFingerprint: '3f2a 9c01 77de 0b45', newFingerprint: '0b45 77de 9c01 3f2a', message: 'changed' });
  const l = computeLayout(80, 24, m.advisories.length > 0);
  assert.equal([l.paneHeight, l.advisoryRow, l.statusRow, l.inputRow], [21, 21, 22, 23]);
  for (const width of [20, 80, 200]) {
    const bar = renderAdvisory(m, width);
    assert.is(textWidth(unstyle(bar)), width, 'the bar fills its row');
    assert.ok(wellFormed(bar));
  }
  const bar = unstyle(renderAdvisory(m, 200));
  assert.ok(bar.includes('KEY CHANGED for bob: /verify bob, then /trust bob'), bar);
  assert.ok(bar.includes('Old key 3f2a 9c01 77de 0b45, new key 0b45 77de 9c01 3f2a'), bar);
  m.apply({ type: 'key-changed', user: 'cat', oldFingerprint: 'a', newFingerprint: 'b', message: 'changed' });
  assert.ok(unstyle(renderAdvisory(m, 200)).includes('for cat') && unstyle(renderAdvisory(m, 200)).includes('+1 more'));
  m.apply({ type: 'trusted', user: 'CAT', fingerprint: 'b', accepted: true });
  assert.ok(unstyle(renderAdvisory(m, 200)).includes('for bob'), 'trusting cat leaves bob');
  assert.ok(m.dismissAdvisory());
  assert.is(renderAdvisory(m, 80), '');
  assert.not.ok(m.dismissAdvisory());
  assert.is(computeLayout(80, 5, true).advisoryRow, -1, 'no bar on a tiny screen');
});

test('scrolling: PageUp anchors the view, new lines do not move it, PageDown returns to following', () => {
  const m = new ViewModel({ server: 's:1', user: 'alice', now: () => T0 });
  for (let i = 1; i <= 40; i += 1) m.apply({ type: 'message', ...msg(i, 'bob', `line ${i}`) });
  const width = 40;
  const height = 10;
  let rows = messageRows(m.current, m.pending, m.user, width);
  assert.equal(viewport(rows, null, height), { top: 30, below: 0, anchor: null });
  const up = scrollBy(rows, null, height, -8);
  assert.ok(up !== null);
  m.setAnchor(up);
  let shown = renderMessages(m, width, height);
  assert.is(shown.view.top, 22);
  assert.ok(unstyle(shown.rows[0]).endsWith('line 23'));
  assert.match(unstyle(shown.rows.at(-1)!), /8 more lines below/);
  // New lines arrive: the view stays where it is and counts them.
  m.apply({ type: 'message', ...msg(41, 'bob', 'line 41') });
  shown = renderMessages(m, width, height);
  assert.ok(unstyle(shown.rows[0]).endsWith('line 23'));
  assert.match(unstyle(shown.rows.at(-1)!), /9 more lines below, 1 new/);
  // To the very top and no further.
  rows = messageRows(m.current, m.pending, m.user, width);
  const top = scrollBy(rows, m.current.anchor, height, -1000);
  assert.equal(top, { lineId: m.current.lines[0].id, offset: 0 });
  // Back down: following again.
  assert.is(scrollBy(rows, top, height, 1000), null);
  // A short room never scrolls.
  const few = new ViewModel({ server: 's:1', user: 'alice' });
  few.system('only line');
  assert.is(scrollBy(messageRows(few.current, [], 'alice', 40), null, 10, -5), null);
});

test('status bar: connection, user@room, relay, short fingerprint, round trip; countdown while reconnecting', () => {
  const m = busyModel();
  m.apply({ type: 'rtt', ms: 2.345 });
  const status = unstyle(renderStatus(m, 100, T0));
  assert.match(status, /\[connected\] │ alice@global │ 127\.0\.0\.1:7443 │ sha256:3f1a9c0b │ rtt 2\.3ms/);
  m.apply({ type: 'disconnected', code: 'E_CLOSED', message: 'gone', willReconnect: true });
  assert.is(connectionLabel(m.status, T0), 'reconnecting…');
  m.apply({ type: 'reconnecting', attempt: 3, delayMs: 4200 });
  assert.is(connectionLabel(m.status, T0), 'reconnecting in 5s (attempt 3)');
  assert.is(connectionLabel(m.status, T0 + 4000), 'reconnecting in 1s (attempt 3)');
  assert.is(connectionLabel(m.status, T0 + 5000), 'reconnecting now (attempt 3)');
  m.apply({ type: 'disconnected', code: 'E_AUTH', message: 'no', willReconnect: false });
  assert.is(connectionLabel(m.status, T0), 'offline');
  assert.is(shortFingerprint(null), '-');
  assert.is(shortFingerprint('sha256:0123456789abcdef'), 'sha256:01234567');
  m.apply({ type: 'rtt', ms: 123.4 });
  assert.match(unstyle(renderStatus(m, 100, T0)), /rtt 123ms/);
});

test('rooms and users panes: current room marked, counts, overflow summarised', () => {
  const m = busyModel();
  const rooms = renderRooms(m.roomList(), 16, 10).map(unstyle);
  assert.is(rooms[0].trim(), 'Rooms');
  assert.ok(rooms.some((r) => r.startsWith('>global')));
  assert.ok(rooms.some((r) => r.trimEnd() === ' lobby'), 'no number without unread messages (member counts are for /chatrooms)');
  const users = renderUsers(m.users, m.user, 16, 3).map(unstyle);
  assert.is(users[0].trim(), 'Users (4)');
  assert.is(users.length, 3);
  assert.match(users[2], /\+3 more/);
  assert.equal(renderUsers(m.users, m.user, 0, 10), []);
});

test('sidebar: the number is unread messages; mentions and whispers make the hotlist highlight (magenta, !); seeing the newest line clears it', () => {
  const m = new ViewModel({ server: '127.0.0.1:7443', user: 'alice', now: () => T0 });
  m.apply({ type: 'joined', room: 'lobby', users: ['alice', 'bob'], history: [], hasMore: false, rejoined: false });
  for (let seq = 1; seq <= 40; seq++) m.apply({ type: 'message', ...msg(seq, 'bob', `line ${seq}`, 'lobby') });
  // Scrolled back: what comes now is unread.
  m.setAnchor({ lineId: m.current.lines[0].id, offset: 0 });
  m.apply({ type: 'message', ...msg(41, 'bob', 'just talk', 'lobby') });
  m.apply({ type: 'presence', room: 'lobby', user: 'carol', event: 'join' });
  let rows = renderRooms(m.roomList(), 16, 6);
  const lobby = () => rows.find((r) => unstyle(r).startsWith('>lobby')) ?? '';
  assert.is(unstyle(lobby()).trimEnd(), '>lobby       [1]', 'joins and leaves are not counted');
  assert.not.ok(lobby().includes('38;5;170'), 'plain unread: not the highlight colour');
  m.apply({ type: 'message', ...msg(42, 'bob', 'alice: look here', 'lobby') });
  m.apply({ type: 'whisper', from: 'bob', to: 'alice', text: 'psst', time: T0, id: 'w9', verified: false });
  rows = renderRooms(m.roomList(), 16, 6);
  assert.is(unstyle(lobby()).trimEnd(), '>lobby      [3!]');
  assert.ok(lobby().includes('38;5;170'), 'the hotlist highlight: magenta');
  m.setAnchor(null);
  rows = renderRooms(m.roomList(), 16, 6);
  assert.is(unstyle(lobby()).trimEnd(), '>lobby', 'cleared once the newest line is seen');
});

test.run();
