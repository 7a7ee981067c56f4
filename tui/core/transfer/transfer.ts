import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError, type ErrorCode } from '../../../shared/errors.js';
import { sanitizeFileName } from '../../../shared/filename.js';
import { type Candidate, type PathKind, checkCandidates } from './candidates.js';
import { type TransferConstants, resolveTransferConstants } from './constants.js';
import { type TransferCredentials, createTransferCredentials, credentialsFromPem } from './credentials.js';
import { DataConnections } from './data-connections.js';
import { FileSink } from './file-sink.js';
import { checkSaveFolder, openSenderFile, partialFileOffset, reservePartialFile, restoredLocalFile } from './local-file.js';
import { type DriverEffect, TransferMachine } from './machine.js';
import { moveIntoPlace } from './place-file.js';
import { ProgressMeter } from './progress.js';
import { type Scheduler, systemScheduler } from './scheduler.js';
import { SessionRunner } from './session-runner.js';
import { type SenderFile, fileUnchanged } from './sessions.js';
import { type TransferRole, type TransferStateName, isTerminal } from './state-machine.js';
import type { TransferEvents, TransferOptions, TransferResult, TransferResumeState, TransferSnapshot } from './transfer-types.js';
import {
  ABORT_CODES,
  type AbortCode,
  REJECT_CODES,
  type RejectCode,
  type TransferPeerMessage,
  type TransferPeerMessageOf,
  parseTransferPeerMessage,
} from './wire.js';

export type { TransferEvents, TransferLink, TransferOptions, TransferResult, TransferResumeState, TransferSnapshot } from './transfer-types.js';

/** A transfer id: 16 URL-safe characters (96 random bits). */
export function newTransferId(): string {
  return randomBytes(12).toString('base64url');
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
  private readonly links: DataConnections;
  private credentials: TransferCredentials | null = null;
  private peerFingerprint: string | null = null;
  private readonly runner: SessionRunner;
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
    this.links = new DataConnections({
      transferId: init.transferId,
      role: init.role,
      constants: this.constants,
      options,
      identity: () => (this.credentials !== null && this.peerFingerprint !== null ? { credentials: this.credentials, peerFingerprint: this.peerFingerprint } : null),
      input: (input) => this.machine.input(input),
      hasAttempt: (id) => this.machine.context.attempts[id] !== undefined,
      isReleased: () => this.released,
      log: (line) => this.log(line),
    });
    this.runner = new SessionRunner({
      transferId: init.transferId,
      role: init.role,
      constants: this.constants,
      input: (input) => this.machine.input(input),
      senderFile: () => this.file!,
      receiver: () => ({
        sink: this.sink!,
        partPath: this.partPath!,
        size: this.size,
        expectedHash: this.expectedHash,
        finalize: () => this.finalize(),
        finalized: () => this.finalPath !== null,
      }),
      hashKnown: (hash) => {
        if (this.role === 'sender') this.file!.hash = hash;
        else this.expectedHash = hash;
      },
      onBytes: (bytes) => this.onBytes(bytes),
      log: (line) => this.log(line),
    });
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
   * Sender: checks the file, makes this transfer's TLS identity and sends the offer (without
   * a hash: the sessions hash while sending and give it in `end`). Throws E_FILE_UNREADABLE
   * (missing, not a regular file, unreadable).
   */
  static async send(filePath: string, options: TransferOptions & { transferId?: string; signal?: AbortSignal }): Promise<FileTransfer> {
    const file = await openSenderFile(filePath, options.signal);
    const transfer = new FileTransfer(
      { transferId: options.transferId ?? newTransferId(), role: 'sender', name: path.basename(file.path), size: file.size },
      options,
    );
    transfer.file = file;
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
    transfer.expectedHash = message.hash ?? '';
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
    const local = restoredLocalFile(state);
    if ('file' in local) {
      transfer.file = local.file;
    } else {
      transfer.directory = local.directory;
      transfer.partPath = local.partPath;
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
        ackedBytes = await partialFileOffset(this.partPath!, this.size);
      }
    } catch (error) {
      const chatError = error instanceof ChatError ? error : new ChatError('E_INTERNAL', String(error));
      this.log(`cannot resume: ${chatError.code} ${chatError.message}`);
      if (this.machine.context.state === 'new') this.machine.input({ type: 'fail', code: chatError.code, message: chatError.message });
      return;
    }
    // Cancelled or suspended (the client is closing) while we looked.
    if (this.machine.context.state !== 'new' || this.released || this.machine.isHalted) return;
    if (this.role === 'receiver') this.sink = new FileSink(ringBytes(this.constants));
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
      await checkSaveFolder(folder, this.size, this.options.freeSpace, directory);
      const reserved = await reservePartialFile(folder, this.name);
      this.fileName = reserved.name;
      this.partPath = reserved.partPath;
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
    this.sink = new FileSink(ringBytes(this.constants));
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

  /**
   * The whole file's hash (file-hash.ts), hex, once known: the sender's after it hashed the
   * last byte it sent, the receiver's once the file on disk matched it; '' before (an older
   * sender's offer carried it from the start).
   */
  get hash(): string {
    return this.role === 'sender' ? (this.file?.hash ?? '') : this.expectedHash;
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
        void this.links.prepare();
        return;
      case 'dial':
        return this.links.dialDirect(effect.connectionId, effect.candidate);
      case 'dial-relay':
        return this.links.dialRelay(effect.connectionId);
      case 'close':
        this.links.closeConnection(effect.connectionId);
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
          ...(this.file!.hash !== '' ? { hash: this.file!.hash } : {}),
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

  /** Tells the peer on the data connection too (quicker than the signal), then lets it go. */
  private abortOnDataConnection(code: AbortCode): void {
    const id = this.runner.connectionId ?? this.machine.context.winner?.id;
    const connection = id === undefined ? undefined : this.links.get(id);
    if (connection === undefined || connection.channel === null || connection.channel.isClosed) return;
    this.links.take(connection.id);
    this.runner.abortOn(connection.channel, code);
  }

  // ---- sessions -----------------------------------------------------------------------------

  private startSession(connectionId: string, offset: number, pathKind: PathKind): void {
    const channel = this.links.get(connectionId)?.channel ?? null;
    if (channel === null || channel.isClosed) {
      queueMicrotask(() => this.machine.input({ type: 'path-lost', connectionId }));
      return;
    }
    this.runner.stop();
    this.lastPath = pathKind;
    this.meter.restart(offset, this.scheduler.now());
    this.log(`session ${this.machine.context.sessions} on ${connectionId} (${pathKind}) from byte ${offset}`);
    this.emit('session', { connectionId, path: pathKind, offset });
    this.runner.start(connectionId, channel, offset, pathKind);
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

  /** Receiver: the hash matched; move the partial file into place without replacing anything. */
  private async finalize(): Promise<void> {
    this.finalPath = await moveIntoPlace(this.partPath!, this.directory!, this.name);
  }

  // ---- the end ------------------------------------------------------------------------------

  private async release(suspended = false): Promise<void> {
    if (this.released) return;
    this.released = true;
    const context = this.machine.context;
    this.runner.stop();
    await this.links.closeAll();
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

/** The receiver's ring (constants.ts RING_BYTES): never more than one window, which would never fill it. */
function ringBytes(constants: TransferConstants): number {
  return Math.min(constants.RING_BYTES, constants.WINDOW_BYTES);
}
