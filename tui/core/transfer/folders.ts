import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError, type ErrorCode } from '../../../shared/errors.js';
import { alternativeNames, resolveInside, sanitizeFileName } from '../../../shared/filename.js';
import { CLIENT_DEFAULTS, FOLDER_LIMITS } from '../../../shared/limits.js';
import { nameKey } from '../../../shared/names.js';
import type { ChatEvent } from '../events.js';
import { FolderPathChecker, folderPathComponents, makeFolders, type WalkedFolder, walkedFileUnchanged } from './folder-manifest.js';
import { folderRecord, recheckRestored, restoredFolder } from './folder-restore.js';
import { ENDED, type Folder, type FolderState, newFolder } from './folder-state.js';
import { FILE_HASH_HEX } from './file-hash.js';
import type { FolderJournalRecord, FolderResumeState, PeerKeys } from './journal.js';
import { isTerminal } from './state-machine.js';
import type { TransferInfo } from './transfer-entry.js';
import { type FileTransfer, newTransferId } from './transfer.js';
import { ABORT_CODES, type AbortCode, REJECT_CODES, type RejectCode, type TransferPeerMessage, type TransferPeerMessageOf } from './wire.js';

/**
 * Folder transfers (`/send USER DIR/`), built on the file transfer: the sender offers the
 * folder (name, file count, bytes) in one sealed `folder-offer`; once the receiver accepts,
 * each file follows as an ordinary transfer (its own sealed `file-offer` with `folder: {id,
 * index, path}`, its own authenticated TLS connection, resume and hash check), one after
 * another. The receiver accepts those offers without asking again, but only for the folder it
 * accepted, from the same peer, in order, each path checked ({@link FolderPathChecker}) and
 * saved inside the folder it created. A file that fails ends the folder (the files done stay).
 *
 * Restart: a folder agreed on is journalled (journal.ts, its own record beside its files'),
 * written when agreed, at each file offered and at each file done (before that file's own
 * record goes); a later run restores it ({@link FolderTransfers.restore}) after the file records,
 * picks up the file it was on (restored like any file) and goes on from there. A side that
 * finds no file under way (it never reached the disk) has the sender offer it again: the
 * sender on its own, the receiver by sending `folder-accept` again.
 */
export interface FolderHost {
  sendSignal(peer: string, message: TransferPeerMessage): Promise<void>;
  emit(event: ChatEvent): void;
  /** Sender: starts one file of the folder (its offer carries `folder`); with the hash it offered. */
  sendChild(peer: string, file: string, folder: { id: string; index: number; path: string }): Promise<{ transfer: FileTransfer; hash: string }>;
  /** A transfer this run restored from the journal, still running, by id (a restored folder's file under way). */
  restoredChild(id: string): FileTransfer | undefined;
  /** Receiver: takes one file's offer and accepts it into `directory` at once. */
  receiveChild(peer: string, offer: TransferPeerMessageOf<'file-offer'>, directory: string): Promise<FileTransfer>;
  /** Where /accept saves without a DIR. */
  downloadDir(): string;
  /** A folder ended (whoever waits for the transfers to be idle looks again). */
  ended(): void;
  /** The journal (journal-keeper.ts); absent: folders end with the process. */
  journal?: FolderJournalHost;
}

export interface FolderJournalHost {
  /** `peer`'s pinned keys now, or null (no pin: not journalled, as for a file). */
  pinOf(peer: string): PeerKeys | null;
  /** Writes the folder's record; resolves once written (never rejects). */
  save(state: FolderResumeState, peer: string, peerKeys: PeerKeys): Promise<void>;
  /** Deletes the folder's record. */
  forget(folderId: string): void;
}

export interface FolderTimers {
  /** The receiver waits this long for the answer to an offer, and the sender for an answer. */
  offerTimeoutMs: number;
  /** Between files; then E_TRANSFER_TIMEOUT. */
  nextFileTimeoutMs: number;
}

type Outcome = 'done' | 'stop' | 'replaced';

export class FolderTransfers {
  private readonly folders = new Map<string, Folder>();
  /** A folder's file under way, by its transfer id: resolves once the folder's record counts its outcome. */
  private readonly outcomeSaved = new Map<string, Promise<void>>();

  constructor(
    private readonly host: FolderHost,
    private readonly timers: FolderTimers = { offerTimeoutMs: 15 * 60_000, nextFileTimeoutMs: FOLDER_LIMITS.nextFileTimeoutMs },
  ) {}

  has(id: string): boolean {
    return this.folders.has(id);
  }

  /** Ids of the folders known (for prefix matching by /accept, /reject, /cancel). */
  ids(): string[] {
    return [...this.folders.keys()];
  }

  /** Running folders (offers waiting for our answer excluded). */
  get activeCount(): number {
    return [...this.folders.values()].filter((f) => !this.stopped(f) && !(f.direction === 'in' && f.state === 'offered')).length;
  }

  /** A folder as /transfers lists it (`name` ends in `/`, `sessions`: files done). */
  info(id: string): TransferInfo {
    const folder = this.get(id);
    const progress = folder.meter.snapshot(performance.now());
    const bytes = ENDED.includes(folder.state) ? folder.bytesDone : Math.max(folder.bytesDone, progress.bytes);
    return {
      id: folder.id,
      direction: folder.direction,
      peer: folder.peer,
      name: `${folder.name}/`,
      size: folder.size,
      hash: '',
      state: folder.state,
      path: folder.current?.snapshot().path ?? folder.lastPath,
      bytes,
      percent: folder.size === 0 ? 100 : Math.floor((bytes / folder.size) * 1000) / 10,
      speedBps: ENDED.includes(folder.state) ? 0 : progress.bytesPerSecond,
      etaSec: ENDED.includes(folder.state) ? null : progress.etaSeconds,
      file: folder.dir,
      sessions: folder.filesDone,
      folder: { files: folder.files, filesDone: folder.filesDone },
      ...(folder.restored ? { restored: true as const } : {}),
    };
  }

  /**
   * When a folder's file ended: resolves once the folder's record says so (its own record is
   * deleted after that, journal.ts), at once for any other transfer.
   */
  outcomeJournalled(transferId: string): Promise<void> | undefined {
    return this.outcomeSaved.get(transferId);
  }

  /** Every folder known, as /transfers lists them. */
  list(): TransferInfo[] {
    return this.ids().map((id) => this.info(id));
  }

  // ---- sender -----------------------------------------------------------------------------

  /** Offers `walked` to `peer`; resolves once the offer was handed to the relay. */
  async send(peer: string, walked: WalkedFolder): Promise<{ id: string; name: string; files: number; size: number }> {
    const folder = newFolder({
      id: newTransferId(),
      direction: 'out',
      peer,
      name: walked.name,
      files: walked.files.length,
      size: walked.totalBytes,
      dir: walked.root,
      entries: walked.files.map((f) => ({ path: f.path, size: f.size, mtimeMs: f.mtimeMs })),
      walked,
    });
    this.folders.set(folder.id, folder);
    this.say(folder);
    this.arm(folder, this.timers.offerTimeoutMs);
    try {
      await this.host.sendSignal(peer, { t: 'folder-offer', transferId: folder.id, name: folder.name, files: folder.files, size: folder.size });
    } catch (error) {
      this.end(folder, 'failed', error instanceof ChatError ? error.code : 'E_INTERNAL', String(error instanceof Error ? error.message : error), false);
      throw error;
    }
    return { id: folder.id, name: folder.name, files: folder.files, size: folder.size };
  }

  /** Sends the files from `filesDone` on, one after another; `resume`: the file under way, restored. */
  private async sendFiles(folder: Folder, resume: FileTransfer | null = null): Promise<void> {
    const files = folder.walked!.files;
    folder.state = 'transferring';
    folder.startedMs ??= performance.now();
    folder.meter.restart(folder.bytesDone, folder.startedMs);
    if (resume === null) void this.journal(folder);
    while (folder.filesDone < files.length) {
      if (this.stopped(folder)) return;
      const index = folder.filesDone;
      const file = files[index];
      let child = resume;
      resume = null;
      if (child === null) {
        this.say(folder);
        try {
          // What was walked (and offered, in the folder's size) is what goes, or nothing.
          if (!(await walkedFileUnchanged(folder.walked!.root, file.path, file.size, file.mtimeMs))) throw new ChatError('E_FILE_CHANGED', 'it changed (or is gone) since the folder was offered');
          const sent = await this.host.sendChild(folder.peer, file.absolute, { id: folder.id, index, path: file.path });
          child = sent.transfer;
          if (this.stopped(folder)) {
            // Ended or suspended while it was hashed: the offer goes with its folder (without a
            // word when suspended: the next run offers it again).
            if (folder.suspended) void child.suspend();
            else child.cancel();
            return;
          }
          folder.current = child;
          if (child.size !== file.size) throw new ChatError('E_FILE_CHANGED', 'it changed since the folder was offered');
          if (FILE_HASH_HEX.test(sent.hash)) folder.entries[index].hash = sent.hash;
          folder.currentId = child.transferId;
        } catch (error) {
          const e = error instanceof ChatError ? error : new ChatError('E_INTERNAL', String(error));
          this.end(folder, 'failed', e.code, `${file.path}: ${e.message}`, true);
          return;
        }
        void this.journal(folder);
      }
      if ((await this.follow(folder, child, file.size)) === 'stop') return;
    }
    this.end(folder, 'completed');
  }

  // ---- receiver ---------------------------------------------------------------------------

  /** A `folder-offer` from `from`: waits for /accept or /reject (a bad offer is declined at once). */
  private offered(from: string, message: TransferPeerMessageOf<'folder-offer'>): void {
    if (this.folders.has(message.transferId)) return;
    const name = sanitizeFileName(message.name);
    let checker: FolderPathChecker | undefined;
    let refusal: RejectCode | null = name.ok ? null : 'E_PATH_REFUSED';
    try {
      checker = new FolderPathChecker({ files: message.files, totalBytes: message.size });
    } catch (error) {
      refusal ??= error instanceof ChatError && (REJECT_CODES as readonly string[]).includes(error.code) ? (error.code as RejectCode) : 'E_FILE_TOO_LARGE';
    }
    if (refusal !== null) {
      void this.host.sendSignal(from, { t: 'folder-reject', transferId: message.transferId, code: refusal }).catch(() => undefined);
      return;
    }
    const folder = newFolder({
      id: message.transferId,
      direction: 'in',
      peer: from,
      name: name.ok ? name.name : '',
      files: message.files,
      size: message.size,
      dir: null,
      checker,
    });
    this.folders.set(folder.id, folder);
    this.arm(folder, this.timers.offerTimeoutMs);
    this.host.emit({ type: 'folder-offer', id: folder.id, from, name: folder.name, files: folder.files, size: folder.size });
  }

  /**
   * `/accept ID [DIR]` for a folder: makes `<DIR>/<name>` (`name (1)`... when taken), tells the
   * sender, and waits for the files. E_TRANSFER_STATE, E_PATH_REFUSED, E_NO_SPACE.
   */
  async accept(id: string, directory?: string): Promise<{ id: string; dir: string }> {
    const folder = this.get(id);
    if (folder.direction !== 'in' || folder.state !== 'offered' || folder.dir !== null) throw new ChatError('E_TRANSFER_STATE', 'only a folder offered to you and not answered yet can be accepted');
    const parent = path.resolve(directory ?? this.host.downloadDir());
    const stat = await fs.stat(parent).catch(() => null);
    if (stat === null || !stat.isDirectory()) throw new ChatError('E_PATH_REFUSED', `${parent} is not a folder`);
    const free = await fs.statfs(parent).then((s) => Number(s.bavail) * Number(s.bsize));
    if (free < folder.size) throw new ChatError('E_NO_SPACE', `${folder.size} bytes needed, ${free} free in ${parent}`);
    folder.dir = await makeFreshFolder(parent, folder.name);
    folder.state = 'transferring';
    folder.startedMs = performance.now();
    folder.meter.restart(0, folder.startedMs);
    this.arm(folder, this.timers.nextFileTimeoutMs);
    this.say(folder);
    void this.journal(folder);
    await this.host.sendSignal(folder.peer, { t: 'folder-accept', transferId: folder.id });
    return { id: folder.id, dir: folder.dir };
  }

  /** `/reject ID` for a folder. */
  reject(id: string): void {
    const folder = this.get(id);
    if (folder.direction !== 'in' || folder.state !== 'offered') throw new ChatError('E_TRANSFER_STATE', 'only a folder offered to you can be rejected; /cancel stops your own');
    this.end(folder, 'rejected', 'E_REJECTED', 'rejected', false);
    void this.host.sendSignal(folder.peer, { t: 'folder-reject', transferId: folder.id, code: 'E_REJECTED' }).catch(() => undefined);
  }

  /** `/cancel ID` for a folder: the file under way is cancelled, the files done stay. */
  cancel(id: string): void {
    const folder = this.get(id);
    if (ENDED.includes(folder.state)) throw new ChatError('E_TRANSFER_STATE', 'that folder transfer has ended already');
    this.end(folder, 'cancelled', 'E_CANCELLED', 'cancelled', true);
  }

  /** Everything still running ends (the client closes): cancelled, the peers told. */
  cancelAll(): void {
    for (const folder of this.folders.values()) if (!this.stopped(folder)) this.end(folder, 'cancelled', 'E_CANCELLED', 'cancelled', true);
  }

  /**
   * The client is going away and will be started again (TransferManager.suspendAll, before
   * its files are suspended): a folder under way that is journalled stops where it stands,
   * says nothing, and its record is written once more for the next run; one not agreed yet
   * (an offer) or not journalled ends as in {@link cancelAll}. Resolves once the records are written.
   */
  async suspendAll(): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const folder of this.folders.values()) {
      if (this.stopped(folder)) continue;
      if (folder.state !== 'transferring' || this.host.journal === undefined || (folder.peerKeys ??= this.host.journal.pinOf(folder.peer)) === null) {
        this.end(folder, 'cancelled', 'E_CANCELLED', 'cancelled', true);
        continue;
      }
      writes.push(this.journal(folder));
      folder.suspended = true;
      this.arm(folder, null);
    }
    await Promise.all(writes);
  }

  /**
   * After a restart (journal-keeper.ts, after the files' records): the folder of `record`
   * goes on where the last run stopped, with the file under way if that one was restored
   * (`restored: true` on its events and in /transfers). The record and the checks are
   * folder-restore.ts': every path is checked again as a peer's would be; then, once
   * `precheck` (the peer's key) passed, a sender checks that the files still to send are
   * unchanged (E_FILE_CHANGED: the folder fails, the receiver is told) and a receiver that its
   * folder is still a folder. Throws E_CORRUPT_FILE when the record does not hold together.
   */
  restore(record: FolderJournalRecord, precheck: () => Promise<void>): void {
    if (this.folders.has(record.folderId)) return;
    const folder = restoredFolder(record);
    this.folders.set(folder.id, folder);
    void this.resumeRestored(folder, precheck);
  }

  private async resumeRestored(folder: Folder, precheck: () => Promise<void>): Promise<void> {
    const child = folder.currentId !== null ? this.host.restoredChild(folder.currentId) : undefined;
    if (child !== undefined) folder.current = child;
    try {
      await precheck();
      await recheckRestored(folder, child);
    } catch (error) {
      const e = error instanceof ChatError ? error : new ChatError('E_INTERNAL', String(error));
      this.end(folder, 'failed', e.code, e.message, true);
      return;
    }
    if (this.stopped(folder)) return;
    folder.startedMs = performance.now();
    folder.meter.restart(folder.bytesDone, folder.startedMs);
    if (folder.direction === 'out') {
      void this.sendFiles(folder, child ?? null);
      return;
    }
    this.say(folder);
    if (child !== undefined) {
      void this.receiveRest(folder, child, folder.entries[folder.filesDone].size);
    } else if (folder.filesDone === folder.files) {
      this.end(folder, 'completed');
    } else {
      // No file under way survived here: ask the sender for it (again). An older sender ignores this and the wait times out.
      this.arm(folder, this.timers.nextFileTimeoutMs);
      void this.host.sendSignal(folder.peer, { t: 'folder-accept', transferId: folder.id }).catch(() => undefined);
    }
  }

  /** Writes the folder's record (once agreed, with a pin; suspended too: see follow); resolves when written. */
  private journal(folder: Folder): Promise<void> {
    const journal = this.host.journal;
    if (journal === undefined || folder.state !== 'transferring' || folder.dir === null) return Promise.resolve();
    folder.peerKeys ??= journal.pinOf(folder.peer);
    if (folder.peerKeys === null) return Promise.resolve(); // no pin: nothing to check a restart against
    return journal.save(folderRecord(folder, folder.dir), folder.peer, folder.peerKeys);
  }

  /**
   * Receiver: a `file-offer` that names a folder. Accepted at once into its place when it is
   * the next file of a folder we accepted from that peer and its path passes the checks; else
   * declined (and the folder fails: the sender broke the rules). Returns false when the offer
   * names no folder known here (the caller declines it).
   */
  fileOffered(from: string, offer: TransferPeerMessageOf<'file-offer'>): boolean {
    const ref = offer.folder;
    const folder = ref === undefined ? undefined : this.folders.get(ref.id);
    if (ref === undefined || folder === undefined || folder.direction !== 'in' || nameKey(folder.peer) !== nameKey(from)) return false;
    const decline = (code: RejectCode, message: string): true => {
      void this.host.sendSignal(from, { t: 'file-reject', transferId: offer.transferId, code }).catch(() => undefined);
      if (!ENDED.includes(folder.state)) this.end(folder, 'failed', code, message, true);
      return true;
    };
    if (folder.suspended) return true; // the client is going away; the sender will offer it again
    if (folder.state !== 'transferring' || folder.dir === null) return decline('E_REJECTED', 'a file came out of turn');
    // The file under way offered again: a side restarted without it (see restore).
    const again = ref.index === folder.filesDone && ref.index < folder.nextIndex;
    if (ref.index !== folder.nextIndex && !again) return decline('E_PATH_REFUSED', `file ${ref.index} came when ${folder.nextIndex} was due`);
    let components: string[];
    try {
      if (again) {
        const known = folder.entries[ref.index];
        if (known.path !== ref.path || known.size !== offer.size) throw new ChatError('E_PATH_REFUSED', `file ${ref.index} offered again is not the one offered before`);
        components = folderPathComponents(ref.path);
      } else {
        components = folder.checker!.add(ref.path, offer.size);
      }
      // The file's own name must be the path's last part (what FileTransfer saves it under).
      const last = sanitizeFileName(offer.name);
      if (!last.ok || last.name !== components[components.length - 1]) throw new ChatError('E_PATH_REFUSED', 'the file name is not the last part of its path');
    } catch (error) {
      const e = error instanceof ChatError ? error : new ChatError('E_PATH_REFUSED', String(error));
      return decline((REJECT_CODES as readonly string[]).includes(e.code) ? (e.code as RejectCode) : 'E_PATH_REFUSED', e.message);
    }
    let replacing: FileTransfer | null = null;
    if (again) {
      // The old transfer of this file cannot finish (the sender has let it go): cancelled, its partial file goes.
      replacing = folder.current;
      if (replacing !== null && !isTerminal(replacing.state)) {
        folder.replaced.add(replacing);
        replacing.cancel();
      }
    } else {
      folder.entries.push({ path: ref.path, size: offer.size, ...(FILE_HASH_HEX.test(offer.hash ?? '') ? { hash: offer.hash } : {}) });
      folder.nextIndex += 1;
    }
    folder.currentId = offer.transferId;
    this.arm(folder, null);
    const root = folder.dir;
    void (async () => {
      let child: FileTransfer;
      try {
        const directory = await makeFolders(root, components);
        if (again) {
          // A partial file left by a transfer of this file that did not survive the restart
          // (in our own folder, under the name it was reserved as) goes first, so that the file
          // lands under its own name and not beside a stale `.part`.
          await replacing?.finished;
          await fs.rm(path.join(directory, `${components[components.length - 1]}.part`), { force: true });
        }
        child = await this.host.receiveChild(from, offer, directory);
      } catch (error) {
        const e = error instanceof ChatError ? error : new ChatError('E_PATH_REFUSED', String(error));
        if (this.stopped(folder)) return;
        if (folder.restored && e.code === 'E_TRANSFER_STATE' && folder.currentId === offer.transferId) {
          // Cancelled by the sender while we accepted it: let go for a new offer (see follow).
          this.arm(folder, this.timers.nextFileTimeoutMs);
          return;
        }
        this.end(folder, 'failed', e.code, `${ref.path}: ${e.message}`, true);
        return;
      }
      if (this.stopped(folder)) return;
      folder.current = child;
      void this.journal(folder);
      this.say(folder);
      await this.receiveRest(folder, child, offer.size);
    })();
    return true;
  }

  /** Receiver: follows one file to its end, then waits for the next (or the folder is complete). */
  private async receiveRest(folder: Folder, child: FileTransfer, size: number): Promise<void> {
    const outcome = await this.follow(folder, child, size);
    // Let go and no other offer of it yet: wait for one.
    if (outcome === 'replaced' && folder.currentId === child.transferId && !this.stopped(folder)) this.arm(folder, this.timers.nextFileTimeoutMs);
    if (outcome !== 'done') return;
    if (folder.filesDone === folder.files) this.end(folder, 'completed');
    else if (folder.currentId === null) this.arm(folder, this.timers.nextFileTimeoutMs); // not when the next file came already
  }

  // ---- both -------------------------------------------------------------------------------

  /** A folder-* signal from `from`. Returns false when it is not one. */
  handleSignal(from: string, message: TransferPeerMessage): boolean {
    if (message.t === 'folder-offer') {
      this.offered(from, message);
      return true;
    }
    if (message.t !== 'folder-accept' && message.t !== 'folder-reject' && message.t !== 'folder-cancel') return false;
    const folder = this.folders.get(message.transferId);
    if (folder === undefined || nameKey(folder.peer) !== nameKey(from)) return true;
    if (ENDED.includes(folder.state)) {
      // A restarted receiver asks for a folder that ended here meanwhile: tell it, once, so it
      // stops now instead of after its wait for the next file.
      if (message.t === 'folder-accept' && folder.direction === 'out' && folder.state !== 'completed' && !folder.answeredLate) {
        folder.answeredLate = true;
        void this.host.sendSignal(folder.peer, { t: 'folder-cancel', transferId: folder.id, code: folder.endCode }).catch(() => undefined);
      }
      return true;
    }
    switch (message.t) {
      case 'folder-accept':
        if (folder.direction === 'out' && folder.state === 'offered') {
          this.arm(folder, null);
          void this.sendFiles(folder);
        } else if (folder.direction === 'out' && folder.state === 'transferring' && !folder.suspended && folder.current !== null && !isTerminal(folder.current.state)) {
          // Said again: the receiver restarted without the file under way (its record never
          // reached the disk), so that transfer can never finish: the file is offered again.
          folder.replaced.add(folder.current);
          folder.current.cancel();
        }
        break;
      case 'folder-reject':
        if (folder.direction === 'out' && folder.state === 'offered') this.end(folder, 'rejected', message.code ?? 'E_REJECTED', 'the folder was declined', false);
        break;
      case 'folder-cancel':
        this.end(folder, message.code === 'E_CANCELLED' || message.code === undefined ? 'cancelled' : 'failed', message.code ?? 'E_CANCELLED', 'stopped by the other side', false);
        break;
    }
    return true;
  }

  /**
   * Follows one file to its end: 'done' (counted and journalled), 'replaced' (offered again,
   * see fileOffered and folder-accept) or 'stop' (the folder ended with it, or is suspended).
   */
  private async follow(folder: Folder, child: FileTransfer, size: number): Promise<Outcome> {
    folder.current = child;
    let saved!: () => void;
    this.outcomeSaved.set(child.transferId, new Promise((resolve) => (saved = resolve)));
    const onProgress = (p: { bytes: number }) => this.progress(folder, p.bytes);
    child.on('progress', onProgress);
    try {
      const result = await child.finished;
      child.off('progress', onProgress);
      folder.lastPath = child.snapshot().path ?? folder.lastPath;
      if (folder.current === child) folder.current = null;
      const replaced = folder.replaced.delete(child);
      // Suspended: the client is going away and the folder with it (suspendAll), record kept.
      // A file that completed as its folder was suspended is still counted below: its own
      // record goes once the folder's says so, and the next run must not wait for it.
      if (ENDED.includes(folder.state) || result.state === 'suspended' || (folder.suspended && result.state !== 'completed')) return 'stop';
      if (replaced && result.state !== 'completed') return 'replaced';
      // A restored receiver asked for its file again (folder-accept): an offer of it that was
      // still on its way is then let go by the sender, which offers it once more. Had the
      // sender given up, its folder-cancel ends the folder.
      if (folder.direction === 'in' && folder.restored && result.state === 'cancelled') return 'replaced';
      if (result.state !== 'completed') {
        this.end(folder, 'failed', result.code ?? 'E_INTERNAL', result.message ?? result.state, true);
        return 'stop';
      }
      // The hash the file was checked against (a sender learns it at the file's end now).
      if (FILE_HASH_HEX.test(child.hash)) folder.entries[folder.filesDone].hash = child.hash;
      folder.filesDone += 1;
      folder.bytesDone += size;
      // The next file's offer may already have come (a receiver's end of one file can run
      // after the sender's): that one is under way now and stays recorded.
      if (folder.currentId === child.transferId) folder.currentId = null;
      if (!folder.suspended) this.say(folder);
      // Before the file's own record goes (journal.ts `remove(id, after)`).
      await this.journal(folder);
      return folder.suspended ? 'stop' : 'done';
    } finally {
      child.off('progress', onProgress);
      this.outcomeSaved.delete(child.transferId);
      saved();
    }
  }

  private progress(folder: Folder, currentBytes: number): void {
    const now = performance.now();
    const bytes = folder.bytesDone + currentBytes;
    folder.meter.update(bytes, now);
    if (now - folder.progressSaidMs < 1000 / CLIENT_DEFAULTS.transferProgressEventsPerSecond && bytes < folder.size) return;
    folder.progressSaidMs = now;
    this.host.emit(this.stateEvent(folder, bytes));
  }

  private end(folder: Folder, state: FolderState, code?: ErrorCode | string, message?: string, tellPeer = false): void {
    if (ENDED.includes(folder.state) || folder.suspended) return;
    folder.state = state;
    this.arm(folder, null);
    if (folder.peerKeys !== null) this.host.journal?.forget(folder.id);
    const current = folder.current;
    if (current !== null && !isTerminal(current.state)) {
      try {
        current.cancel();
      } catch {
        // already ending
      }
    }
    const abort: AbortCode = (ABORT_CODES as readonly string[]).includes(code ?? '') ? (code as AbortCode) : 'E_CANCELLED';
    folder.endCode = abort;
    if (tellPeer) {
      void this.host.sendSignal(folder.peer, { t: 'folder-cancel', transferId: folder.id, code: abort }).catch(() => undefined);
    }
    this.host.emit(this.stateEvent(folder, folder.bytesDone));
    if (state === 'completed') {
      const elapsedMs = Math.max(1, Math.round(performance.now() - (folder.startedMs ?? performance.now())));
      this.host.emit({
        type: 'folder-done',
        id: folder.id,
        direction: folder.direction,
        peer: folder.peer,
        name: folder.name,
        files: folder.files,
        size: folder.size,
        dir: folder.dir ?? '',
        elapsedMs,
        avgBps: Math.round(((folder.size - folder.startBytes) * 1000) / elapsedMs),
      });
    } else {
      this.host.emit({
        type: 'folder-failed',
        id: folder.id,
        direction: folder.direction,
        peer: folder.peer,
        name: folder.name,
        state,
        code: code ?? 'E_INTERNAL',
        message: message ?? state,
        filesDone: folder.filesDone,
        dir: folder.dir,
      });
    }
    this.host.ended();
  }

  private say(folder: Folder): void {
    this.host.emit(this.stateEvent(folder, folder.bytesDone));
  }

  private stateEvent(folder: Folder, bytes: number): ChatEvent {
    const progress = folder.meter.snapshot(performance.now());
    const event: ChatEvent = {
      type: 'folder-state',
      id: folder.id,
      direction: folder.direction,
      peer: folder.peer,
      name: folder.name,
      state: folder.state,
      files: folder.files,
      filesDone: folder.filesDone,
      bytes,
      size: folder.size,
      speedBps: progress.bytesPerSecond,
      etaSec: ENDED.includes(folder.state) ? null : progress.etaSeconds,
      path: folder.current?.snapshot().path ?? folder.lastPath,
      dir: folder.dir,
    };
    const skipped = folder.walked?.skipped.length ?? 0;
    if (skipped > 0) event.skipped = skipped;
    if (folder.restored) event.restored = true;
    return event;
  }

  /** Whether the folder `id` is suspended with the client (its files then stop quietly too). */
  isSuspended(id: string): boolean {
    return this.folders.get(id)?.suspended === true;
  }

  /** Ended, or suspended with the client. */
  private stopped(folder: Folder): boolean {
    return ENDED.includes(folder.state) || folder.suspended;
  }

  /** One timer per folder: the answer to the offer, or the next file; null disarms. */
  private arm(folder: Folder, ms: number | null): void {
    if (folder.timer !== null) clearTimeout(folder.timer);
    folder.timer = null;
    if (ms === null) return;
    folder.timer = setTimeout(() => {
      folder.timer = null;
      this.end(folder, 'failed', 'E_TRANSFER_TIMEOUT', folder.state === 'offered' ? 'no answer to the folder offer' : 'the next file did not come', true);
    }, ms);
    folder.timer.unref();
  }

  private get(id: string): Folder {
    const folder = this.folders.get(id);
    if (folder === undefined) throw new ChatError('E_NO_SUCH_TRANSFER', `no transfer ${id}; /transfers lists them`);
    return folder;
  }
}

/** `<parent>/<name>`, or `<name> (1)`... when taken; made here (exclusive), so it is ours. */
async function makeFreshFolder(parent: string, name: string): Promise<string> {
  for (const candidate of alternativeNames(name)) {
    const dir = resolveInside(parent, candidate);
    try {
      await fs.mkdir(dir, { mode: 0o700 });
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new ChatError('E_PATH_REFUSED', `cannot make ${dir}: ${(error as Error).message}`);
    }
  }
  throw new ChatError('E_PATH_REFUSED', `no free name for ${name} in ${parent}`);
}
