/**
 * What relays say to each other over Redis pub/sub, and its checks. Everything that arrives on
 * a channel is hostile until parsed here: anyone who can PUBLISH on the Redis can write there,
 * and a corrupt publish must cost one log line, never the relay.
 *
 * Channels (see docs/storage.md, "Redis bus"):
 * - `{prefix}room:{roomKey}`: the store's stored messages (a `StoredMessage`, told apart by its
 *   `seq`) and presence events (`{t:'presence'}`).
 * - `{prefix}relay:{relayId}`: one relay's inbox: `sealed` and `replaced`.
 * - `{prefix}cluster`: every relay: `returned`.
 */
import { z } from 'zod';
import { parseJson } from './checked-json.js';
import { parseRelayMessage } from '../shared/messages.js';
import type { PresenceEvent, SealedMessage } from './bus.js';
import type { StoredMessage } from './store.js';

const key = z.string().min(1).max(256);

const StoredMessageSchema = z.object({
  room: z.string().min(1).max(256),
  roomKey: key,
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  from: z.string().min(1).max(256),
  text: z.string().max(64 * 1024),
  time: z.number().finite(),
  id: z.string().min(1).max(256),
});

const PresenceSchema = z.object({
  t: z.literal('presence'),
  room: z.string().min(1).max(256),
  user: z.string().min(1).max(256),
  event: z.enum(['join', 'leave']),
});

/** A member set or cleared their away text (no `text`: back). */
const AwaySchema = z.object({
  t: z.literal('away'),
  room: z.string().min(1).max(256),
  user: z.string().min(1).max(256),
  text: z.string().max(1024).optional(),
});

const InboxSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('replaced'), userKey: key }),
  z.object({ t: z.literal('sealed'), userKey: key, roomKey: key.optional(), message: z.unknown() }),
]);

const ClusterSchema = z.object({ t: z.literal('returned'), userKey: key, relayId: key });

export type RoomEvent =
  | { kind: 'message'; message: StoredMessage }
  | { kind: 'presence'; roomName: string; userName: string; event: PresenceEvent }
  | { kind: 'away'; roomName: string; userName: string; text: string | undefined };

export type InboxEvent =
  | { t: 'replaced'; userKey: string }
  | { t: 'sealed'; userKey: string; roomKey: string | undefined; message: SealedMessage };

export type ClusterEvent = { t: 'returned'; userKey: string; relayId: string };


/** An event on room channel `roomKey`, or undefined when it is not a valid one (or is for another room). */
export function parseRoomEvent(roomKey: string, text: string): RoomEvent | undefined {
  const value = parseJson(text);
  if (typeof value === 'object' && value !== null && (value as { t?: unknown }).t === 'presence') {
    const presence = PresenceSchema.safeParse(value);
    if (!presence.success) return undefined;
    return { kind: 'presence', roomName: presence.data.room, userName: presence.data.user, event: presence.data.event };
  }
  if (typeof value === 'object' && value !== null && (value as { t?: unknown }).t === 'away') {
    const away = AwaySchema.safeParse(value);
    if (!away.success) return undefined;
    return { kind: 'away', roomName: away.data.room, userName: away.data.user, text: away.data.text };
  }
  const message = StoredMessageSchema.safeParse(value);
  if (!message.success || message.data.roomKey !== roomKey) return undefined;
  return { kind: 'message', message: message.data };
}

/** An event on a relay's inbox, or undefined when it is not a valid one. */
export function parseInboxEvent(text: string): InboxEvent | undefined {
  const parsed = InboxSchema.safeParse(parseJson(text));
  if (!parsed.success) return undefined;
  if (parsed.data.t === 'replaced') return parsed.data;
  // The sealed message gets the same checks as anything the relay sends a client.
  const message = parseRelayMessage(parsed.data.message);
  if (!message.ok || (message.value.t !== 'whisper' && message.value.t !== 'signal')) return undefined;
  return { t: 'sealed', userKey: parsed.data.userKey, roomKey: parsed.data.roomKey, message: message.value };
}

/** An event on the cluster channel, or undefined when it is not a valid one. */
export function parseClusterEvent(text: string): ClusterEvent | undefined {
  const parsed = ClusterSchema.safeParse(parseJson(text));
  return parsed.success ? parsed.data : undefined;
}

/** The JSON of a sealed message for `userKey` on relay inbox. */
export function sealedEvent(userKey: string, message: SealedMessage, roomKey: string | undefined): string {
  return JSON.stringify({ t: 'sealed', userKey, roomKey, message });
}

export function replacedEvent(userKey: string): string {
  return JSON.stringify({ t: 'replaced', userKey });
}

export function returnedEvent(userKey: string, relayId: string): string {
  return JSON.stringify({ t: 'returned', userKey, relayId });
}

/** The members-hash value of one room member. */
export interface MemberRecord {
  userName: string;
  relayId: string;
  away: boolean;
  /** While away: epoch ms when the grace ends. */
  until?: number;
  /** The member's /away text, while they set one. */
  awayText?: string;
}

const MemberSchema = z.object({
  userName: z.string().min(1).max(256),
  relayId: key,
  away: z.boolean(),
  until: z.number().optional(),
  awayText: z.string().max(1024).optional(),
});

export function parseMember(text: string): MemberRecord | undefined {
  const parsed = MemberSchema.safeParse(parseJson(text));
  return parsed.success ? parsed.data : undefined;
}

const LocationSchema = z.object({ relayId: key, roomKey: key.optional() });

export function parseLocation(text: string): { relayId: string; roomKey: string | undefined } | undefined {
  const parsed = LocationSchema.safeParse(parseJson(text));
  return parsed.success ? { relayId: parsed.data.relayId, roomKey: parsed.data.roomKey } : undefined;
}
