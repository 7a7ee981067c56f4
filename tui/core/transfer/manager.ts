import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { ChatError, PEER_GONE_CODES } from '../../../shared/errors.js';
import { CLIENT_DEFAULTS } from '../../../shared/limits.js';
import { nameKey, validateUserName } from '../../../shared/names.js';
import type { ChatEvent } from '../events.js';
import { walkFolder } from './folder-manifest.js';
import { FolderTransfers } from './folders.js';
import type { PeerKeys, TransferJournal, TransferJournalRecord } from './journal.js';
import { JournalKeeper } from './journal-keeper.js';
import { defaultDownloadDir, expandPath } from './local-paths.js';
import { FileTransfer, type TransferOptions, type TransferResult } from './transfer.js';
import { type Entry, type RestoredFrom, type TransferDirection, type TransferInfo, endEvent, newEntry, progressEvent, sessionStarted, stateEvent, transferInfo } from './transfer-entry.js';
import { ABORT_CODES, type AbortCode, parseTransferPeerMessage, type TransferPeerMessage, type TransferPeerMessageOf } from './wire.js';

export { defaultDownloadDir, expandPath } from './local-paths.js';
export type { TransferDirection, TransferInfo } from './transfer-entry.js';

/**
 * The client's file transfers: `/send`, `/accept`, `/reject`, `/cancel`, `/transfers`, and
 * the routing of the peers' sealed signals to the right `FileTransfer` (tui/core/transfer).
 * Knows nothing of sockets or crypto: the ChatClient provides both through {@link TransferHost}
 * (signals sealed with the whisper layer; the relay pipe on its own verified connection).
 */
export interface TransferHost {
  /** This user's name (as the relay spells it). */
  user(): string;
  /** Users in the current room. */
  roomUsers(): readonly string[];
  /** Throws unless `to`'s key can be used now (E_NO_KEY, E_KEY_CHANGED, E_NO_SUCH_USER, E_CLOSED). */
  checkRecipient(to: string): Promise<void>;
  /** Seals `message` end to end for `to` and hands it to the relay; resolves when the relay took it. */
  sendSignal(to: string, message: TransferPeerMessage): Promise<void>;
  /** Opens this transfer's relay pipe with `peer` (resolves once the relay joined both sides). */
  openPipe(transferId: string, peer: string, signal: AbortSignal): Promise<Duplex>;
  /** Our address as the relay sees it (from its welcome), if it said. */
  observedAddress(): string | undefined;
  /**
   * `user`'s pinned public keys (base64), if any: recorded in the journal, compared after a
   * restart. Absent: transfers are not journalled.
   */
  peerKeys?(user: string): PeerKeys | undefined;
  emit(event: ChatEvent): void;
}

export interface ClientTransferOptions {
  /**
   * `false`: never connect to the peer directly (no listener, the peer's addresses are not
   * dialled); everything goes through the relay pipe. For tests and hostile networks.
   * Default true (with port mapping, which never blocks chat).
   */
  direct?: boolean;
  /**
   * Why direct connections are off, when a reason must be told: 'proxy' (the client reaches
   * the relay through a SOCKS5 proxy, and its own addresses must not be revealed). Then every
   * transfer-state event carries `relayOnly: 'proxy'`. Only read when `direct` is false.
   */
  relayOnlyBecause?: 'proxy';
  /** Where `/accept ID` saves without a DIR; default ~/Downloads when it exists, else the working folder. */
  downloadDir?: string;
  /** Passed to every FileTransfer (tests: loopback candidates, no port mapping, shorter timers). */
  transfer?: Partial<Omit<TransferOptions, 'link'>>;
  /** Incoming offers waiting for an answer at once; more are declined. Default 32. */
  maxPendingOffers?: number;
  /** Finished transfers kept for /transfers. Default 50. */
  maxFinished?: number;
}

export class TransferManager {
  private readonly entries = new Map<string, Entry>();
  private readonly folders: FolderTransfers;
  private readonly direct: boolean;
  private readonly maxPendingOffers: number;
  private readonly maxFinished: number;
  private idleWaiters: Array<() => void> = [];
  private readonly keeper: JournalKeeper;
  /** closeAll or suspendAll ran: nothing more is restored (the records stay for the next run). */
  private stopped = false;

  /**
   * @param journal where running transfers are recorded so that a restarted client can resume
   *   them ({@link restoreJournal}); null: transfers end with the process.
   */
  constructor(
    private readonly host: TransferHost,
    private readonly options: ClientTransferOptions = {},
    journal: TransferJournal | null = null,
  ) {
    this.direct = options.direct !== false;
    this.maxPendingOffers = options.maxPendingOffers ?? CLIENT_DEFAULTS.maxPendingOffers;
    this.maxFinished = options.maxFinished ?? CLIENT_DEFAULTS.maxFinishedTransfers;
    this.keeper = new JournalKeeper(
      {
        peerKeys: host.peerKeys?.bind(host),
        checkRecipient: (user) => this.host.checkRecipient(user),
        emit: (event) => this.host.emit(event),
        restore: (record, precheck) => this.restoreOne(record, precheck),
        restoreFolder: (record, precheck) => this.folders.restore(record, precheck),
        stopped: () => this.stopped,
      },
      journal,
    );
    this.folders = new FolderTransfers({
      sendSignal: (peer, message) => this.host.sendSignal(peer, message),
      emit: (event) => this.host.emit(event),
      sendChild: async (peer, file, folder) => {
        const info = await this.sendOne(peer, file, folder);
        return { transfer: this.get(info.id)!, hash: info.hash };
      },
      receiveChild: (peer, offer, directory) => this.receiveChild(peer, offer, directory),
      restoredChild: (id) => {
        const entry = this.entries.get(id);
        return entry !== undefined && entry.restored && entry.finishedAt === null ? entry.transfer : undefined;
      },
      downloadDir: () => this.downloadDir,
      ended: () => this.wakeIdleWaiters(),
      ...(this.keeper.enabled
        ? { journal: { pinOf: (peer: string) => this.keeper.pinOf(peer), save: this.keeper.saveFolder.bind(this.keeper), forget: (id: string) => this.keeper.forgetFolder(id) } }
        : {}),
    });
  }

  /**
   * After a restart: loads the journal and resumes every transfer in it (state `reconnecting`,
   * `restored: true` in its events and in /transfers). A record that cannot be used is
   * reported as an `error` event (E_CORRUPT_FILE, `details.path`) and skipped. Runs once per
   * manager; call it once logged in (the peer's keys are checked against the pin first:
   * E_KEY_CHANGED when they changed). Never rejects.
   */
  restoreJournal(): Promise<void> {
    return this.keeper.restoreAll();
  }

  /** One journal record as a transfer, resumed (see JournalKeeper); null when known already. */
  private restoreOne(record: TransferJournalRecord, precheck: () => Promise<void>): Entry | null {
    if (this.entries.has(record.transferId)) return null;
    // Direct off: the peer's addresses are never dialled (as in handleSignal).
    const state = this.direct ? record : { ...record, peerCandidates: [] };
    const transfer = FileTransfer.restore(state, this.transferOptions(this.linkFor(record.peer)));
    const entry = this.add(transfer, record.role === 'sender' ? 'out' : 'in', record.peer, record.hash, { restored: true, peerKeys: record.peerKeys });
    if (record.folder !== undefined) entry.folder = record.folder;
    transfer.resume(precheck).catch(() => undefined); // never rejects for a restored transfer
    return entry;
  }

  /** One file of an accepted folder: taken and accepted at once, no `transfer-offer` asked. */
  private async receiveChild(peer: string, offer: TransferPeerMessageOf<'file-offer'>, directory: string): Promise<FileTransfer> {
    const transfer = FileTransfer.receive(offer, this.transferOptions(this.linkFor(peer)));
    const entry = this.add(transfer, 'in', peer, offer.hash ?? '');
    entry.folder = offer.folder?.id;
    if (transfer.state !== 'offered') {
      this.emitState(entry);
      return transfer;
    }
    await transfer.accept(directory);
    this.emitState(entry);
    return transfer;
  }

  /** Where /accept saves without a DIR. */
  get downloadDir(): string {
    return this.options.downloadDir ?? defaultDownloadDir();
  }

  // ---- commands ---------------------------------------------------------------------------

  /**
   * `/send USER PATH`: offers the file to `to` (who must be in the room); it is hashed while sent.
   * Resolves once the offer was handed to the relay. Throws E_SELF, E_NOT_IN_ROOM,
   * E_FILE_UNREADABLE, E_FILE_CHANGED, the whisper layer's E_NO_KEY / E_KEY_CHANGED, or the
   * relay's code for the offer.
   */
  async send(to: string, file: string): Promise<TransferInfo> {
    validateUserName(to);
    const peerKey = nameKey(to);
    if (peerKey === nameKey(this.host.user())) throw new ChatError('E_SELF', 'you cannot send a file to yourself');
    const peer = this.host.roomUsers().find((u) => nameKey(u) === peerKey);
    if (peer === undefined) throw new ChatError('E_NOT_IN_ROOM', `${to} is not in your room`);
    await this.host.checkRecipient(peer);
    const local = expandPath(file);
    if ((await fs.promises.lstat(local).catch(() => null))?.isDirectory() === true) return this.sendFolder(peer, local);
    return this.sendOne(peer, local);
  }

  /** A folder: walked (no link followed), offered whole, then its files one by one (folders.ts). */
  private async sendFolder(peer: string, local: string): Promise<TransferInfo> {
    const offer = await this.folders.send(peer, await walkFolder(local));
    return this.folders.info(offer.id);
  }

  private async sendOne(peer: string, file: string, folder?: { id: string; index: number; path: string }): Promise<TransferInfo> {
    let offerSent: Promise<void> | null = null;
    let hash = '';
    const link = this.linkFor(peer, (sending, message) => {
      if (message.t !== 'file-offer') return;
      offerSent = sending;
      hash = message.hash ?? '';
    });
    const transfer = await FileTransfer.send(file, { ...this.transferOptions(link), ...(folder !== undefined ? { folder } : {}) });
    const entry = this.add(transfer, 'out', peer, hash);
    if (folder !== undefined) entry.folder = folder.id;
    // The core said `offered` before we listened: say it now.
    this.emitState(entry);
    try {
      await (offerSent ?? Promise.resolve());
    } catch (error) {
      transfer.cancel();
      throw error;
    }
    return transferInfo(entry);
  }

  /** `/accept ID [DIR]`: saves into DIR (default {@link downloadDir}). E_NO_SUCH_TRANSFER, E_TRANSFER_STATE, E_PATH_REFUSED, E_NO_SPACE. */
  async accept(id: string, directory?: string): Promise<TransferInfo> {
    const folderId = this.findFolder(id);
    if (folderId !== null) {
      await this.folders.accept(folderId, directory !== undefined ? expandPath(directory) : undefined);
      return this.folders.info(folderId);
    }
    const entry = this.find(id);
    if (entry.direction !== 'in') throw new ChatError('E_TRANSFER_STATE', 'only an offer you received can be accepted');
    await entry.transfer.accept(directory !== undefined ? expandPath(directory) : this.downloadDir);
    const info = transferInfo(entry);
    this.emitState(entry);
    return info;
  }

  /** `/reject ID`: declines an offer. */
  reject(id: string): TransferInfo {
    const folderId = this.findFolder(id);
    if (folderId !== null) {
      this.folders.reject(folderId);
      return this.folders.info(folderId);
    }
    const entry = this.find(id);
    if (entry.direction !== 'in') throw new ChatError('E_TRANSFER_STATE', 'only an offer you received can be rejected; /cancel stops your own');
    entry.transfer.reject();
    return transferInfo(entry);
  }

  /** `/cancel ID`: stops a transfer either way (the receiver's partial file is removed). */
  cancel(id: string): TransferInfo {
    const folderId = this.findFolder(id);
    if (folderId !== null) {
      this.folders.cancel(folderId);
      return this.folders.info(folderId);
    }
    const entry = this.find(id);
    if (entry.finishedAt !== null) throw new ChatError('E_TRANSFER_STATE', 'that transfer has ended already');
    entry.transfer.cancel();
    return transferInfo(entry);
  }

  /** Every transfer known (running first, then the finished ones kept), oldest first within each. */
  list(): TransferInfo[] {
    const all = [...this.entries.values()];
    // Folders first (each one's files follow among the transfers, with their own rows).
    return [...this.folders.list(), ...[...all.filter((e) => e.finishedAt === null), ...all.filter((e) => e.finishedAt !== null)].map((e) => transferInfo(e))];
  }

  /** A running transfer by id (or an unambiguous prefix of at least 4 characters). */
  get(id: string): FileTransfer | undefined {
    try {
      return this.find(id).transfer;
    } catch {
      return undefined;
    }
  }

  /** Transfers still running, incoming offers not yet answered excluded. */
  get activeCount(): number {
    let n = 0;
    for (const entry of this.entries.values()) {
      if (entry.finishedAt === null && !(entry.direction === 'in' && entry.transfer.state === 'offered')) n += 1;
    }
    return n + this.folders.activeCount;
  }

  /** Resolves once no transfer is running (offers waiting for an answer do not count). */
  whenIdle(): Promise<void> {
    if (this.activeCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels everything still running (the peers are told) and waits until all is released. */
  async closeAll(): Promise<void> {
    this.stopped = true;
    this.folders.cancelAll();
    const running = [...this.entries.values()].filter((e) => e.finishedAt === null);
    for (const entry of running) {
      try {
        entry.transfer.cancel();
      } catch {
        // already ending
      }
    }
    // Releasing is quick (sockets, a listener, a worker); a port mapping being removed may take
    // a few seconds, and must not hold up closing the client beyond that.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(running.map((e) => e.transfer.finished)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLIENT_DEFAULTS.transferCloseWaitMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * For a process going away that will be started again: transfers past the accept are
   * suspended (journal record updated and kept, the receiver's partial file kept, the peer
   * NOT told: it sees the connection break and waits to resume, up to RECONNECT_TIMEOUT_MS),
   * and the next client on this data folder resumes them after login. Offers not yet
   * answered cannot survive and are cancelled as in {@link closeAll}. Waits until all is released.
   */
  async suspendAll(): Promise<void> {
    this.stopped = true;
    // Folders first: each one is marked suspended (synchronously) before its file under way
    // is; their records are written meanwhile. Awaiting those writes first let the files run
    // on at full speed for as long as the writes took (a whole 24 MB file in a test, a file
    // then finished that its suspended folder never counted).
    const foldersSuspended = this.folders.suspendAll();
    const running = [...this.entries.values()].filter((e) => e.finishedAt === null);
    const suspending: Promise<unknown>[] = [];
    for (const entry of running) {
      // A transfer whose record could not be written would be lost: better to tell the peer.
      if (this.keeper.enabled && !entry.journalFailed && entry.transfer.resumeState() !== null && this.keeper.checkpoint(entry)) {
        // Halted synchronously: nothing more is sent or received from here on.
        suspending.push(entry.transfer.suspend());
      } else if (entry.folder !== undefined && this.folders.isSuspended(entry.folder)) {
        // A suspended folder's file not agreed yet: stopped without a word (a cancel would end
        // the folder on the other side); the next run offers it again (folders.ts).
        suspending.push(entry.transfer.suspend());
      } else {
        try {
          entry.transfer.cancel();
        } catch {
          // already ending
        }
        suspending.push(entry.transfer.finished);
      }
    }
    await foldersSuspended;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(suspending),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CLIENT_DEFAULTS.transferCloseWaitMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    await this.keeper.idle();
  }

  /** Resolves once every journal write and delete queued so far is done (shutdown, tests). */
  async journalSettled(): Promise<void> {
    await this.keeper.idle();
  }

  // ---- signals from the peers -------------------------------------------------------------

  /**
   * A signal from `from`, opened and authenticated by the whisper layer. A `file-offer`
   * makes a new incoming transfer; anything else goes to the transfer of that id, if `from`
   * is its peer. Everything else is dropped.
   */
  handleSignal(from: string, value: unknown): void {
    const message = parseTransferPeerMessage(value);
    const restoringNow = this.keeper.restoringNow();
    if (restoringNow !== null && this.mayBeRestoring(message)) {
      // For a folder the journal is about to restore: look again once it has.
      this.handleAfter(restoringNow, from, value);
      return;
    }
    if (this.folders.handleSignal(from, message)) return;
    if (message.t === 'file-offer' && message.folder !== undefined && !this.entries.has(message.transferId)) {
      // One file of a folder we accepted (then accepted at once), or declined: never asked about.
      if (!this.folders.fileOffered(from, message)) void this.host.sendSignal(from, { t: 'file-reject', transferId: message.transferId, code: 'E_REJECTED' }).catch(() => undefined);
      return;
    }
    const known = this.entries.get(message.transferId);
    const restoring = this.keeper.restoringNow();
    if (known === undefined && message.t !== 'file-offer' && restoring !== null) {
      // It may be for a transfer the journal is about to restore: look again once it has.
      this.handleAfter(restoring, from, value);
      return;
    }
    if (known !== undefined) {
      // Only the transfer's own peer may speak for it.
      if (known.peerKey !== nameKey(from)) return;
      if (known.finishedAt !== null) {
        this.answerLate(known, message);
        return;
      }
      // Direct off: the peer's addresses are never dialled (everything through the relay).
      const forwarded = !this.direct && message.t === 'file-candidates' ? { ...message, candidates: [] } : message;
      known.transfer.handlePeerMessage(forwarded);
      return;
    }
    if (message.t !== 'file-offer') return;
    const waiting = [...this.entries.values()].filter((e) => e.direction === 'in' && e.finishedAt === null && e.transfer.state === 'offered').length;
    if (waiting >= this.maxPendingOffers) {
      void this.host.sendSignal(from, { t: 'file-reject', transferId: message.transferId, code: 'E_REJECTED' }).catch(() => undefined);
      this.host.emit({
        type: 'error',
        code: 'E_FLOOD',
        message: `an offer from ${from} was declined: ${waiting} offers are waiting for an answer already`,
        details: { from, transfer: message.transferId },
      });
      return;
    }
    const transfer = FileTransfer.receive(message, this.transferOptions(this.linkFor(from)));
    const entry = this.add(transfer, 'in', from, message.hash ?? '');
    this.host.emit({
      type: 'transfer-offer',
      id: transfer.transferId,
      from,
      name: transfer.name,
      size: transfer.size,
      hash: message.hash ?? '',
    });
    if (transfer.state !== 'offered') this.emitState(entry);
  }

  // ---- internals --------------------------------------------------------------------------

  /** Handles a signal once `restoring` (the journal) is done. */
  private handleAfter(restoring: Promise<void>, from: string, value: unknown): void {
    void restoring.then(() => {
      try {
        this.handleSignal(from, value);
      } catch (error) {
        this.host.emit({ type: 'error', code: error instanceof ChatError ? error.code : 'E_INTERNAL', message: String(error instanceof Error ? error.message : error) });
      }
    });
  }

  /** A folder signal (or a folder's file offer) for a folder not known (yet). */
  private mayBeRestoring(message: TransferPeerMessage): boolean {
    if (message.t === 'folder-accept' || message.t === 'folder-cancel' || message.t === 'folder-reject') return !this.folders.has(message.transferId);
    return message.t === 'file-offer' && message.folder !== undefined && !this.folders.has(message.folder.id);
  }

  /** A folder transfer's id from an id or an unambiguous prefix of 4+ characters, else null. */
  private findFolder(id: string): string | null {
    if (this.folders.has(id)) return id;
    if (id.length < 4) return null;
    const matches = this.folders.ids().filter((key) => key.startsWith(id));
    const files = [...this.entries.keys()].filter((key) => key.startsWith(id));
    if (matches.length + files.length > 1) throw new ChatError('E_USAGE', `${id} names ${matches.length + files.length} transfers; give more of the id`);
    return matches.length === 1 ? matches[0] : null;
  }

  private find(id: string): Entry {
    const exact = this.entries.get(id);
    if (exact !== undefined) return exact;
    if (id.length >= 4) {
      const matches = [...this.entries.entries()].filter(([key]) => key.startsWith(id));
      if (matches.length === 1) return matches[0][1];
      if (matches.length > 1) throw new ChatError('E_USAGE', `${id} names ${matches.length} transfers; give more of the id`);
    }
    throw new ChatError('E_NO_SUCH_TRANSFER', `no transfer ${id}; /transfers lists them`);
  }

  /**
   * The peer is still trying to resume a transfer that ended here (it restarted after we gave
   * up on it): tell it, once, so it stops now instead of after its own reconnect timeout.
   */
  private answerLate(entry: Entry, message: TransferPeerMessage): void {
    const state = entry.transfer.state;
    if (message.t !== 'file-candidates' || entry.answeredLate || (state !== 'failed' && state !== 'cancelled')) return;
    entry.answeredLate = true;
    const code = entry.transfer.snapshot().error?.code;
    const abort: AbortCode = code !== undefined && (ABORT_CODES as readonly string[]).includes(code) ? (code as AbortCode) : 'E_CANCELLED';
    void this.host.sendSignal(entry.peer, { t: 'file-cancel', transferId: message.transferId, code: abort }).catch(() => undefined);
  }

  /** The end-to-end link of one transfer: signals to `peer` in order, sealed by the host. */
  private linkFor(peer: string, onSend?: (sending: Promise<void>, message: TransferPeerMessage) => void): TransferOptions['link'] {
    let chain: Promise<void> = Promise.resolve();
    return {
      send: (message) => {
        const sending = chain.then(() => this.host.sendSignal(peer, message));
        chain = sending.catch((error: unknown) => this.signalFailed(peer, message, error));
        onSend?.(sending, message);
      },
      dialRelay: (transferId, signal) => this.host.openPipe(transferId, peer, signal),
    };
  }

  private signalFailed(peer: string, message: TransferPeerMessage, error: unknown): void {
    const entry = this.entries.get(message.transferId);
    const code = error instanceof ChatError ? error.code : 'E_INTERNAL';
    if (entry === undefined || entry.finishedAt !== null) return;
    if (PEER_GONE_CODES.has(code)) {
      entry.transfer.peerGone();
      return;
    }
    if (message.t === 'file-offer') return; // /send reports it
    this.host.emit({
      type: 'error',
      code,
      message: `a file transfer message to ${peer} was not delivered: ${error instanceof Error ? error.message : String(error)}`,
      details: { transfer: message.transferId },
    });
  }

  private transferOptions(link: TransferOptions['link']): TransferOptions {
    const overrides = this.options.transfer ?? {};
    return {
      ...overrides,
      link,
      observedAddress: overrides.observedAddress ?? this.host.observedAddress(),
      listenHost: this.direct ? overrides.listenHost : false,
    };
  }

  private add(
    transfer: FileTransfer,
    direction: TransferDirection,
    peer: string,
    hash: string,
    restored: RestoredFrom | null = null,
  ): Entry {
    const entry = newEntry(transfer, direction, peer, hash, restored);
    this.entries.set(transfer.transferId, entry);
    transfer.on('state', () => this.emitState(entry));
    transfer.on('session', ({ offset }) => {
      sessionStarted(entry, offset);
      this.emitState(entry);
    });
    transfer.on('checkpoint', () => void this.keeper.checkpoint(entry));
    transfer.on('progress', (progress) => {
      const event = progressEvent(entry, progress);
      if (event !== null) this.host.emit(event);
    });
    void transfer.finished.then((result) => this.onFinished(entry, result));
    return entry;
  }

  private emitState(entry: Entry): void {
    const event = stateEvent(entry, !this.direct ? this.options.relayOnlyBecause : undefined);
    if (event !== null) this.host.emit(event);
  }

  private onFinished(entry: Entry, result: TransferResult): void {
    entry.finishedAt = Date.now();
    if (result.state === 'suspended') {
      // The client is going away; the journal keeps the transfer for the next run.
      this.wakeIdleWaiters();
      return;
    }
    // Ended: the record (and its private key) goes; a folder's file once the folder counted it.
    this.keeper.forget(entry, this.folders.outcomeJournalled(entry.transfer.transferId));
    this.host.emit(endEvent(entry, result));
    this.trimFinished();
    this.wakeIdleWaiters();
  }

  private wakeIdleWaiters(): void {
    if (this.activeCount !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private trimFinished(): void {
    const finished = [...this.entries.values()].filter((e) => e.finishedAt !== null);
    for (const entry of finished.slice(0, Math.max(0, finished.length - this.maxFinished))) this.entries.delete(entry.transfer.transferId);
  }


}
