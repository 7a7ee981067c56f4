import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatEvent, ChatMessage } from '../../../tui/core/events.js';
import { ViewModel, mentions } from '../../../tui/view/state.js';
import { rowsOfLine } from '../../../tui/view/render.js';

const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);

function model(maxLinesPerRoom?: number): ViewModel {
  return new ViewModel({ server: '127.0.0.1:7443', user: 'alice', maxLinesPerRoom, now: () => T0 });
}

function msg(seq: number, from: string, text: string, room = 'lobby'): ChatMessage {
  return { room, seq, from, text, id: `m${seq}`, time: T0 + seq };
}

function connect(m: ViewModel): void {
  m.apply({ type: 'connected', server: '127.0.0.1:7443', user: 'alice', fingerprint: 'sha256:' + 'ab'.repeat(32), resumed: false, registration: 'open' });
  m.apply({ type: 'joined', room: 'global', users: ['alice', 'Carol', 'bob'], history: [], hasMore: false, rejoined: false });
}

function hasControls(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(text);
}

test('mentions: the nick as a word, any case, not inside other words', () => {
  for (const text of ['alice', 'hi alice', 'Alice: look', '@ALICE!', 'thanks alice.', '(alice)', 'alice-', 'alice, bob']) assert.ok(mentions(text, 'alice'), text);
  for (const text of ['malice', 'alice_bot', 'alice2', 'alice.smith', 'bob', '', 'ali ce']) assert.not.ok(mentions(text, 'alice'), text);
  assert.ok(mentions('ping al.ce', 'al.ce'));
  assert.not.ok(mentions('anything', ''));
});

test('connected and joined: status online, users sorted, history shown, a line about where we are', () => {
  const m = model();
  assert.is(m.status.phase, 'connecting');
  connect(m);
  assert.is(m.status.phase, 'online');
  assert.equal(m.users, ['alice', 'bob', 'Carol']);
  m.apply({ type: 'joined', room: 'lobby', users: ['alice'], history: [msg(1, 'bob', 'earlier'), msg(2, 'alice', 'mine')], hasMore: true, rejoined: false });
  assert.is(m.currentKey, 'lobby');
  const texts = m.current.lines.map((l) => l.text);
  assert.equal(texts.slice(0, 2), ['earlier', 'mine']);
  assert.ok(m.current.lines[1].own);
  assert.ok(texts[2].includes('lobby') && texts[2].includes('/history'));
  assert.ok(m.current.hasMore);
  assert.equal(m.roomList().map((r) => [r.name, r.current]), [['global', false], ['lobby', true]]);
});

test('everything from the network is sanitized on the way in', () => {
  const m = model();
  connect(m);
  const evil = '\x1b[2J\x1b]0;pwned\x07{red-bg}x\x9b31m';
  const events: ChatEvent[] = [
    { type: 'message', ...msg(5, `bo\x1b[31mb`, `hi${evil}\nline two`, 'global') },
    { type: 'presence', room: 'global', user: `d\x07ave`, event: 'join' },
    { type: 'whisper', from: 'bob\x1b]0;x\x07', to: 'alice', text: `psst${evil}`, time: T0, id: 'w1', verified: false },
    { type: 'key-changed', user: 'm\x1b[2Jal', oldFingerprint: `aaaa${evil}`, newFingerprint: `bbbb${evil}`, message: `changed${evil}` },
    { type: 'verify', user: 'v\x1b[2Jic', safetyNumber: `12345${evil}`, fingerprint: `cccc${evil}`, ownFingerprint: `dddd${evil}`, verified: false },
    { type: 'trusted', user: 't\x1b[2Jed', fingerprint: `eeee${evil}`, accepted: true },
    { type: 'users', room: 'global', users: ['alice', 'e\x1b[1mve'] },
    { type: 'rooms', rooms: [{ name: 'ro\x1b[5mom', members: 2 }] },
    { type: 'error', code: 'E_\x1bX', message: `bad${evil}`, command: 'jo\x1bin' },
    { type: 'disconnected', code: 'E_CLOSED', message: `gone${evil}`, willReconnect: true },
    { type: 'reconnecting', attempt: 2, delayMs: 1000, code: 'E_CONNECT', message: `no${evil}` },
    { type: 'bye', code: 'E_SHUTDOWN', message: `bye${evil}` },
    { type: 'trust-new', server: 'x\x1b[1m', fingerprint: 'sha256:\x1b[31m', recorded: true, file: '/tmp/\x1b]0;x\x07k' },
  ];
  for (const event of events) m.apply(event);
  for (const buffer of m.rooms.values()) {
    for (const line of buffer.lines) {
      assert.not.ok(hasControls(line.text), JSON.stringify(line.text));
      assert.not.ok(hasControls(line.nick ?? ''), JSON.stringify(line.nick));
    }
  }
  assert.ok(m.current.lines.some((l) => l.text === 'hi{red-bg}x\nline two'));
  assert.ok(m.users.includes('eve'));
  assert.ok(m.roomList().some((r) => r.name === 'room'));
  assert.not.ok(hasControls(m.status.reason ?? ''));
  assert.is(m.advisories.length, 1, 'the key change waits in the advisory bar');
  for (const value of Object.values(m.advisories[0])) assert.not.ok(hasControls(value), JSON.stringify(value));
  assert.is(m.advisories[0].user, 'mal');
});

test('/me: a room message starting with "/me " is an action, shown "* nick action"; "/me" alone is plain text', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'message', ...msg(1, 'bob', '/me waves at alice', 'global') });
  const line = m.current.lines.at(-1)!;
  assert.equal([line.action, line.text, line.nick], [true, 'waves at alice', 'bob']);
  assert.ok(line.highlight, 'a mention in an action still highlights');
  assert.match(rowsOfLine(line, 80).join('\n').replace(/\x1b\[[0-9;]*m/g, ''), /\* bob waves at alice/);
  m.apply({ type: 'message', ...msg(2, 'bob', '/me', 'global') });
  assert.equal([m.current.lines.at(-1)!.action, m.current.lines.at(-1)!.text], [undefined, '/me']);
});

test('bye E_REPLACED says what happened and that /reconnect takes the session back; other byes show the relay\'s words', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'bye', code: 'E_REPLACED', message: 'you logged in from somewhere else' });
  assert.match(m.current.lines.at(-1)!.text, /logged in from somewhere else.*\/reconnect takes it back/);
  m.apply({ type: 'bye', code: 'E_SHUTDOWN', message: 'the relay is shutting down' });
  assert.is(m.current.lines.at(-1)!.text, 'the relay says: the relay is shutting down');
});

test('a mention and a whisper to us highlight and ring; our own lines and whispers do not', () => {
  const m = model();
  connect(m);
  assert.is(m.apply({ type: 'message', ...msg(1, 'bob', 'hey Alice look', 'global') }).bell, true);
  assert.ok(m.current.lines.at(-1)?.highlight);
  assert.is(m.apply({ type: 'message', ...msg(2, 'bob', 'nothing for you', 'global') }).bell, false);
  assert.is(m.apply({ type: 'message', ...msg(3, 'alice', 'I am alice', 'global'), own: true }).bell, false);
  assert.is(m.apply({ type: 'whisper', from: 'bob', to: 'alice', text: 'psst', time: T0, id: 'w', verified: false }).bell, true);
  const own = m.apply({ type: 'whisper', from: 'alice', to: 'bob', text: 'back', time: T0, id: 'w2', own: true, verified: false });
  assert.is(own.bell, false);
  const line = m.current.lines.at(-1)!;
  assert.is(line.nick, 'bob', 'an own whisper shows its recipient');
  assert.ok(line.own);
});

test('unread counts while scrolled back, cleared when back at the newest line', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'message', ...msg(1, 'bob', 'one', 'global') });
  assert.is(m.current.unread, 0, 'read at once when following');
  m.setAnchor({ lineId: m.current.lines[0].id, offset: 0 });
  m.apply({ type: 'message', ...msg(2, 'bob', 'two', 'global') });
  m.apply({ type: 'message', ...msg(3, 'bob', 'alice?', 'global') });
  m.apply({ type: 'presence', room: 'global', user: 'dave', event: 'join' });
  assert.is(m.current.unread, 2, 'messages count, presence does not');
  assert.is(m.current.highlights, 1);
  assert.is(m.roomList()[0].unread, 2);
  m.setAnchor(null);
  assert.is(m.current.unread, 0);
  assert.is(m.current.highlights, 0);
});

test('presence keeps the user list; messages with a seq already shown are dropped', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'presence', room: 'global', user: 'dave', event: 'join' });
  assert.equal(m.users, ['alice', 'bob', 'Carol', 'dave']);
  m.apply({ type: 'presence', room: 'global', user: 'BOB', event: 'leave' });
  assert.equal(m.users, ['alice', 'Carol', 'dave']);
  const before = m.current.lines.length;
  m.apply({ type: 'message', ...msg(9, 'dave', 'x', 'global') });
  m.apply({ type: 'message', ...msg(9, 'dave', 'x', 'global') });
  assert.is(m.current.lines.length, before + 1);
});

test('/history prepends older messages in order, without repeats', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'joined', room: 'lobby', users: ['alice'], history: [msg(10, 'bob', 'ten')], hasMore: true, rejoined: false });
  m.apply({ type: 'history', room: 'lobby', messages: [msg(8, 'bob', 'eight'), msg(9, 'bob', 'nine'), msg(10, 'bob', 'ten')], hasMore: false });
  const messages = m.current.lines.filter((l) => l.kind === 'message').map((l) => l.seq);
  assert.equal(messages, [8, 9, 10]);
  assert.not.ok(m.current.hasMore);
  assert.ok(m.current.lines.at(-1)!.text.includes('2 older messages'));
  m.apply({ type: 'history', room: 'lobby', messages: [], hasMore: false });
  assert.ok(m.current.lines.at(-1)!.text.includes('no older messages'));
});

test('scrollback is bounded: the oldest lines go, a scroll anchor on them moves to the first kept', () => {
  const m = model(5);
  connect(m);
  m.apply({ type: 'message', ...msg(1, 'bob', 'first', 'global') });
  const anchorLine = m.current.lines.find((l) => l.text === 'first')!;
  m.setAnchor({ lineId: anchorLine.id, offset: 0 });
  for (let i = 2; i < 20; i += 1) m.apply({ type: 'message', ...msg(i, 'bob', `n${i}`, 'global') });
  assert.is(m.current.lines.length, 5);
  assert.is(m.current.lines.at(-1)!.text, 'n19');
  assert.ok(m.current.hasMore);
  assert.is(m.current.anchor?.lineId, m.current.lines[0].id);
  assert.not.ok(m.current.seqs.has(1));
  // History beyond the bound keeps the newest lines.
  m.apply({ type: 'history', room: 'global', messages: [msg(0, 'bob', 'zero', 'global')], hasMore: false });
  assert.is(m.current.lines.length, 5);
});

test('connection phases: lost, reconnecting with a deadline, back; offline for good', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'rtt', ms: 1.5 });
  assert.is(m.status.rttMs, 1.5);
  m.apply({ type: 'disconnected', code: 'E_SHUTDOWN', message: 'relay restarting', willReconnect: true });
  assert.is(m.status.phase, 'reconnecting');
  m.apply({ type: 'reconnecting', attempt: 1, delayMs: 2500 });
  assert.is(m.status.reconnectAt, T0 + 2500);
  assert.is(m.status.attempt, 1);
  m.apply({ type: 'reconnecting', attempt: 2, delayMs: 5000, code: 'E_CONNECT', message: 'refused' });
  assert.ok(m.current.lines.at(-1)!.text.includes('refused'));
  m.apply({ type: 'connected', server: '127.0.0.1:7443', user: 'alice', fingerprint: 'sha256:' + 'ab'.repeat(32), resumed: true, registration: 'open' });
  assert.is(m.status.phase, 'online');
  assert.is(m.status.rttMs, 1.5, 'the last RTT is kept');
  assert.ok(m.current.lines.at(-1)!.text.includes('reconnected'));
  m.apply({ type: 'joined', room: 'global', users: ['alice'], history: [], hasMore: false, rejoined: true });
  assert.ok(m.current.lines.at(-1)!.text.includes('back in global'));
  m.apply({ type: 'disconnected', code: 'E_REPLACED', message: 'logged in elsewhere', willReconnect: false });
  assert.is(m.status.phase, 'offline');
});

test('away: kept per user of the current room for the users pane; only your own change is a line; /users names the text', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'joined', room: 'lobby', users: ['alice', 'bob', 'carol'], history: [], hasMore: false, rejoined: false, away: { Bob: 'lunch' } });
  assert.equal([...m.away], [['bob', 'lunch']]);
  const lines = m.current.lines.length;
  m.apply({ type: 'away', room: 'lobby', user: 'carol', text: 'brb \x1b[2J' });
  assert.is(m.away.get('carol'), 'brb ', 'sanitized: the escape sequence is gone');
  assert.is(m.current.lines.length, lines, "someone else's away is not announced");
  m.apply({ type: 'away', room: 'lobby', user: 'alice', text: 'out' });
  assert.is(m.current.lines.at(-1)!.text, 'you are away: out');
  m.apply({ type: 'users', room: 'lobby', users: ['alice', 'bob', 'carol'], away: { alice: 'out', bob: 'lunch' } });
  assert.is(m.current.lines.at(-1)!.text, 'users in lobby: alice (away: out), bob (away: lunch), carol');
  m.apply({ type: 'presence', room: 'lobby', user: 'bob', event: 'leave' });
  assert.not.ok(m.away.has('bob'), 'a leave forgets it');
  m.apply({ type: 'away', room: 'lobby', user: 'alice' });
  assert.is(m.current.lines.at(-1)!.text, 'you are back');
  assert.not.ok(m.away.has('alice'));
});

test('rooms from /chatrooms appear in the rooms list, global first, then by name', () => {
  const m = model();
  connect(m);
  m.apply({ type: 'rooms', rooms: [{ name: 'zeta', members: 1 }, { name: 'Alpha', members: 3 }] });
  assert.equal(m.roomList().map((r) => r.name), ['global', 'Alpha', 'zeta'], 'the global room first, then by name');
  assert.ok(m.current.lines.at(-1)!.text.includes('Alpha (3)'));
  m.apply({ type: 'rooms', rooms: [] });
  assert.ok(m.current.lines.at(-1)!.text.includes('/create'));
});

test('pending lines, /clear, errors, local lines and unknown events', () => {
  const m = model();
  connect(m);
  const id = m.addPending('on its way\x1b[31m');
  assert.equal(m.pending.map((p) => p.text), ['on its way']);
  m.removePending(id);
  assert.equal(m.pending, []);
  m.error('E_NO_SUCH_ROOM', 'no room named x', 'join');
  assert.is(m.current.lines.at(-1)!.text, '/join: no room named x (E_NO_SUCH_ROOM)');
  assert.is(m.current.lines.at(-1)!.kind, 'error');
  m.clearCurrent();
  assert.equal(m.current.lines, []);
  m.apply({ type: 'future-tick', percent: 5 } as unknown as ChatEvent);
  assert.equal(m.current.lines, [], 'an unknown event without a message is not shown');
  m.apply({ type: 'future-thing', message: 'something \x1b[31mhappened' } as unknown as ChatEvent);
  assert.is(m.current.lines.at(-1)!.text, 'future-thing: something happened');
  m.apply({ type: 'ack', id: 'x', room: 'global', seq: 1, time: T0 });
  m.apply({ type: 'left', room: 'global' });
  assert.is(m.current.lines.length, 1);
});

test('a proxy: connected says through which, and transfers say they go through the relay because of it', () => {
  const m = model();
  m.apply({ type: 'connected', server: '127.0.0.1:7443', user: 'alice', fingerprint: 'sha256:' + 'ab'.repeat(32), resumed: false, registration: 'open', proxy: 'socks5h://127.0.0.1:9050' });
  m.apply({ type: 'joined', room: 'global', users: ['alice', 'bob'], history: [], hasMore: false, rejoined: false });
  const texts = () => m.current.lines.map((l) => l.text);
  assert.ok(texts().some((t) => t.includes('connected to 127.0.0.1:7443 through the proxy socks5h://127.0.0.1:9050 as alice')), texts().join('\n'));
  assert.ok(texts().some((t) => t.includes('file transfers go through the relay only (a proxy is set')));
  const state = { type: 'transfer-state', id: 't1', direction: 'out', peer: 'bob', name: 'a.bin', path: null, file: '/tmp/a.bin', relayOnly: 'proxy' } as const;
  m.apply({ ...state, state: 'offered' });
  assert.ok(texts().some((t) => t.includes('offered a.bin to bob') && t.endsWith('through the relay (a proxy is set)')), texts().join('\n'));
  m.apply({ ...state, state: 'transferring', path: 'relay' });
  assert.ok(texts().some((t) => t === 'sending a.bin to bob: transferring through the relay (a proxy is set)'), texts().join('\n'));
});

test('a folder picked up from the last run says so once, then its panel row; a folder that was not restored does not', () => {
  const m = model();
  connect(m);
  const texts = () => m.current.lines.map((l) => l.text);
  const folder = { type: 'folder-state', id: 'FoLdEr0012345678', direction: 'in', peer: 'bob', name: 'photos', state: 'transferring', files: 3, filesDone: 1, bytes: 1024, size: 4096, speedBps: 0, etaSec: null, path: null, dir: '/d/photos' } as const;
  m.apply({ ...folder, restored: true });
  m.apply({ ...folder, restored: true, bytes: 2048, speedBps: 512, etaSec: 4, path: 'relay' });
  const picked = texts().filter((t) => t.includes('picked up from the last run'));
  assert.equal(picked, ['receiving the folder photos/ from bob: picked up from the last run (id FoLdEr00); 1 of 3 files done, going on with the rest']);
  assert.is(m.files.transfers.get('FoLdEr0012345678')?.name, 'photos/ (2/3)');
  m.apply({ ...folder, id: 'OtherFolder12345', direction: 'out' });
  assert.ok(texts().some((t) => t.startsWith('sending the folder photos/ to bob: 3 files')), texts().join('\n'));
  assert.is(texts().filter((t) => t.includes('picked up')).length, 1);
});

test.run();
