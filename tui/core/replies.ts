import { ChatError } from '../../shared/errors.js';
import type { RelayMessage, RelayMessageOf } from '../../shared/messages.js';
import { relayError } from './connection.js';

/** The relay's answer to a request, as the type asked for; anything else is E_PROTOCOL. */
export function expectReply<T extends RelayMessage['t']>(reply: RelayMessage, type: T): RelayMessageOf<T> {
  if (reply.t !== type) throw new ChatError('E_PROTOCOL', `expected "${type}" from the relay, got "${reply.t}"`);
  return reply as RelayMessageOf<T>;
}

/** The relay's `error` answer as a ChatError (with `re` and `retryAfterMs` in its details); anything else is E_PROTOCOL. */
export function replyError(reply: RelayMessage): ChatError {
  if (reply.t === 'error') {
    const details: Record<string, unknown> = {};
    if (reply.re !== undefined) details.re = reply.re;
    if (reply.retryAfterMs !== undefined) details.retryAfterMs = reply.retryAfterMs;
    return relayError(reply.code, reply.message, details);
  }
  return new ChatError('E_PROTOCOL', `unexpected answer "${reply.t}" from the relay`);
}
