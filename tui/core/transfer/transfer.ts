import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { ChatError, type ErrorCode } from '../../../shared/errors.js';
import { type Candidate, type PathKind, checkCandidates, isLoopbackAddress } from './candidates.js';
import { type TransferConstants, resolveTransferConstants } from './constants.js';
import { PARTIAL_SUFFIX, alternativeNames, resolveInside, sanitizeFileName } from '../../../shared/filename.js';
import { type DriverEffect, TransferMachine } from './machine.js';
import { ProgressMeter, type TransferProgress } from './progress.js';
import { type Scheduler, systemScheduler } from './scheduler.js';
import { type TransferRole, type TransferStateName, isTerminal } from './state-machine.js';
import {
  ABORT_CODES,
  type AbortCode,
  REJECT_CODES,
  type RejectCode,
  type TransferPeerMessage,
  type TransferPeerMessageOf,
  parseTransferPeerMessage,
} from './wire.js';
import { type TransferCredentials, createTransferCredentials, credentialsFromPem } from './credentials.js';
import { FileSink, hashFile } from './file-sink.js';
import { FramedChannel } from './framed-channel.js';
import { moveIntoPlace } from './place-file.js';
import { type Gathering, type LocalCandidatePolicy, gatherCandidates } from './gather.js';
import type { PortMappingOptions } from './port-mapping.js';
import { openSecureChannel } from './secure-channel.js';
import { type SenderFile, type SessionResult, fileUnchanged, runReceiverSession, runSenderSession } from './sessions.js';

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
  /** BLAKE2b-512 hex of the whole file, as offered. */
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

interface Connection {
  id: string;
  path: PathKind;
  abort: AbortController;
  stream: Duplex | null;
  channel: FramedChannel | null;
}

/** A transfer id: 16 URL-safe characters (96 random bits). */
export function newTransferId(): string {
  return randomBytes(12).toString('base64url');
}

function privateOrLocal(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, '');
  return (
    isLoopbackAddress(address) ||
    /^10\./.test(v4) ||
    /^192\.168\./.test(v4) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(v4) ||
    /^169\.254\./.test(v4) ||
    /^f[cd]/i.test(address) ||
    /^fe80:/i.test(address)
  );
}

async function statfsFree(directory: string): Promise<number> {
  const stats = await fs.statfs(directory);
  return Number(stats.bavail) * Number(stats.bsize);
}

/**
 * One file transfer, either side: ties the pure state machine to sockets, TLS, the file
 * worker and the port mapping. Create with {@link FileTransfer.send} (sender) or
 * {@link FileTransfer.receive} (receiver, from an offer); feed it the peer's end-to-end
 * messages with {@link FileTransfer.handlePeerMessage}; watch its events; `finished`
 * resolves once everything (sockets, listener, mapping, worker) is released.
 */
export class FileTransfer extends EventEmitter<TransferEvents> {
  readonly transferId: string;
  readonly role: TransferRole;
  readonly size: number;
  readonly finished: Promise<TransferResult>;

  private readonly constants: TransferConstants;
  private readonly scheduler: Scheduler;
  private readonly machine: TransferMachine;
  private readonly meter: ProgressMeter;
  private readonly connections = new Map<string, Connection>();
  private credentials: TransferCredentials | null = null;
  private peerFingerprint: string | null = null;
  private server: net.Server | null = null;
  private gathering: Gathering | null = null;
  private inboundNumber = 1;
  private session: { connectionId: string; abort: AbortController } | null = null;
  private lastProgressAtMs = -Infinity;
  private lastPath: PathKind | null = null;
  private fileName: string;
  private resolveFinished!: (result: TransferResult) => void;
  private released = false;
  /** Restored from the journal: what {@link FileTransfer.resume} starts from. */
  private restoredFrom: TransferResumeState | null = null;

  // sender only
  private file: SenderFile | null = null;
  // receiver only
  private expectedHash = '';
  private directory: string | null = null;
  private partPath: string | null = null;
  private finalPath: string | null = null;
  private sink: FileSink | null = null;

  private constructor(
    init: { transferId: string; role: TransferRole; name: string; size: number },
    private readonly options: TransferOptions,
  ) {
    super();
    this.transferId = init.transferId;
    this.role = init.role;
    this.fileName = init.name;
    this.size = init.size;
    this.constants = resolveTransferConstants(options.constants);
    this.scheduler = options.scheduler ?? systemScheduler;
    this.meter = new ProgressMeter(init.size, this.constants.SPEED_WINDOW_MS);
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    this.machine = new TransferMachine(
      {
        role: init.role,
        transferId: init.transferId,
        size: init.size,
        relayAvailable: options.link.dialRelay !== undefined,
        constants: this.constants,
      },
      this.scheduler,
      (effect) => this.onEffect(effect),
    );
  }

  // ---- creating -------------------------------------------------------------------------

  /**
   * Sender: hashes the file (in a worker), makes this transfer's TLS identity and sends the
   * offer. Throws E_FILE_UNREADABLE (missing, not a regular file, unreadable) or
   * E_FILE_CHANGED (it changed while being hashed).
   */
  static async send(filePath: string, options: TransferOptions & { transferId?: string; signal?: AbortSignal }): Promise<FileTransfer> {
    const absolute = path.resolve(filePath);
    const before = await fs.stat(absolute).catch(() => null);
    if (before === null || !before.isFile()) throw new ChatError('E_FILE_UNREADABLE', `${filePath} is not a readable file`);
    await fs.access(absolute, fs.constants.R_OK).catch(() => {
      throw new ChatError('E_FILE_UNREADABLE', `${filePath} cannot be read`);
    });
    const hash = await hashFile(absolute, { end: before.size }, options.signal);
    const after = await fs.stat(absolute).catch(() => null);
    if (after === null || after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      throw new ChatError('E_FILE_CHANGED', `${filePath} changed while it was being hashed`);
    }
    const transfer = new FileTransfer(
      { transferId: options.transferId ?? newTransferId(), role: 'sender', name: path.basename(absolute), size: before.size },
      options,
    );
    transfer.file = { path: absolute, size: before.size, mtimeMs: before.mtimeMs, hash };
    transfer.credentials = await createTransferCredentials();
    transfer.machine.input({ type: 'offer' });
    return transfer;
  }

  /**
   * Receiver: takes an offer (validated here) and waits for {@link FileTransfer.accept} or
   * {@link FileTransfer.reject}. An offer whose name is refused or whose size is over the
   * limit is declined at once (E_PATH_REFUSED / E_FILE_TOO_LARGE): the transfer comes back
   * already `rejected`, and the sender is told.
   */
  static receive(offer: unknown, options: TransferOptions): FileTransfer {
    const message = parseTransferPeerMessage(offer);
    if (message.t !== 'file-offer') throw new ChatError('E_PROTOCOL', 'not a file offer');
    const sanitized = sanitizeFileName(message.name);
    const transfer = new FileTransfer(
      { transferId: message.transferId, role: 'receiver', name: sanitized.ok ? sanitized.name : '', size: message.size },
      options,
    );
    transfer.expectedHash = message.hash;
    transfer.peerFingerprint = message.fingerprint;
    transfer.machine.input({ type: 'offer' });
    if (!sanitized.ok) transfer.machine.input({ type: 'reject', code: 'E_PATH_REFUSED' });
    else if (message.size > transfer.constants.MAX_FILE_BYTES) transfer.machine.input({ type: 'reject', code: 'E_FILE_TOO_LARGE' });
    return transfer;
  }

  /**
   * A transfer journalled by an earlier run of this client (see tui/core/transfer/journal.ts),
   * rebuilt with the same id and certificates so the peer, which still runs it, accepts its
   * connections without any new exchange. It waits in `new` until {@link FileTransfer.resume}.
   * Throws E_CORRUPT_FILE when the state does not hold together (bad credentials, a partial
   * file that is not `<directory>/<name>.part`, a relative path).
   */
  static restore(state: TransferResumeState, options: TransferOptions): FileTransfer {
    const credentials = credentialsFromPem(state.credentials.key, state.credentials.cert);
    const transfer = new FileTransfer({ transferId: state.transferId, role: state.role, name: state.name, size: state.size }, options);
    if (state.role === 'sender') {
      const file = state.file;
      if (file === undefined || !path.isAbsolute(file.path) || path.basename(file.path) !== state.name) {
        throw new ChatError('E_CORRUPT_FILE', 'a restored sender needs the absolute path of its file');
      }
      transfer.file = { path: file.path, size: state.size, mtimeMs: file.mtimeMs, hash: state.hash };
    } else {
      const receive = state.receive;
      if (receive === undefined || !path.isAbsolute(receive.directory)) throw new ChatError('E_CORRUPT_FILE', 'a restored receiver needs its folder');
      let expectedPart: string;
      try {
        expectedPart = resolveInside(receive.directory, state.name) + PARTIAL_SUFFIX;
      } catch {
        throw new ChatError('E_CORRUPT_FILE', 'a restored receiver has a file name that is not a plain name');
      }
      if (receive.partPath !== expectedPart) throw new ChatError('E_CORRUPT_FILE', 'a restored partial file must be <folder>/<name>.part');
      transfer.directory = path.resolve(receive.directory);
      transfer.partPath = expectedPart;
      transfer.expectedHash = state.hash;
    }
    transfer.credentials = credentials;
    transfer.peerFingerprint = state.peerFingerprint;
    transfer.restoredFrom = state;
    return transfer;
  }

  /**
   * Restored transfer: checks what the earlier run left, then reconnects as after a break
   * (state `reconnecting`, fresh listener and candidates, the peer's last addresses and the
   * relay pipe dialled per the usual policy, E_PEER_GONE after RECONNECT_TIMEOUT_MS).
   * `precheck` runs first (the client checks the peer's key: E_KEY_CHANGED). A sender whose
   * file changed (size or mtime) fails with E_FILE_CHANGED; a receiver resumes from the bytes
   * in its partial file (re-hashed when the session opens it; recreated if it is gone) and
   * refuses one that is no longer a regular file (E_PATH_REFUSED). Never throws: a failure
   * ends the transfer with its code and the peer is told.
   */
  async resume(precheck?: () => Promise<void>): Promise<void> {
    const from = this.restoredFrom;
    if (from === null || this.machine.context.state !== 'new') throw new ChatError('E_TRANSFER_STATE', 'only a restored transfer resumes');
    let ackedBytes = Math.min(from.ackedBytes, this.size);
    try {
      await precheck?.();
      if (this.role === 'sender') {
        if (!(await fileUnchanged(this.file!))) throw new ChatError('E_FILE_CHANGED', `${this.file!.path} changed (or is gone) since the transfer started`);
      } else {
        const stat = await fs.lstat(this.partPath!).catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return null;
          throw new ChatError('E_PATH_REFUSED', `cannot read ${this.partPath}: ${error.message}`);
        });
        if (stat !== null && !stat.isFile()) throw new ChatError('E_PATH_REFUSED', `${this.partPath} is no longer a regular file`);
        // The worker empties a partial file longer than the offer; a missing one starts over.
        ackedBytes = stat === null || stat.size > this.size ? 0 : stat.size;
      }
    } catch (error) {
      const chatError = error instanceof ChatError ? error : new ChatError('E_INTERNAL', String(error));
      this.log(`cannot resume: ${chatError.code} ${chatError.message}`);
      if (this.machine.context.state === 'new') this.machine.input({ type: 'fail', code: chatError.code, message: chatError.message });
      return;
    }
    // Cancelled or suspended (the client is closing) while we looked.
    if (this.machine.context.state !== 'new' || this.released || this.machine.isHalted) return;
    if (this.role === 'receiver') this.sink = new FileSink(this.constants.WINDOW_BYTES);
    let candidates: Candidate[] = [];
    try {
      candidates = checkCandidates(from.peerCandidates, { allowLoopback: this.options.allowLoopbackCandidates, maxCandidates: this.constants.MAX_CANDIDATES });
    } catch {
      this.log('the journalled peer candidates are not valid; waiting for fresh ones');
    }
    this.meter.restart(ackedBytes, this.scheduler.now());
    this.log(`restored from the journal: resuming from byte ${ackedBytes} after ${from.sessions} session(s)`);
    this.machine.input({ type: 'restore', ackedBytes, sessions: from.sessions, candidates });
  }

  // ---- commands -----------------------------------------------------------------------------

  /**
   * Receiver: accepts into `directory`. Checks the folder and the free space, reserves
   * `<name>.part` (another free name when taken), then starts connecting. Throws
   * E_TRANSFER_STATE, E_PATH_REFUSED or E_NO_SPACE (the last two also decline the offer).
   */
  async accept(directory: string): Promise<void> {
    if (this.role !== 'receiver' || this.machine.context.state !== 'offered' || this.directory !== null) {
      throw new ChatError('E_TRANSFER_STATE');
    }
    const folder = path.resolve(directory);
    this.directory = folder;
    try {
      const stat = await fs.stat(folder).catch(() => null);
      if (stat === null || !stat.isDirectory()) throw new ChatError('E_PATH_REFUSED', `${directory} is not a folder`);
      const free = await (this.options.freeSpace ?? statfsFree)(folder);
      if (free < this.size) throw new ChatError('E_NO_SPACE', `${this.size} bytes needed, ${free} free in ${directory}`);
      this.partPath = await this.reservePartialFile(folder);
      this.credentials = await createTransferCredentials();
    } catch (error) {
      const chatError = error instanceof ChatError ? error : new ChatError('E_PATH_REFUSED', String(error));
      const code: RejectCode = (REJECT_CODES as readonly string[]).includes(chatError.code) ? (chatError.code as RejectCode) : 'E_PATH_REFUSED';
      this.machine.input({ type: 'reject', code });
      throw chatError;
    }
    if (this.machine.context.state !== 'offered') {
      // Cancelled or timed out while we were preparing.
      await fs.rm(this.partPath, { force: true });
      throw new ChatError('E_TRANSFER_STATE');
    }
    this.sink = new FileSink(this.constants.WINDOW_BYTES);
    this.machine.input({ type: 'accept' });
  }

  /** Receiver: declines the offer. */
  reject(): void {
    if (this.role !== 'receiver' || this.machine.context.state !== 'offered') throw new ChatError('E_TRANSFER_STATE');
    this.machine.input({ type: 'reject' });
  }

  /** Either side: stops the transfer (E_CANCELLED); the receiver's partial file is removed. */
  cancel(): void {
    this.machine.input({ type: 'cancel', by: 'local' });
  }

  /**
   * Stops this transfer without ending it, for a process going away that journalled it:
   * nothing is said to the peer (it sees the connection break and waits to resume), the
   * receiver's partial file stays, every socket, listener, mapping and worker is released, and
   * `finished` resolves with state `suspended`. A later run restores it. Ended transfers are
   * left as they are.
   */
  suspend(): Promise<TransferResult> {
    if (!this.released && !this.machine.isHalted && !isTerminal(this.machine.context.state)) {
      this.machine.halt();
      void this.release(true);
    }
    return this.finished;
  }

  /**
   * What a later run needs to go on ({@link TransferResumeState}), or null while there is
   * nothing to resume: before the accept, and once the transfer ended or was suspended.
   */
  resumeState(): TransferResumeState | null {
    const context = this.machine.context;
    if (this.released || this.machine.isHalted) return null;
    // Restored and not resumed yet: still what the journal said.
    if (context.state === 'new' && this.restoredFrom !== null) return { ...this.restoredFrom };
    const running = ['connecting', 'transferring', 'reconnecting', 'verifying'].includes(context.state);
    if (!running || this.credentials === null || this.peerFingerprint === null) return null;
    const state: TransferResumeState = {
      transferId: this.transferId,
      role: this.role,
      name: this.name,
      size: this.size,
      hash: this.role === 'sender' ? this.file!.hash : this.expectedHash,
      credentials: { key: this.credentials.key, cert: this.credentials.cert },
      peerFingerprint: this.peerFingerprint,
      peerCandidates: context.peerCandidates.map((candidate) => ({ ...candidate })),
      sessions: context.sessions,
      ackedBytes: context.ackedBytes,
    };
    if (this.role === 'sender') {
      state.file = { path: this.file!.path, mtimeMs: this.file!.mtimeMs };
    } else {
      if (this.partPath === null || this.directory === null) return null;
      state.receive = { partPath: this.partPath, directory: this.directory };
    }
    return state;
  }

  /**
   * Feeds a message the other user sent (already decrypted and authenticated by the whisper
   * layer). Throws E_PROTOCOL for an invalid message; messages for other transfers or that
   * do not apply now are ignored.
   */
  handlePeerMessage(value: unknown): void {
    const message = parseTransferPeerMessage(value);
    if (message.transferId !== this.transferId) return;
    switch (message.t) {
      case 'file-offer':
        return;
      case 'file-accept':
        if (this.role !== 'sender' || this.machine.context.state !== 'offered') return;
        this.peerFingerprint = message.fingerprint;
        this.machine.input({ type: 'accept' });
        return;
      case 'file-reject':
        if (this.role !== 'sender') return;
        this.machine.input({ type: 'reject', code: message.code });
        return;
      case 'file-candidates': {
        const candidates = checkCandidates(message.candidates, {
          allowLoopback: this.options.allowLoopbackCandidates,
          maxCandidates: this.constants.MAX_CANDIDATES,
        });
        const before = this.machine.context.peerCandidates;
        this.machine.input({ type: 'candidates', candidates, final: message.final });
        if (this.machine.context.peerCandidates !== before) this.emitCheckpoint();
        return;
      }
      case 'file-cancel':
        this.machine.input({ type: 'cancel', by: 'peer', code: message.code });
        return;
    }
  }

  /**
   * Drops the current data connection on purpose; the transfer redials at once and resumes
   * from the last acknowledged byte on whichever path wins (after a network change, or to
   * leave the relay when a direct path may now work). No-op while no connection is up.
   */
  reconnect(): void {
    const winner = this.machine.context.winner;
    if (winner !== null) this.machine.input({ type: 'path-lost', connectionId: winner.id });
  }

  /** The relay says the other user left for good. */
  peerGone(): void {
    this.machine.input({ type: 'peer-gone' });
  }

  /** Sender: the file's base name. Receiver: the sanitized name it is saved under (`name (1).ext` when taken). */
  get name(): string {
    return this.fileName;
  }

  get state(): TransferStateName {
    return this.machine.context.state;
  }

  snapshot(): TransferSnapshot {
    const context = this.machine.context;
    const filePath = this.role === 'sender' ? (this.file?.path ?? null) : (this.finalPath ?? this.partPath);
    return {
      transferId: this.transferId,
      role: this.role,
      name: this.name,
      size: this.size,
      state: context.state,
      path: context.winner?.path ?? this.lastPath,
      progress: this.meter.snapshot(this.scheduler.now()),
      filePath,
      sessions: context.sessions,
      error: context.error,
      restored: this.restoredFrom !== null,
    };
  }

  // ---- effects ------------------------------------------------------------------------------

  private onEffect(effect: DriverEffect): void {
    switch (effect.type) {
      case 'send-peer':
        return this.sendPeer(effect.message, effect.code);
      case 'prepare':
        void this.prepare();
        return;
      case 'dial':
        return this.dialDirect(effect.connectionId, effect.candidate);
      case 'dial-relay':
        return this.dialRelay(effect.connectionId);
      case 'close':
        this.closeConnection(effect.connectionId);
        return;
      case 'start-session':
        this.startSession(effect.connectionId, effect.offset, effect.path);
        this.emitCheckpoint();
        return;
      case 'state':
        this.emit('state', this.snapshot());
        // Accepted (both sides agreed on everything): from now on the transfer can be resumed.
        if (effect.to === 'connecting') this.emitCheckpoint();
        return;
      case 'release':
        void this.release();
        return;
    }
  }

  private log(line: string): void {
    this.options.log?.(`[transfer ${this.transferId} ${this.role}] ${line}`);
  }

  private emitCheckpoint(): void {
    if (!this.released && !isTerminal(this.machine.context.state)) this.emit('checkpoint');
  }

  private sendPeer(kind: 'offer' | 'accept' | 'reject' | 'cancel', code?: ErrorCode): void {
    const transferId = this.transferId;
    let message: TransferPeerMessage;
    switch (kind) {
      case 'offer':
        message = {
          t: 'file-offer',
          transferId,
          name: this.name,
          size: this.size,
          hash: this.file!.hash,
          fingerprint: this.credentials!.fingerprint,
          ...(this.options.folder !== undefined ? { folder: { ...this.options.folder } } : {}),
        } satisfies TransferPeerMessageOf<'file-offer'>;
        break;
      case 'accept':
        message = { t: 'file-accept', transferId, fingerprint: this.credentials!.fingerprint };
        break;
      case 'reject':
        message = { t: 'file-reject', transferId, code: code as RejectCode | undefined };
        break;
      case 'cancel':
        message = { t: 'file-cancel', transferId, code: (ABORT_CODES as readonly string[]).includes(code ?? '') ? (code as AbortCode) : 'E_INTERNAL' };
        break;
    }
    if (message.t === 'file-cancel') this.abortOnDataConnection(message.code ?? 'E_CANCELLED');
    try {
      this.options.link.send(message);
    } catch (error) {
      // Offline: the peer learns by timeout; nothing else to do here.
      this.log(`could not send ${message.t}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * The data connection is the fastest way to tell the peer we stop: send `abort`, flush,
   * close. The connection leaves the table so `release` does not cut the flush short; it is
   * destroyed after a grace period in case the peer never reads.
   */
  private abortOnDataConnection(code: AbortCode): void {
    const id = this.session?.connectionId ?? this.machine.context.winner?.id;
    const connection = id === undefined ? undefined : this.connections.get(id);
    const channel = connection?.channel;
    if (connection === undefined || channel === null || channel === undefined || channel.isClosed) return;
    this.connections.delete(connection.id);
    this.session?.abort.abort();
    channel.setHandlers(null);
    channel.send({ t: 'abort', code });
    channel.end();
    setTimeout(() => channel.destroy(), 2_000).unref();
  }

  /** Listener + candidates; never blocks (mapping runs in the background). */
  private async prepare(): Promise<void> {
    const send = (candidates: Candidate[], final: boolean): void => {
      if (this.released) return;
      try {
        this.options.link.send({ t: 'file-candidates', transferId: this.transferId, candidates, final });
      } catch (error) {
        this.log(`could not send candidates: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    const host = this.options.listenHost ?? '::';
    if (host === false) {
      send([], true);
      return;
    }
    let port: number;
    try {
      // '::' also takes IPv4 (ipv6Only false); a host without IPv6 gets 0.0.0.0 instead.
      port = await this.listen(host).catch((error: unknown) => {
        if (this.options.listenHost !== undefined) throw error;
        return this.listen('0.0.0.0');
      });
    } catch (error) {
      this.log(`no listener (${error instanceof Error ? error.message : String(error)}); direct connections only outbound`);
      send([], true);
      return;
    }
    if (this.released) return;
    this.gathering = gatherCandidates({
      port,
      policy: this.options.localCandidates ?? 'interfaces',
      observedAddress: this.options.observedAddress,
      mapping:
        this.options.portMapping === false
          ? false
          : {
              ...(this.options.portMapping ?? {}),
              timeoutMs: this.constants.MAPPING_TIMEOUT_MS,
              ttlMs: this.constants.MAPPING_TTL_MS,
              description: this.options.portMapping?.description ?? 'securechat file transfer',
              log: (line) => this.log(line),
            },
      onCandidates: send,
    });
  }

  private listen(host: string): Promise<number> {
    const server = net.createServer((socket) => this.onInbound(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0, ipv6Only: false }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.log(`listener error: ${error.message}`));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private onInbound(socket: net.Socket): void {
    const pending = [...this.connections.values()].filter((c) => c.id.startsWith('in') && c.channel === null).length;
    if (this.released || pending >= this.constants.MAX_PENDING_INBOUND) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const id = `in${this.inboundNumber++}`;
    const remote = socket.remoteAddress ?? '';
    const connection: Connection = { id, path: privateOrLocal(remote) ? 'lan' : 'direct', abort: new AbortController(), stream: socket, channel: null };
    this.connections.set(id, connection);
    this.machine.input({ type: 'dial-started', connectionId: id, path: connection.path });
    if (this.machine.context.attempts[id] === undefined) {
      // The machine took no inbound connection in this state (and said close).
      return;
    }
    void this.handshake(connection, socket);
  }

  private dialDirect(id: string, candidate: Candidate): void {
    const connection: Connection = { id, path: candidate.kind === 'lan' || candidate.kind === 'loopback' ? 'lan' : 'direct', abort: new AbortController(), stream: null, channel: null };
    this.connections.set(id, connection);
    this.log(`${id}: dialling ${candidate.kind} ${candidate.host}:${candidate.port}`);
    const socket = net.connect({ host: candidate.host, port: candidate.port });
    connection.stream = socket;
    let connected = false;
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.constants.DIAL_TIMEOUT_MS);
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      void this.handshake(connection, socket);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (connected) return; // after connect, the handshake (or the session) reports
      this.log(`${id}: dial ${candidate.host}:${candidate.port} failed: ${error.message}`);
      this.connectionFailed(id);
    });
    socket.once('close', () => clearTimeout(timer));
  }

  private dialRelay(id: string): void {
    this.log(`${id}: dialling the relay pipe`);
    const connection: Connection = { id, path: 'relay', abort: new AbortController(), stream: null, channel: null };
    this.connections.set(id, connection);
    const dial = this.options.link.dialRelay;
    if (dial === undefined) {
      queueMicrotask(() => this.connectionFailed(id));
      return;
    }
    dial(this.transferId, connection.abort.signal).then(
      (stream) => {
        if (connection.abort.signal.aborted || this.connections.get(id) !== connection) {
          stream.destroy();
          return;
        }
        connection.stream = stream;
        void this.handshake(connection, stream);
      },
      (error: unknown) => {
        this.log(`relay pipe failed: ${error instanceof Error ? error.message : String(error)}`);
        this.connectionFailed(id);
      },
    );
  }

  /** TLS with the expected certificate; the receiver then waits for the leader's `go`. */
  private async handshake(connection: Connection, stream: Duplex): Promise<void> {
    if (this.credentials === null || this.peerFingerprint === null) {
      stream.destroy();
      this.connectionFailed(connection.id);
      return;
    }
    try {
      const socket = await openSecureChannel(stream, {
        role: this.role,
        credentials: this.credentials,
        peerFingerprint: this.peerFingerprint,
        timeoutMs: this.constants.HANDSHAKE_TIMEOUT_MS,
        signal: connection.abort.signal,
      });
      if (this.connections.get(connection.id) !== connection || connection.abort.signal.aborted) {
        socket.destroy();
        return;
      }
      const channel = new FramedChannel(socket, this.constants.CHUNK_BYTES);
      connection.channel = channel;
      // The sender's name for the path wins, so both ends say the same.
      if (this.role === 'receiver') connection.path = (await this.waitForGo(channel)) ?? connection.path;
    } catch (error) {
      this.log(`connection ${connection.id} (${connection.path}) failed: ${error instanceof ChatError ? error.code : String(error)}`);
      connection.channel?.destroy();
      stream.destroy();
      this.connectionFailed(connection.id);
      return;
    }
    if (this.connections.get(connection.id) !== connection) return;
    this.machine.input({ type: 'handshake-ok', connectionId: connection.id, ...(this.role === 'receiver' ? { path: connection.path } : {}) });
  }

  /** Resolves with the sender's name for the path (undefined from an older sender). */
  private waitForGo(channel: FramedChannel): Promise<PathKind | undefined> {
    return new Promise((resolve, reject) => {
      let path: PathKind | undefined;
      const timer = setTimeout(() => {
        channel.setHandlers(null);
        reject(new ChatError('E_HANDSHAKE_TIMEOUT', 'no go from the sender'));
      }, this.constants.HANDSHAKE_TIMEOUT_MS);
      const stop = (error: ChatError | null): void => {
        clearTimeout(timer);
        channel.setHandlers(null);
        if (error === null) resolve(path);
        else reject(error);
      };
      channel.setHandlers({
        onMessage: (message) => {
          if (message.t === 'go' && message.transferId === this.transferId) {
            path = message.path;
            stop(null);
          }
          else stop(new ChatError('E_PROTOCOL', `expected go, got ${message.t}`));
        },
        onData: () => stop(new ChatError('E_PROTOCOL', 'data before go')),
        onClose: (error) => stop(error ?? new ChatError('E_CLOSED')),
      });
    });
  }

  private connectionFailed(id: string): void {
    if (this.closeConnection(id)) this.machine.input({ type: 'dial-failed', connectionId: id });
  }

  /** Stops a connection attempt or connection; false if there was none by that id. */
  private closeConnection(id: string): boolean {
    const connection = this.connections.get(id);
    if (connection === undefined) return false;
    this.connections.delete(id);
    connection.abort.abort();
    connection.channel?.destroy();
    connection.stream?.destroy();
    return true;
  }

  // ---- sessions -----------------------------------------------------------------------------

  private startSession(connectionId: string, offset: number, pathKind: PathKind): void {
    const connection = this.connections.get(connectionId);
    const channel = connection?.channel ?? null;
    if (connection === undefined || channel === null || channel.isClosed) {
      queueMicrotask(() => this.machine.input({ type: 'path-lost', connectionId }));
      return;
    }
    this.session?.abort.abort();
    const abort = new AbortController();
    this.session = { connectionId, abort };
    this.lastPath = pathKind;
    this.meter.restart(offset, this.scheduler.now());
    this.log(`session ${this.machine.context.sessions} on ${connectionId} (${pathKind}) from byte ${offset}`);
    this.emit('session', { connectionId, path: pathKind, offset });

    let result: Promise<SessionResult>;
    if (this.role === 'sender') {
      channel.send({ t: 'go', transferId: this.transferId, path: pathKind });
      result = runSenderSession({
        channel,
        file: this.file!,
        constants: this.constants,
        onAcked: (bytes) => this.onBytes(bytes),
        signal: abort.signal,
        rehash: (file) => hashFile(file.path, { end: file.size }),
      });
    } else {
      result = runReceiverSession({
        channel,
        sink: this.sink!,
        partPath: this.partPath!,
        size: this.size,
        expectedHash: this.expectedHash,
        constants: this.constants,
        onWritten: (bytes) => this.onBytes(bytes),
        finalize: () => this.finalize(),
        signal: abort.signal,
      });
    }
    void result.then((outcome) => this.onSessionResult(connectionId, outcome));
  }

  private onSessionResult(connectionId: string, outcome: SessionResult): void {
    if (this.session?.connectionId === connectionId) this.session = null;
    this.log(`session on ${connectionId} ended: ${outcome.kind}${outcome.kind === 'failed' ? ` ${outcome.code}` : ''}`);
    switch (outcome.kind) {
      case 'complete':
        this.machine.input({ type: 'complete' });
        return;
      case 'lost':
        // The receiver may have finished (renamed) just as the connection broke.
        if (this.finalPath !== null) this.machine.input({ type: 'complete' });
        else this.machine.input({ type: 'path-lost', connectionId });
        return;
      case 'failed':
        if (outcome.code === 'E_HASH_MISMATCH') this.machine.input({ type: 'hash-mismatch' });
        else if (outcome.code === 'E_FILE_CHANGED') this.machine.input({ type: 'file-changed' });
        else if (outcome.fromPeer) this.machine.input({ type: 'cancel', by: 'peer', code: outcome.code as never });
        else this.machine.input({ type: 'fail', code: outcome.code, message: outcome.message });
        return;
    }
  }

  private onBytes(bytes: number): void {
    this.machine.input({ type: 'chunk-acked', offset: bytes });
    const now = this.scheduler.now();
    const progress = this.meter.update(this.machine.context.ackedBytes, now);
    if (now - this.lastProgressAtMs >= this.constants.PROGRESS_INTERVAL_MS || progress.bytes === this.size) {
      this.lastProgressAtMs = now;
      this.emit('progress', progress);
    }
  }

  /** Receiver: reserves `<name>.part` beside a free `<name>`, trying `name (1).ext`... */
  private async reservePartialFile(folder: string): Promise<string> {
    for (const name of alternativeNames(this.name)) {
      const finalPath = resolveInside(folder, name);
      const partPath = finalPath + PARTIAL_SUFFIX;
      const taken = await fs.stat(finalPath).then(() => true, () => false);
      if (taken) continue;
      try {
        const handle = await fs.open(partPath, 'wx', 0o600);
        await handle.close();
        this.fileName = name;
        return partPath;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw new ChatError('E_PATH_REFUSED', `cannot create ${partPath}: ${(error as Error).message}`);
      }
    }
    throw new ChatError('E_PATH_REFUSED', `no free name for ${this.name} in ${folder}`);
  }

  /** Receiver: the hash matched; move the partial file into place without replacing anything. */
  private async finalize(): Promise<void> {
    this.finalPath = await moveIntoPlace(this.partPath!, this.directory!, this.name);
  }

  // ---- the end ------------------------------------------------------------------------------

  private async release(suspended = false): Promise<void> {
    if (this.released) return;
    this.released = true;
    const context = this.machine.context;
    this.session?.abort.abort();
    this.session = null;
    for (const id of [...this.connections.keys()]) this.closeConnection(id);
    const server = this.server;
    this.server = null;
    const closing = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([closing, this.gathering?.release()]);
    await this.sink?.terminate();
    let filePath: string | undefined;
    if (suspended) {
      filePath = (this.role === 'receiver' ? this.partPath : this.file?.path) ?? undefined;
    } else if (this.role === 'receiver') {
      if (context.state === 'completed') {
        filePath = this.finalPath ?? undefined;
      } else if (this.partPath !== null && (context.state === 'cancelled' || context.state === 'rejected')) {
        // The user asked to stop: the partial file goes. Any other failure keeps it.
        await fs.rm(this.partPath, { force: true });
      } else if (this.partPath !== null) {
        filePath = this.partPath;
      }
    } else {
      filePath = this.file?.path;
    }
    const state = context.state;
    const result: TransferResult = {
      state: suspended ? 'suspended' : isTerminal(state) ? (state as TransferResult['state']) : 'failed',
      ...(context.error !== null ? { code: context.error.code, message: context.error.message } : {}),
      ...(filePath !== undefined ? { filePath } : {}),
    };
    this.emit('finished', result);
    this.resolveFinished(result);
  }
}
