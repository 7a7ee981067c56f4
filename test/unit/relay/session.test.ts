import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { admit, transition, type SessionEvent, type SessionState } from '../../../relay/session.js';
import type { ClientMessageType } from '../../../shared/messages.js';

const STATES: SessionState[] = ['hello', 'login', 'authenticating', 'ready', 'closing'];
const EVENTS: SessionEvent[] = ['hello-ok', 'auth-start', 'auth-failed', 'auth-ok', 'close'];
const TYPES: ClientMessageType[] = ['hello', 'register', 'login', 'resume', 'say', 'create', 'join', 'leave', 'users', 'rooms', 'whisper', 'history', 'ping', 'exit', 'keys', 'signal', 'pipe-ticket', 'pipe', 'file-upload', 'files', 'file-download', 'file-put', 'file-get'];
/** Requests that open a side connection instead of a chat session. */
const SIDE_CONNECTIONS = ['pipe', 'file-put', 'file-get'];

test('the happy path', () => {
  let state: SessionState = 'hello';
  for (const event of ['hello-ok', 'auth-start', 'auth-ok'] as SessionEvent[]) state = transition(state, event);
  assert.is(state, 'ready');
});

test('a failed login returns to login', () => {
  assert.is(transition('authenticating', 'auth-failed'), 'login');
});

test('every state closes; closing is final', () => {
  for (const state of STATES) assert.is(transition(state, 'close'), 'closing');
  for (const event of EVENTS) assert.is(transition('closing', event), 'closing');
});

test('events that do not apply are no-ops', () => {
  const applies: Record<string, boolean> = {
    'hello:hello-ok': true, 'login:auth-start': true, 'authenticating:auth-failed': true, 'authenticating:auth-ok': true,
  };
  for (const state of STATES) {
    for (const event of EVENTS) {
      if (event === 'close' || applies[`${state}:${event}`]) continue;
      assert.is(transition(state, event), state, `${state} + ${event}`);
    }
  }
});

test('admission table, exhaustively', () => {
  for (const type of TYPES) {
    const hello = admit('hello', type);
    assert.is(hello.admit, type === 'hello', `hello/${type}`);
    if (!hello.admit && !hello.ignore) assert.ok(hello.fatal);

    const login = admit('login', type);
    const loginOk = ['register', 'login', 'resume', 'ping', ...SIDE_CONNECTIONS].includes(type);
    assert.is(login.admit, loginOk, `login/${type}`);
    if (!login.admit && !login.ignore) assert.is(login.code, type === 'hello' ? 'E_PROTOCOL' : 'E_NOT_LOGGED_IN');

    const authenticating = admit('authenticating', type);
    assert.is(authenticating.admit, type === 'ping', `authenticating/${type}`);

    const ready = admit('ready', type);
    const readyOk = !['hello', 'register', 'login', 'resume', ...SIDE_CONNECTIONS].includes(type);
    assert.is(ready.admit, readyOk, `ready/${type}`);
    if (!ready.admit && !ready.ignore) assert.is(ready.code, type === 'hello' ? 'E_PROTOCOL' : 'E_ALREADY_LOGGED_IN');

    const closing = admit('closing', type);
    assert.is(closing.admit, false);
    assert.ok(!closing.admit && closing.ignore);
  }
});

test.run();
