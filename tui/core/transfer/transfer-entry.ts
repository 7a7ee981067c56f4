import { CLIENT_DEFAULTS } from '../../../shared/limits.js';
import { nameKey } from '../../../shared/names.js';
import type { ChatEvent } from '../events.js';
import type { PathKind } from './candidates.js';
import type { TransferProgress } from './progress.js';
import type { PeerKeys } from './journal.js';
import type { TransferStateName } from './state-machine.js';
import type { FileTransfer, TransferResult } from './transfer.js';

/**
 * One transfer as the manager follows it (tui/core/transfer/manager.ts), and what is said
 * about it: the `/transfers` row and the transfer-* events, each built from the transfer's
 * snapshot and the entry. Pure apart from reading the clock for progress pacing and times.
 */

export type TransferDirection = 'out' | 'in';

/** One transfer as /transfers lists it (plain JSON). */
export interface TransferInfo {
  id: string;
  direction: TransferDirection;
  /** The other user. */
  peer: string;
  /** Sending: the file's base name. Receiving: the sanitized name it is saved under. */
  name: string;
  /** Bytes. */
  size: number;
  /** The whole file's hash (file-hash.ts), hex: '' until the sender has hashed what it sent (or from an older sender's offer). */
  hash: string;
  state: TransferStateName;
  /** How the bytes travel (direct, lan or relay), once a connection won. */
  path: PathKind | null;
  bytes: number;
  percent: number;
  /** Bytes per second over the last few seconds. */
  speedBps: number;
  /** Seconds left at that speed, null while unknown. */
  etaSec: number | null;
  /** Sending: the file sent. Receiving: the partial file, then the final one. */
  file: string | null;
  /** Sessions so far: 1 + resumes (earlier runs included for a restored transfer). */
  sessions: number;
  code?: string;
  message?: string;
  /** Present (true) when the transfer was restored from the journal after a restart of the client. */
  restored?: true;
  /** Present on a folder transfer's own row: how many files, how many done (`sessions` counts them too). */
  folder?: { files: number; filesDone: number };
}

/** One transfer the manager follows, and what it has said about it. */
export interface Entry {
  transfer: FileTransfer;
  direction: TransferDirection;
  peer: string;
  peerKey: string;
  hash: string;
  finishedAt: number | null;
  /** When the last progress event went out, ms (performance clock). */
  progressAt: number;
  /** Restored from the journal after a restart. */
  restored: boolean;
  /** The peer's pinned keys when the transfer was agreed (journalled with it). */
  peerKeys: PeerKeys | null;
  /** A journal record was (or is being) written for it. */
  journalled: boolean;
  /** A journal write failed and the user was told (once). */
  journalFailed: boolean;
  /** A late signal after the end was answered with file-cancel (once). */
  answeredLate: boolean;
  /** The last transfer-state event emitted, as JSON: the next one goes out only if it differs. */
  stateSaid: string | null;
  /** The folder transfer this file belongs to (folders.ts), if any. */
  folder?: string;
  /** When the first session of this run started (performance clock, ms) and from which byte. */
  startedMs: number | null;
  startBytes: number;
}

/** An entry restored from the journal after a restart, with the peer keys it was agreed with. */
export interface RestoredFrom {
  restored: true;
  peerKeys: PeerKeys;
}

export function newEntry(
  transfer: FileTransfer,
  direction: TransferDirection,
  peer: string,
  hash: string,
  restored: RestoredFrom | null = null,
): Entry {
  return {
    transfer,
    direction,
    peer,
    peerKey: nameKey(peer),
    hash,
    finishedAt: null,
    progressAt: -Infinity,
    restored: restored !== null,
    peerKeys: restored?.peerKeys ?? null,
    journalled: false,
    journalFailed: false,
    answeredLate: false,
    stateSaid: null,
    startedMs: null,
    startBytes: 0,
  };
}

/** A session started: the first of this run sets the start of the time taken. */
export function sessionStarted(entry: Entry, offset: number): void {
  if (entry.startedMs !== null) return;
  entry.startedMs = performance.now();
  entry.startBytes = offset;
}

/** Time from the first session of this run to now, and the bytes moved in it per second. */
export function elapsed(entry: Entry, size: number): { elapsedMs: number; avgBps: number } {
  if (entry.startedMs === null) return { elapsedMs: 0, avgBps: 0 };
  const elapsedMs = Math.max(1, Math.round(performance.now() - entry.startedMs));
  return { elapsedMs, avgBps: Math.round(((size - entry.startBytes) * 1000) / elapsedMs) };
}

/**
 * The transfer-state event, or null when it says nothing new (several signals may mean a
 * change, the core's state, a new session, /send and /accept returning, and one change often
 * raises two of them: each change is said once).
 */
export function stateEvent(entry: Entry, relayOnly: 'proxy' | undefined): ChatEvent | null {
  const snapshot = entry.transfer.snapshot();
  const event: ChatEvent = {
    type: 'transfer-state',
    id: snapshot.transferId,
    direction: entry.direction,
    peer: entry.peer,
    name: snapshot.name,
    state: snapshot.state,
    path: snapshot.path,
    file: snapshot.filePath,
  };
  if (entry.restored) event.restored = true;
  if (entry.folder !== undefined) event.folder = entry.folder;
  if (relayOnly !== undefined) event.relayOnly = relayOnly;
  const said = JSON.stringify(event);
  if (said === entry.stateSaid) return null;
  entry.stateSaid = said;
  return event;
}

/** The transfer-progress event, or null inside the pacing interval (the last byte always goes). */
export function progressEvent(entry: Entry, progress: TransferProgress): ChatEvent | null {
  const now = performance.now();
  const last = progress.bytes === progress.totalBytes;
  if (!last && now - entry.progressAt < 1000 / CLIENT_DEFAULTS.transferProgressEventsPerSecond) return null;
  entry.progressAt = now;
  return {
    type: 'transfer-progress',
    id: entry.transfer.transferId,
    bytes: progress.bytes,
    total: progress.totalBytes,
    percent: progress.percent,
    speedBps: progress.bytesPerSecond,
    etaSec: progress.etaSeconds,
    path: entry.transfer.snapshot().path,
  };
}

/** transfer-done or transfer-failed for a transfer that ended (not suspended). */
export function endEvent(entry: Entry, result: TransferResult): ChatEvent {
  const transfer = entry.transfer;
  const snapshot = transfer.snapshot();
  if (result.state === 'completed') {
    return {
      type: 'transfer-done',
      id: transfer.transferId,
      direction: entry.direction,
      peer: entry.peer,
      name: snapshot.name,
      size: transfer.size,
      file: result.filePath ?? snapshot.filePath ?? '',
      hash: entry.transfer.hash || entry.hash,
      path: snapshot.path,
      ...elapsed(entry, transfer.size),
      ...(entry.folder !== undefined ? { folder: entry.folder } : {}),
    };
  }
  const event: ChatEvent = {
    type: 'transfer-failed',
    id: transfer.transferId,
    direction: entry.direction,
    peer: entry.peer,
    name: snapshot.name,
    state: result.state,
    code: result.code ?? (result.state === 'rejected' ? 'E_REJECTED' : result.state === 'cancelled' ? 'E_CANCELLED' : 'E_INTERNAL'),
    message: result.message ?? result.state,
  };
  if (result.filePath !== undefined && entry.direction === 'in') event.partial = result.filePath;
  if (entry.folder !== undefined) event.folder = entry.folder;
  return event;
}

/** The transfer as /transfers lists it. */
export function transferInfo(entry: Entry): TransferInfo {
  const s = entry.transfer.snapshot();
  const info: TransferInfo = {
    id: s.transferId,
    direction: entry.direction,
    peer: entry.peer,
    name: s.name,
    size: s.size,
    hash: entry.transfer.hash || entry.hash,
    state: s.state,
    path: s.path,
    bytes: s.progress.bytes,
    percent: s.progress.percent,
    speedBps: s.progress.bytesPerSecond,
    etaSec: s.progress.etaSeconds,
    file: s.filePath,
    sessions: s.sessions,
  };
  if (entry.restored) info.restored = true;
  if (s.error !== null) {
    info.code = s.error.code;
    if (s.error.message !== undefined) info.message = s.error.message;
  }
  return info;
}
