import type { ClientMessageType } from '../shared/messages.js';
import type { ErrorCode } from '../shared/errors.js';

/**
 * The per-connection session state machine, as data (pure; no sockets).
 *
 *   hello --hello ok--> login --auth start--> authenticating --auth ok--> ready
 *                         ^                        |
 *                         +------ auth failed -----+
 *   any state --close--> closing
 */
export type SessionState = 'hello' | 'login' | 'authenticating' | 'ready' | 'closing';
export type SessionEvent = 'hello-ok' | 'auth-start' | 'auth-failed' | 'auth-ok' | 'close';

const TRANSITIONS: Record<SessionState, Partial<Record<SessionEvent, SessionState>>> = {
  hello: { 'hello-ok': 'login', close: 'closing' },
  login: { 'auth-start': 'authenticating', close: 'closing' },
  authenticating: { 'auth-failed': 'login', 'auth-ok': 'ready', close: 'closing' },
  ready: { close: 'closing' },
  closing: {},
};

/** The next state, or the same state when the event does not apply (an explicit no-op). */
export function transition(state: SessionState, event: SessionEvent): SessionState {
  return TRANSITIONS[state][event] ?? state;
}

/** Requests that start a connection's purpose: a chat session, a relay pipe, or a room file upload/download. */
const AUTH_REQUESTS: ReadonlySet<ClientMessageType> = new Set(['register', 'login', 'resume', 'pipe', 'file-put', 'file-get']);

export type Admission =
  | { admit: true }
  | { admit: false; ignore: true }
  | { admit: false; ignore: false; code: ErrorCode; fatal: boolean; message: string };

/** May a request of this type be handled in this state? Decides the error code when not. */
export function admit(state: SessionState, type: ClientMessageType): Admission {
  switch (state) {
    case 'hello':
      return type === 'hello'
        ? { admit: true }
        : { admit: false, ignore: false, code: 'E_PROTOCOL', fatal: true, message: 'the first frame must be hello' };
    case 'login':
      if (AUTH_REQUESTS.has(type) || type === 'ping') return { admit: true };
      if (type === 'hello') return { admit: false, ignore: false, code: 'E_PROTOCOL', fatal: true, message: 'hello sent twice' };
      return { admit: false, ignore: false, code: 'E_NOT_LOGGED_IN', fatal: false, message: 'log in or register first' };
    case 'authenticating':
      if (type === 'ping') return { admit: true };
      return { admit: false, ignore: false, code: 'E_RATE', fatal: false, message: 'a login is in progress on this connection' };
    case 'ready':
      if (type === 'hello') return { admit: false, ignore: false, code: 'E_PROTOCOL', fatal: true, message: 'hello sent twice' };
      if (AUTH_REQUESTS.has(type)) return { admit: false, ignore: false, code: 'E_ALREADY_LOGGED_IN', fatal: false, message: 'already logged in' };
      return { admit: true };
    case 'closing':
      return { admit: false, ignore: true };
    default: {
      const unreachable: never = state;
      return unreachable;
    }
  }
}
