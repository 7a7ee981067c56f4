/**
 * Everything the client core tells its users (the TUI, the JSON-lines mode, bots, benchmarks),
 * as one union discriminated by `type`. The JSON mode prints each event as-is, one per line,
 * so every field is plain JSON (no Buffers, no Dates, no undefined-only fields).
 */

import { asChatError } from '../../shared/errors.js';
import type { TransferInfo } from './transfer/manager.js';

/** One file transfer as /transfers lists it (see tui/core/transfer/manager.ts). */
export type { TransferInfo };

/** A room message as shown: from the relay, or the client's own once the relay acknowledged it. */
export interface ChatMessage {
  room: string;
  /** The room's sequence id, set by the relay when it stored the message. */
  seq: number;
  from: string;
  text: string;
  /** The sender's client-chosen message id (the idempotency key). */
  id: string;
  /** Milliseconds since the epoch, set by the relay. */
  time: number;
  /** Present and true for this client's own messages. */
  own?: boolean;
}

/**
 * How a transfer's bytes travel once a connection won: `lan` (direct, inside a private
 * network), `direct` (direct, across the internet) or `relay` (the relay pipe). The sender
 * names it and tells the receiver (in `go`), so both ends say the same; the TUI shows
 * `direct (LAN)`, `direct`, `relay` (docs/transfer.md).
 */
export type TransferPathKind = 'direct' | 'lan' | 'relay';

/** One file stored on the relay for a room (/files). */
export interface RoomFileEntry {
  id: string;
  name: string;
  /** Bytes. */
  size: number;
  hash: string;
  from: string;
  /** Upload time, ms since the epoch. */
  time: number;
}

export interface RoomInfo {
  name: string;
  members: number;
}

export type ChatEvent =
  /**
   * Logged in and in a room; after every (re)connect. `resumed`: a resume token was used.
   * `registration`: whether the relay accepts new accounts (from its welcome). `proxy`: the
   * SOCKS5 proxy the connection goes through (without its password), when one is set.
   */
  | { type: 'connected'; server: string; user: string; fingerprint: string; resumed: boolean; registration: 'open' | 'closed'; proxy?: string }
  /**
   * Now in `room` (after login, /create, /join, /leave, or a reconnect). `history` is the
   * recent past not shown before, oldest first; `hasMore` when older messages exist.
   * `rejoined`: back in the same room after a reconnect; missed messages then follow as
   * `message` events instead of `history`.
   */
  | { type: 'joined'; room: string; users: string[]; history: ChatMessage[]; hasMore: boolean; rejoined: boolean; away?: Record<string, string> }
  /** No longer in `room` (a `joined` for the new room follows). */
  | { type: 'left'; room: string }
  /** A room message: someone else's, or this client's own (`own: true`) once acknowledged. */
  | ({ type: 'message' } & ChatMessage)
  /** Someone else entered or left the current room. */
  | { type: 'presence'; room: string; user: string; event: 'join' | 'leave' }
  /** A member of the current room (you too) set their away text (`text`), or is back (no `text`). */
  | { type: 'away'; room: string; user: string; text?: string }
  /**
   * An end-to-end encrypted private message to (or, with `own: true`, from) this user, decrypted
   * and checked (sender, recipient, replay). `time`: when the relay routed it (own: when sent),
   * ms since the epoch. `verified`: the other user's key was verified with /trust.
   */
  | { type: 'whisper'; from: string; to: string; text: string; time: number; id: string; own?: boolean; verified: boolean }
  /**
   * The relay now serves a different key for `user` than the one pinned. Whispers to them are
   * refused (E_KEY_CHANGED) until `/trust USER`; compare safety numbers with `/verify USER`
   * first. Fingerprints are short (`3f2a 9c01 77de 0b45`), for naming the keys only.
   */
  | { type: 'key-changed'; user: string; oldFingerprint: string; newFingerprint: string; message: string }
  /**
   * Answer to /verify: the 60-digit safety number of this user and `user` (the same on both
   * sides; compare it aloud), both short key fingerprints, and whether `user`'s key is verified.
   * With a key change pending, `pendingFingerprint` and `pendingSafetyNumber` describe the new key.
   */
  | {
      type: 'verify';
      user: string;
      safetyNumber: string;
      fingerprint: string;
      ownFingerprint: string;
      verified: boolean;
      pendingFingerprint?: string;
      pendingSafetyNumber?: string;
    }
  /** `/trust USER` done: `user`'s key (`fingerprint`) is verified; `accepted` when it replaced a changed key. */
  | { type: 'trusted'; user: string; fingerprint: string; accepted: boolean }
  /**
   * A session was started over (docs/crypto.md "Session reset"). `side: 'asked'`: a message from
   * `user` could not be read here, and this device asked `user`'s device to use a new session;
   * `side: 'told'`: `user`'s device could not read something this device sent (`time`: when the
   * relay routed it), so it may need sending again.
   */
  | { type: 'session-reset'; user: string; side: 'asked' | 'told'; time?: number; message: string }
  /** Answer to /users; `away`: who of them is away, with their away text (absent when nobody is). */
  | { type: 'users'; room: string; users: string[]; away?: Record<string, string> }
  /**
   * Answer to /ignore and /unignore: the users ignored now (`users`), and what became of `user`
   * (`added`, `removed`, `already` ignored, `not-listed`), or `list` for a bare /ignore.
   */
  | { type: 'ignored'; users: string[]; change: 'added' | 'removed' | 'already' | 'not-listed' | 'list'; user?: string }
  /** Answer to /chatrooms. */
  | { type: 'rooms'; rooms: RoomInfo[] }
  /** Answer to /history: older messages, oldest first. */
  | { type: 'history'; room: string; messages: ChatMessage[]; hasMore: boolean }
  /** The relay stored a message this client sent (`id` is the client's message id). */
  | { type: 'ack'; id: string; room: string; seq: number; time: number }
  /**
   * Something failed: a command (then `command` names it and `re` the request), a message,
   * or the connection. `code` is stable (shared/errors.ts); `message` is for people.
   */
  | {
      type: 'error';
      code: string;
      message: string;
      command?: string;
      re?: string;
      retryAfterMs?: number;
      details?: Record<string, unknown>;
    }
  /** The connection is gone; `willReconnect` says whether the client tries again. */
  | { type: 'disconnected'; code: string; message: string; willReconnect: boolean }
  /** Waiting `delayMs` before reconnect attempt `attempt`; `code` is why the last one failed. */
  | { type: 'reconnecting'; attempt: number; delayMs: number; code?: string; message?: string }
  /** A relay seen for the first time was trusted (trust on first use); `recorded` if saved. */
  | { type: 'trust-new'; server: string; fingerprint: string; recorded: boolean; file?: string }
  /** A round-trip time to the relay, in milliseconds (from /ping or the heartbeat). */
  | { type: 'rtt'; ms: number }
  /** The relay is closing the connection and says why. */
  | { type: 'bye'; code: string; message: string }
  /**
   * Someone offers you a file (end-to-end signalled): answer `/accept ID [DIR]` or `/reject ID`.
   * `name` is already sanitized (the name it would be saved under); `size` in bytes; `hash`
   * SHA-256 hex of the whole file (transfer/file-hash.ts) when the offer carried it, '' from
   * today's senders, which hash while sending and give it at the end (`transfer-done` has it,
   * checked).
   */
  | { type: 'transfer-offer'; id: string; from: string; name: string; size: number; hash: string }
  /**
   * A transfer changed state (offered, connecting, transferring, reconnecting, verifying,
   * completed, rejected, cancelled, failed) or started a session on a path. `file`: the file
   * sent, or the partial (then final) file received. `restored`: present (true) on every state
   * of a transfer this client restored from its journal after a restart (it starts in
   * `reconnecting` and resumes where the earlier run stopped). `relayOnly: 'proxy'`: present
   * when this client offers no direct connection because it reaches the relay through a
   * SOCKS5 proxy (its addresses would be revealed): the bytes go through the relay pipe.
   */
  | {
      type: 'transfer-state';
      id: string;
      direction: 'out' | 'in';
      peer: string;
      name: string;
      state: string;
      path: TransferPathKind | null;
      file: string | null;
      restored?: true;
      relayOnly?: 'proxy';
      /** The folder transfer (`folder-*` events) this file belongs to. */
      folder?: string;
    }
  /** Progress of a running transfer, at most 4 a second each: bytes of total, percent, speed (bytes/s), seconds left (null: unknown). */
  | { type: 'transfer-progress'; id: string; bytes: number; total: number; percent: number; speedBps: number; etaSec: number | null; path: TransferPathKind | null }
  /** A transfer completed and the receiver checked the whole-file hash (`hash`, SHA-256 hex). `file`: where it is. */
  | {
      type: 'transfer-done';
      id: string;
      direction: 'out' | 'in';
      peer: string;
      name: string;
      size: number;
      file: string;
      hash: string;
      path: TransferPathKind | null;
      /** From the first session to the end, ms (this run of the client). */
      elapsedMs: number;
      /** Bytes moved in this run per second over `elapsedMs` (a resumed transfer counts only what it moved). */
      avgBps: number;
      folder?: string;
    }
  /**
   * A transfer ended without the file: `state` rejected, cancelled or failed, `code` says why
   * (E_REJECTED, E_CANCELLED, E_PEER_GONE, E_HASH_MISMATCH...). `partial`: a partial file that was kept.
   */
  | { type: 'transfer-failed'; id: string; direction: 'out' | 'in'; peer: string; name: string; state: string; code: string; message: string; partial?: string; folder?: string }
  /**
   * Someone offers you a folder (`/send USER DIR/`): answer `/accept ID [DIR]` or `/reject ID`.
   * `name`: the folder's sanitized name; `files`: how many; `size`: bytes in all.
   */
  | { type: 'folder-offer'; id: string; from: string; name: string; files: number; size: number }
  /**
   * A folder transfer moved on: `state` offered, transferring (file `filesDone + 1` of `files`
   * under way), completed, rejected, cancelled or failed. `bytes` done of `size`; `dir`: the
   * receiver's folder (the sender's own folder when sending). `skipped`: entries the sender
   * left out (symbolic links, special files). `restored`: picked up from the journal after a
   * restart (it goes on with the file it was on; the files done are not sent again).
   */
  | {
      type: 'folder-state';
      id: string;
      direction: 'out' | 'in';
      peer: string;
      name: string;
      state: string;
      files: number;
      filesDone: number;
      bytes: number;
      size: number;
      /** The whole folder's speed (bytes/s) and seconds left (null: unknown), and its current file's path. */
      speedBps: number;
      etaSec: number | null;
      path: TransferPathKind | null;
      dir: string | null;
      skipped?: number;
      /** Present (true) on every state of a folder this client picked up from its journal after a restart. */
      restored?: true;
    }
  /** Every file of a folder arrived and each one's hash was checked. */
  | { type: 'folder-done'; id: string; direction: 'out' | 'in'; peer: string; name: string; files: number; size: number; dir: string; elapsedMs: number; avgBps: number }
  /** A folder transfer ended early: `code` says why; the files done so far stay (`filesDone`). */
  | { type: 'folder-failed'; id: string; direction: 'out' | 'in'; peer: string; name: string; state: string; code: string; message: string; filesDone: number; dir: string | null }
  /** Answer to /transfers. */
  | { type: 'transfers'; transfers: TransferInfo[] }
  /** /upload done: the relay stored the file for your room under `fileId`; `size` in bytes. */
  | { type: 'file-uploaded'; fileId: string; name: string; size: number; elapsedMs: number; avgBps: number }
  /**
   * An /upload or /download under way, at most 4 a second: `direction` up or down, `name` (an
   * upload's base name, a download's name as the relay gives it), `fileId` (downloads),
   * bytes of total, percent, speed, seconds left. Always through the relay.
   */
  | {
      type: 'room-file-progress';
      direction: 'up' | 'down';
      name: string;
      fileId?: string;
      bytes: number;
      total: number;
      percent: number;
      speedBps: number;
      etaSec: number | null;
    }
  /** Answer to /files: the room's stored files; `time` ms since the epoch, `hash` BLAKE2b-512 hex. */
  | { type: 'files'; room: string; files: RoomFileEntry[] }
  /** /download done: saved at `path` after the BLAKE2b-512 `hash` matched. */
  | { type: 'file-downloaded'; fileId: string; path: string; hash: string; size: number; elapsedMs: number; avgBps: number };

export type ChatEventType = ChatEvent['type'];
export type ChatEventOf<T extends ChatEventType> = Extract<ChatEvent, { type: T }>;

/** One line per event type, for --help and the README. */
export const EVENT_DOCS: { readonly [T in ChatEventType]: string } = {
  connected: 'logged in (after every reconnect too): server, user, fingerprint, resumed, registration (open|closed), proxy (the SOCKS5 proxy, when set)',
  joined: 'now in a room: room, users, history (not shown before, oldest first), hasMore, rejoined, away ({user: away text} of members who are away)',
  left: 'no longer in a room: room',
  message: 'a room message: room, seq, from, text, id, time, own (true for your own, sent once acknowledged)',
  presence: 'someone entered or left your room: room, user, event (join|leave)',
  away: 'someone in your room (or you) went away with a text, or is back (no text): room, user, text',
  whisper: 'an end-to-end encrypted private message: from, to, text, time, id, own, verified',
  'key-changed': "a contact's key changed; whispers to them are refused until /trust: user, oldFingerprint, newFingerprint, message",
  verify: 'answer to /verify: user, safetyNumber, fingerprint, ownFingerprint, verified, pendingFingerprint, pendingSafetyNumber',
  trusted: "answer to /trust: user, fingerprint, accepted (true when a changed key was accepted)",
  'session-reset': "a forward-secret session was started over: user, side (asked: you could not read user's message and asked for a new session; told: user could not read yours, send it again if it mattered), time, message",
  users: 'answer to /users: room, users, away ({user: away text} of those who are away)',
  ignored: 'answer to /ignore and /unignore: users (ignored now), change (added|removed|already|not-listed|list), user',
  rooms: 'answer to /chatrooms: rooms [{name, members}]',
  history: 'answer to /history: room, messages (oldest first), hasMore',
  ack: 'the relay stored your message: id, room, seq, time',
  error: 'something failed: code, message, and command, re, retryAfterMs, details when known',
  disconnected: 'the connection is gone: code, message, willReconnect',
  reconnecting: 'waiting before a reconnect attempt: attempt, delayMs, code, message',
  'trust-new': 'a relay seen for the first time was trusted: server, fingerprint, recorded, file',
  rtt: 'round-trip time to the relay: ms',
  bye: 'the relay is closing the connection: code, message',
  'transfer-offer': 'someone offers you a file (/accept ID [DIR] or /reject ID): id, from, name, size, hash',
  'transfer-state': 'a transfer changed state or path: id, direction (out|in), peer, name, state, path (lan|direct|relay, the same on both ends), file, restored (true: resumed after a restart), relayOnly ("proxy": no direct connection, a proxy is set), folder',
  'transfer-progress': 'a running transfer, at most 4 a second: id, bytes, total, percent, speedBps, etaSec, path',
  'transfer-done': 'a transfer completed, hash checked: id, direction, peer, name, size, file, hash, path, elapsedMs, avgBps, folder',
  'transfer-failed': 'a transfer ended without the file: id, direction, peer, name, state (rejected|cancelled|failed), code, message, partial, folder',
  'folder-offer': 'someone offers you a folder (/accept ID [DIR] or /reject ID): id, from, name, files, size',
  'folder-state': 'a folder transfer moved on (and its progress, at most 4 a second): id, direction, peer, name, state, files, filesDone, bytes, size, speedBps, etaSec, path, dir, skipped, restored (true: picked up from the last run)',
  'folder-done': 'every file of a folder arrived, hashes checked: id, direction, peer, name, files, size, dir, elapsedMs, avgBps',
  'folder-failed': 'a folder transfer ended early: id, direction, peer, name, state, code, message, filesDone, dir',
  'file-uploaded': 'the relay stored your /upload for the room: fileId, name, size, elapsedMs, avgBps',
  'room-file-progress': 'an /upload or /download under way, at most 4 a second: direction (up|down), name, fileId, bytes, total, percent, speedBps, etaSec',
  files: 'answer to /files: room, files [{id, name, size, hash, from, time}]',
  'file-downloaded': 'a /download was saved after its hash matched: fileId, path, hash, size, elapsedMs, avgBps',
  transfers: 'answer to /transfers: transfers [{id, direction, peer, name, size, hash, state, path, bytes, percent, speedBps, etaSec, file, sessions, code, restored, folder: {files, filesDone} on a folder\'s own row}]',
};

export const CHAT_EVENT_TYPES = Object.keys(EVENT_DOCS) as ChatEventType[];

/**
 * A failure as an `error` event: `re` and `retryAfterMs` lifted out of the details, the rest
 * kept in `details` when there is any. The one shape, for the core's events and the JSON mode's
 * own lines.
 */
export function errorEvent(error: unknown, command?: string): ChatEventOf<'error'> {
  const e = asChatError(error);
  const event: ChatEventOf<'error'> = { type: 'error', code: e.code, message: e.message };
  if (command !== undefined) event.command = command;
  const details = { ...e.details };
  if (typeof details.re === 'string') event.re = details.re;
  if (typeof details.retryAfterMs === 'number') event.retryAfterMs = details.retryAfterMs;
  delete details.re;
  delete details.retryAfterMs;
  if (Object.keys(details).length > 0) event.details = details;
  return event;
}
