import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseClientMessage, parseRelayMessage } from '../../../shared/messages.js';
import { isValidName, nameKey, validateRoomName, validateUserName } from '../../../shared/names.js';
import { ChatError } from '../../../shared/errors.js';
import { TokenBucket } from '../../../shared/token-bucket.js';

/** Shape only (the relay verifies the signature): 44, 44 and 88 base64 characters. */
const BUNDLE = { v: 1, sign: 'A'.repeat(43) + '=', box: 'B'.repeat(43) + '=', sig: 'C'.repeat(86) + '==' };

test('valid client messages parse', () => {
  const samples = [
    { t: 'hello', v: 1 },
    { t: 'login', id: 'a', user: 'bob', password: 'pw', keys: BUNDLE, proof: 'c2ln' },
    { t: 'register', id: 'a', user: 'bob', password: 'pw', keys: BUNDLE, proof: 'c2ln' },
    { t: 'resume', id: 'a', user: 'bob', token: 'x', room: 'r', since: 4 },
    { t: 'say', id: 'abc_DEF-1', text: 'hi', resent: true },
    { t: 'history', id: 'h', before: 10, limit: 20 },
    { t: 'whisper', id: 'w', to: 'ann', body: 'opaque' },
  ];
  for (const sample of samples) assert.ok(parseClientMessage(sample).ok, JSON.stringify(sample));
});

test('invalid client messages are refused and name their id when they can', () => {
  const bad: unknown[] = [
    {},
    { t: 'nope', id: 'a' },
    { t: 'say', id: 'a' },
    { t: 'say', id: 'has space', text: 'x' },
    { t: 'say', id: 'a'.repeat(65), text: 'x' },
    { t: 'say', id: 'a', text: 'x'.repeat(16 * 1024 + 1) },
    { t: 'history', id: 'a', before: -1 },
    { t: 'history', id: 'a', limit: 1.5 },
    { t: 'login', id: 'a', user: '', password: 'x', keys: BUNDLE, proof: 'c2ln' },
    // Keys and the login proof are required since every client sends them.
    { t: 'login', id: 'a', user: 'bob', password: 'pw' },
    { t: 'register', id: 'a', user: 'bob', password: 'pw', keys: BUNDLE },
    { t: 'register', id: 'a', user: 'bob', password: 'pw', proof: 'c2ln' },
    { t: 'hello', v: '1' },
    { t: 'join', id: 'a', room: 42 },
  ];
  for (const sample of bad) assert.not.ok(parseClientMessage(sample).ok, JSON.stringify(sample).slice(0, 80));
  const parsed = parseClientMessage({ t: 'say', id: 'k9', text: 5 });
  assert.is(parsed.ok, false);
  if (!parsed.ok) assert.is(parsed.re, 'k9');
});

test('unknown fields are dropped', () => {
  const parsed = parseClientMessage({ t: 'ping', id: 'p', __proto__: { evil: 1 }, extra: 'x' });
  assert.ok(parsed.ok);
  if (parsed.ok) assert.equal(parsed.value, { t: 'ping', id: 'p' });
});

test('relay messages parse and refuse bad shapes', () => {
  assert.ok(parseRelayMessage({ t: 'ack', re: 'a', room: 'global', seq: 1, time: 5 }).ok);
  assert.ok(parseRelayMessage({ t: 'error', code: 'E_AUTH', message: 'no' }).ok);
  assert.not.ok(parseRelayMessage({ t: 'ack', re: 'a', room: 'global', seq: -1, time: 5 }).ok);
  assert.not.ok(parseRelayMessage({ t: 'message', room: 'g' }).ok);
});

test('names: length, characters, case-insensitive keys', () => {
  for (const good of ['a', 'Alice', 'bob_2', 'x.y-z', '9lives', 'a'.repeat(32)]) assert.ok(isValidName(good), good);
  for (const bad of ['', '_x', '-x', '.x', 'a b', 'a'.repeat(33), 'é', 'a/b', '../x', 'x\u0000', '{red}', 5, null]) {
    assert.not.ok(isValidName(bad), String(bad));
  }
  assert.is(nameKey('AlIcE'), 'alice');
  assert.throws(() => validateUserName('a b'), (e: unknown) => e instanceof ChatError && e.code === 'E_BAD_NAME');
  assert.throws(() => validateRoomName('Global'), (e: unknown) => e instanceof ChatError && e.code === 'E_BAD_NAME');
  assert.is(validateRoomName('Lobby'), 'Lobby');
});

test('token bucket: burst, then the refill rate', () => {
  const bucket = new TokenBucket(10, 3, 0);
  assert.ok(bucket.take(0));
  assert.ok(bucket.take(0));
  assert.ok(bucket.take(0));
  assert.not.ok(bucket.take(0));
  assert.not.ok(bucket.take(50));
  assert.ok(bucket.take(100));
  assert.not.ok(bucket.take(100));
  assert.ok(bucket.take(10_000));
});

test.run();
