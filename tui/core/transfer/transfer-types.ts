import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../../../shared/errors.js';
import type { Candidate, PathKind } from './candidates.js';
import type { TransferConstants } from './constants.js';
import type { LocalCandidatePolicy } from './gather.js';
import type { PortMappingOptions } from './port-mapping.js';
import type { TransferProgress } from './progress.js';
import type { Scheduler } from './scheduler.js';
import type { TransferRole, TransferStateName } from './state-machine.js';
import type { TransferPeerMessage } from './wire.js';

/**
 * The shapes around one file transfer (tui/core/transfer/transfer.ts): what it needs
 * (link, options), what it shows (snapshot, events, result) and what a later run needs to
 * resume it (the journal's resume state). Types only.
 */

/** What a transfer needs from the rest of the client: the end-to-end channel and the relay pipe. */
export interface TransferLink {
  /**
   * Sends a message to the other user. It must travel end-to-end encrypted and authenticated
   * with the users' identity keys (the whisper layer): the certificate fingerprints in it are
   * what binds the data connection to the two identities.
   */
  send(message: TransferPeerMessage): void;
  /**
   * Opens this transfer's relay pipe; resolves with a byte stream once the relay accepted it
   * (the other side may join later; bytes flow when it does). Absent: no relay path.
   */
  dialRelay?: (transferId: string, signal: AbortSignal) => Promise<Duplex>;
}

export interface TransferOptions {
  link: TransferLink;
  /** Overrides of TRANSFER_DEFAULTS (tests shorten timers and windows). */
  constants?: Partial<TransferConstants>;
  scheduler?: Scheduler;
  /** Address the per-transfer listener binds ('::' by default); `false`: accept no direct connections. */
  listenHost?: string | false;
  /** Which of our addresses to offer (default 'interfaces'). */
  localCandidates?: LocalCandidatePolicy;
  /** Our public address as the relay sees it, if known. */
  observedAddress?: string;
  /** Port-mapping settings (timeout and lease come from the constants), or `false` for none. */
  portMapping?: Omit<PortMappingOptions, 'timeoutMs' | 'ttlMs' | 'signal'> | false;
  /** Dial the peer's 127.0.0.1 / ::1 candidates (tests on one machine). */
  allowLoopbackCandidates?: boolean;
  /** Sender: the file is one of a folder transfer (tui/core/transfer/folders.ts); said in the offer. */
  folder?: { id: string; index: number; path: string };
  /** Free bytes in a folder; default `fs.statfs`. */
  freeSpace?: (directory: string) => Promise<number>;
  log?: (line: string) => void;
}

export interface TransferSnapshot {
  transferId: string;
  role: TransferRole;
  /** Sender: the file's base name. Receiver: the sanitized name it will be saved under. */
  name: string;
  /** Bytes. */
  size: number;
  state: TransferStateName;
  /** How the current (or last) session's bytes travel. */
  path: PathKind | null;
  progress: TransferProgress;
  /** Sender: the file sent. Receiver: the final file once complete, else the partial file. */
  filePath: string | null;
  /** Sessions so far: 1 + resumes (counting those of earlier runs for a restored transfer). */
  sessions: number;
  error: { code: ErrorCode; message?: string } | null;
  /** Restored from the journal after a restart of this client ({@link FileTransfer.restore}). */
  restored: boolean;
}

/**
 * What a transfer needs to go on in a later run of this process, as the transfer journal
 * keeps it: everything both peers agreed on in the sealed offer and accept (id, file, size,
 * hash, both certificates), where the bytes are on this side, and the peer's last known
 * addresses. Only transfers past the accept have one.
 */
export interface TransferResumeState {
  transferId: string;
  role: TransferRole;
  /** Sender: the file's base name. Receiver: the name it is saved under. */
  name: string;
  /** Bytes. */
  size: number;
  /** The whole file's hash (file-hash.ts), hex: '' until known (journal.ts forgets one from before issue 15). */
  hash: string;
  /** This side's per-transfer TLS identity (PEM); the key is secret. */
  credentials: { key: string; cert: string };
  /** The peer's certificate fingerprint from the sealed offer (or accept). */
  peerFingerprint: string;
  /** The peer's candidates as last known (validated again when restored). */
  peerCandidates: Candidate[];
  /** Sessions started so far. */
  sessions: number;
  /** Bytes acknowledged so far (display only; the receiver's partial file has the final say). */
  ackedBytes: number;
  /** Sender: the file, and its modification time (ms since the epoch) when offered. */
  file?: { path: string; mtimeMs: number };
  /** Receiver: the partial file and the folder it will be saved in. */
  receive?: { partPath: string; directory: string };
}

export interface TransferResult {
  /** `suspended`: stopped by {@link FileTransfer.suspend}, to be restored by a later run. */
  state: 'completed' | 'rejected' | 'cancelled' | 'failed' | 'suspended';
  code?: ErrorCode;
  message?: string;
  /** Receiver: where the file is (completed) or the partial file that was kept. */
  filePath?: string;
}

export interface TransferEvents {
  state: [TransferSnapshot];
  progress: [TransferProgress];
  /** A session started on a connection: the path and the offset it resumes from. */
  session: [{ connectionId: string; path: PathKind; offset: number }];
  finished: [TransferResult];
  /** What {@link FileTransfer.resumeState} returns changed (accepted, a session started, new peer candidates): journal it. */
  checkpoint: [];
}
