import { SEND_AGAIN_LATER_CODES } from '../../shared/errors.js';
import type { RelayMessage } from '../../shared/messages.js';
import { relayError, type ChatConnection } from './connection.js';
import type { EventHub } from './event-hub.js';
import { replyError } from './replies.js';
import type { RoomTracker } from './room-tracker.js';
import type { SendQueue } from './send-queue.js';
import type { WhisperCrypto } from './whispers.js';

/** The parts a message from the relay may go to. */
export interface InboundParts {
  rooms: RoomTracker;
  queue: SendQueue;
  events: EventHub;
  /** The whisper layer, once opened. */
  crypto(): WhisperCrypto | null;
  /** The live chat connection (a `bye` notes its reason there). */
  connection(): ChatConnection | null;
  /** An opened file-transfer signal, for transfer/manager.ts. */
  transferSignal(from: string, value: unknown): void;
  /** The relay asks this device for more one-time prekeys. */
  prekeysLow(device: string, remaining: number): void;
}

/**
 * Message dispatch: each message the relay sends on the live chat connection, to the part
 * whose job it is (answers settle their request; room traffic goes to the room tracker;
 * ciphertext to the whisper layer).
 */
export function routeRelayMessage(m: RelayMessage, parts: InboundParts): void {
  const { rooms, queue, events } = parts;
  const crypto = parts.crypto();
  switch (m.t) {
    case 'message':
      return rooms.receiveMessage(m);
    case 'ack':
      return rooms.settleAck({ id: m.re, room: m.room, seq: m.seq, time: m.time });
    case 'presence':
      // A new login may come from a new device: look at that user's keys again before use.
      if (m.event === 'join') crypto?.forget(m.user);
      return rooms.applyPresence(m);
    case 'away':
      return rooms.applyAway(m);
    case 'whisper':
      // Ciphertext: opened (and checked) by the whisper layer, which emits `whisper` or an `error`.
      if (crypto) crypto.receive({ from: m.from, body: m.body, time: m.time, id: m.id });
      return;
    case 'bye':
      parts.connection()?.noteReason(relayError(m.code, m.message));
      return events.emit({ type: 'bye', code: m.code, message: m.message });
    case 'error': {
      const error = replyError(m);
      if (m.re !== undefined && SEND_AGAIN_LATER_CODES.has(error.code) && queue.sendAgainLater(m.re, m.retryAfterMs)) return;
      if (m.re !== undefined && queue.isPending(m.re)) return queue.settle(m.re, null, error);
      if (m.re !== undefined && queue.isUnacked(m.re)) return queue.rejectSay(m.re, error);
      return events.emitError(error);
    }
    case 'joined':
      if (m.re !== undefined && queue.isPending(m.re)) return queue.settle(m.re, m, null);
      rooms.applyJoined(m);
      return;
    case 'users':
    case 'rooms':
    case 'history':
    case 'ok':
    case 'pong':
    case 'keys':
    case 'key-batch':
    case 'pipe-ticket':
    case 'pipe-ready':
    case 'file-ticket':
    case 'file-ready':
    case 'file-stored':
    case 'files':
    case 'prekeys-stored':
    case 'prekey-bundle':
      return queue.settle(m.re, m, null);
    case 'prekeys-low':
      return parts.prekeysLow(m.device, m.remaining);
    case 'signal':
      // Sealed file-transfer signalling: opened by the whisper layer, routed by transfer/manager.ts.
      crypto?.receiveSignal({ from: m.from, body: m.body, time: m.time, id: m.id }, parts.transferSignal);
      return;
    case 'welcome':
    case 'session':
      // Only meaningful during login; a late duplicate changes nothing.
      return;
    default: {
      const unreachable: never = m;
      return unreachable;
    }
  }
}
