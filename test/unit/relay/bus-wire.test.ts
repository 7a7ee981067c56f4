import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  parseClusterEvent,
  parseInboxEvent,
  parseLocation,
  parseMember,
  parseRoomEvent,
  replacedEvent,
  returnedEvent,
  sealedEvent,
} from '../../../relay/redis-bus-wire.js';

const stored = { room: 'Lobby', roomKey: 'lobby', seq: 3, from: 'Alice', text: 'hi', time: 5, id: 'c1' };

test('room channel: stored messages and presence events; the rest is dropped', () => {
  assert.equal(parseRoomEvent('lobby', JSON.stringify(stored)), { kind: 'message', message: stored });
  assert.equal(parseRoomEvent('lobby', JSON.stringify({ ...stored, extra: 1 })), { kind: 'message', message: stored }, 'unknown fields are shed');
  assert.equal(parseRoomEvent('lobby', JSON.stringify({ t: 'presence', room: 'Lobby', user: 'Bob', event: 'leave' })), {
    kind: 'presence',
    roomName: 'Lobby',
    userName: 'Bob',
    event: 'leave',
  });
  for (const bad of [
    'not json',
    'null',
    '[]',
    '7',
    JSON.stringify({ ...stored, seq: 0 }),
    JSON.stringify({ ...stored, seq: 1.5 }),
    JSON.stringify({ ...stored, seq: '3' }),
    JSON.stringify({ ...stored, roomKey: 'attic' }), // published on another room's channel
    JSON.stringify({ ...stored, from: '' }),
    JSON.stringify({ t: 'presence', room: 'Lobby', user: 'Bob', event: 'dance' }),
    JSON.stringify({ t: 'presence', room: 'Lobby' }),
  ]) {
    assert.is(parseRoomEvent('lobby', bad), undefined, bad);
  }
});

test('relay inbox: sealed whispers and signals (checked like any relay message), replaced', () => {
  const whisper = { t: 'whisper' as const, from: 'Alice', body: 'box', time: 1, id: 'w1' };
  assert.equal(parseInboxEvent(sealedEvent('bob', whisper, 'lobby')), { t: 'sealed', userKey: 'bob', roomKey: 'lobby', message: whisper });
  assert.equal(parseInboxEvent(sealedEvent('bob', whisper, undefined)), { t: 'sealed', userKey: 'bob', roomKey: undefined, message: whisper });
  assert.equal(parseInboxEvent(replacedEvent('bob')), { t: 'replaced', userKey: 'bob' });
  for (const bad of [
    JSON.stringify({ t: 'sealed', userKey: 'bob', message: { t: 'ping' } }),
    JSON.stringify({ t: 'sealed', userKey: 'bob', message: { ...whisper, id: 'bad id!' } }),
    JSON.stringify({ t: 'sealed', userKey: 'bob', message: { ...whisper, body: 'x'.repeat(40_000) } }),
    JSON.stringify({ t: 'sealed', userKey: '', message: whisper }),
    JSON.stringify({ t: 'replaced' }),
    JSON.stringify({ t: 'returned', userKey: 'bob', relayId: 'r1' }),
    '{',
  ]) {
    assert.is(parseInboxEvent(bad), undefined, bad.slice(0, 80));
  }
});

test('cluster channel, members and locations', () => {
  assert.equal(parseClusterEvent(returnedEvent('bob', 'r2')), { t: 'returned', userKey: 'bob', relayId: 'r2' });
  assert.is(parseClusterEvent(JSON.stringify({ t: 'returned', userKey: 'bob' })), undefined);
  assert.equal(parseMember('{"userName":"Bob","relayId":"r1","away":true,"until":9}'), { userName: 'Bob', relayId: 'r1', away: true, until: 9 });
  assert.is(parseMember('{"userName":"Bob","away":false}'), undefined);
  assert.equal(parseLocation('{"relayId":"r1"}'), { relayId: 'r1', roomKey: undefined });
  assert.equal(parseLocation('{"relayId":"r1","roomKey":"lobby"}'), { relayId: 'r1', roomKey: 'lobby' });
  assert.is(parseLocation('{"roomKey":"lobby"}'), undefined);
});

test.run();
