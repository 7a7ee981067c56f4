import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError, type ErrorCode } from '../../../shared/errors.js';
import { alternativeNames, resolveInside, sanitizeFileName } from '../../../shared/filename.js';
import { CLIENT_DEFAULTS, FOLDER_LIMITS } from '../../../shared/limits.js';
import { nameKey } from '../../../shared/names.js';
import type { ChatEvent } from '../events.js';
import type { PathKind } from './candidates.js';
import { TRANSFER_DEFAULTS } from './constants.js';
import { FolderPathChecker, makeFolders, type WalkedFolder } from './folder-manifest.js';
import { ProgressMeter } from './progress.js';
import type { TransferInfo } from './transfer-entry.js';
import { type FileTransfer, type TransferResult, newTransferId } from './transfer.js';
import { ABORT_CODES, type AbortCode, REJECT_CODES, type RejectCode, type TransferPeerMessage, type TransferPeerMessageOf } from './wire.js';

/**
 * Folder transfers (`/send USER DIR/`), built on the file transfer: the sender offers the
 * folder (name, file count, bytes) in one sealed `folder-offer`; once the receiver accepts,
 * each file follows as an ordinary transfer (its own sealed `file-offer` with `folder: {id,
 * index, path}`, its own authenticated TLS connection, resume and hash check), one after
 * another. The receiver accepts those offers without asking again, but only for the folder it
 * accepted, from the same peer, in order, each path checked ({@link FolderPathChecker}) and
 * saved inside the folder it created. A file that fails ends the folder (the files done stay).
 */
export interface FolderHost {
  sendSignal(peer: string, message: TransferPeerMessage): Promise<void>;
  emit(event: ChatEvent): void;
  /** Sender: starts one file of the folder (its offer carries `folder`). */
  sendChild(peer: string, file: string, folder: { id: string; index: number; path: string }): Promise<FileTransfer>;
  /** Receiver: takes one file's offer and accepts it into `directory` at once. */
  receiveChild(peer: string, offer: TransferPeerMessageOf<'file-offer'>, directory: string): Promise<FileTransfer>;
  /** Where /accept saves without a DIR. */
  downloadDir(): string;
  /** A folder ended (whoever waits for the transfers to be idle looks again). */
  ended(): void;
}

export interface FolderTimers {
  /** The receiver waits this long for the answer to an offer, and the sender for an answer. */
  offerTimeoutMs: number;
  /** Between files; then E_TRANSFER_TIMEOUT. */
  nextFileTimeoutMs: number;
}

type FolderState = 'offered' | 'transferring' | 'completed' | 'rejected' | 'cancelled' | 'failed';

interface Folder {
  id: string;
  direction: 'out' | 'in';
  peer: string;
  name: string;
  files: number;
  size: number;
  state: FolderState;
  filesDone: number;
  bytesDone: number;
  /** Sender: the folder sent. Receiver: the folder made for it once accepted. */
  dir: string | null;
  current: FileTransfer | null;
  startedMs: number | null;
  timer: NodeJS.Timeout | null;
  /** How the last file's bytes went (shown between files). */
  lastPath: PathKind | null;
  /** The whole folder's speed and time left; progress said at most 4 a second. */
  meter: ProgressMeter;
  progressSaidMs: number;
  // sender
  walked?: WalkedFolder;
  // receiver
  checker?: FolderPathChecker;
  /** The file offer expected next (its index). */
  nextIndex: number;
}

const SPEED_WINDOW_MS = TRANSFER_DEFAULTS.SPEED_WINDOW_MS;
const ENDED: readonly FolderState[] = ['completed', 'rejected', 'cancelled', 'failed'];

export class FolderTransfers {
  private readonly folders = new Map<string, Folder>();

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
    return [...this.folders.values()].filter((f) => !ENDED.includes(f.state) && !(f.direction === 'in' && f.state === 'offered')).length;
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
    };
  }

  /** Every folder known, as /transfers lists them. */
  list(): TransferInfo[] {
    return this.ids().map((id) => this.info(id));
  }

  // ---- sender -----------------------------------------------------------------------------

  /** Offers `walked` to `peer`; resolves once the offer was handed to the relay. */
  async send(peer: string, walked: WalkedFolder): Promise<{ id: string; name: string; files: number; size: number }> {
    const folder: Folder = {
      id: newTransferId(),
      direction: 'out',
      peer,
      name: walked.name,
      files: walked.files.length,
      size: walked.totalBytes,
      state: 'offered',
      filesDone: 0,
      bytesDone: 0,
      dir: walked.root,
      current: null,
      startedMs: null,
      timer: null,
      lastPath: null,
      meter: new ProgressMeter(walked.totalBytes, SPEED_WINDOW_MS),
      progressSaidMs: -Infinity,
      walked,
      nextIndex: 0,
    };
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

  private async sendFiles(folder: Folder): Promise<void> {
    const files = folder.walked!.files;
    folder.state = 'transferring';
    folder.startedMs = performance.now();
    folder.meter.restart(0, folder.startedMs);
    for (let index = 0; index < files.length; index++) {
      if (ENDED.includes(folder.state)) return;
      const file = files[index];
      this.say(folder);
      let child: FileTransfer;
      try {
        child = await this.host.sendChild(folder.peer, file.absolute, { id: folder.id, index, path: file.path });
      } catch (error) {
        const e = error instanceof ChatError ? error : new ChatError('E_INTERNAL', String(error));
        this.end(folder, 'failed', e.code, `${file.path}: ${e.message}`, true);
        return;
      }
      if (!(await this.follow(folder, child, file.size))) return;
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
    const folder: Folder = {
      id: message.transferId,
      direction: 'in',
      peer: from,
      name: name.ok ? name.name : '',
      files: message.files,
      size: message.size,
      state: 'offered',
      filesDone: 0,
      bytesDone: 0,
      dir: null,
      current: null,
      startedMs: null,
      timer: null,
      lastPath: null,
      meter: new ProgressMeter(message.size, SPEED_WINDOW_MS),
      progressSaidMs: -Infinity,
      checker,
      nextIndex: 0,
    };
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
    for (const folder of this.folders.values()) if (!ENDED.includes(folder.state)) this.end(folder, 'cancelled', 'E_CANCELLED', 'cancelled', true);
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
    if (folder.state !== 'transferring' || folder.dir === null) return decline('E_REJECTED', 'a file came out of turn');
    if (ref.index !== folder.nextIndex) return decline('E_PATH_REFUSED', `file ${ref.index} came when ${folder.nextIndex} was due`);
    let components: string[];
    try {
      components = folder.checker!.add(ref.path, offer.size);
      // The file's own name must be the path's last part (what FileTransfer saves it under).
      const last = sanitizeFileName(offer.name);
      if (!last.ok || last.name !== components[components.length - 1]) throw new ChatError('E_PATH_REFUSED', 'the file name is not the last part of its path');
    } catch (error) {
      const e = error instanceof ChatError ? error : new ChatError('E_PATH_REFUSED', String(error));
      return decline((REJECT_CODES as readonly string[]).includes(e.code) ? (e.code as RejectCode) : 'E_PATH_REFUSED', e.message);
    }
    folder.nextIndex += 1;
    this.arm(folder, null);
    const root = folder.dir;
    void (async () => {
      let child: FileTransfer;
      try {
        const directory = await makeFolders(root, components);
        child = await this.host.receiveChild(from, offer, directory);
      } catch (error) {
        const e = error instanceof ChatError ? error : new ChatError('E_PATH_REFUSED', String(error));
        if (!ENDED.includes(folder.state)) this.end(folder, 'failed', e.code, `${ref.path}: ${e.message}`, true);
        return;
      }
      this.say(folder);
      if (!(await this.follow(folder, child, offer.size))) return;
      if (folder.filesDone === folder.files) this.end(folder, 'completed');
      else this.arm(folder, this.timers.nextFileTimeoutMs);
    })();
    return true;
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
    if (folder === undefined || nameKey(folder.peer) !== nameKey(from) || ENDED.includes(folder.state)) return true;
    switch (message.t) {
      case 'folder-accept':
        if (folder.direction === 'out' && folder.state === 'offered') {
          this.arm(folder, null);
          void this.sendFiles(folder);
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

  /** Follows one file to its end; false when the folder ended with it. */
  private async follow(folder: Folder, child: FileTransfer, size: number): Promise<boolean> {
    folder.current = child;
    const onProgress = (p: { bytes: number }) => this.progress(folder, p.bytes);
    child.on('progress', onProgress);
    const result: TransferResult = await child.finished;
    child.off('progress', onProgress);
    folder.lastPath = child.snapshot().path ?? folder.lastPath;
    if (folder.current === child) folder.current = null;
    if (ENDED.includes(folder.state)) return false;
    if (result.state !== 'completed') {
      if (result.state === 'suspended') {
        // The client is going away: this run of the folder ends here (see docs/transfer.md).
        this.end(folder, 'failed', 'E_CANCELLED', 'the client stopped', false);
        return false;
      }
      this.end(folder, 'failed', result.code ?? 'E_INTERNAL', result.message ?? result.state, true);
      return false;
    }
    folder.filesDone += 1;
    folder.bytesDone += size;
    this.say(folder);
    return true;
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
    if (ENDED.includes(folder.state)) return;
    folder.state = state;
    this.arm(folder, null);
    const current = folder.current;
    if (current !== null && !['completed', 'failed', 'cancelled', 'rejected'].includes(current.state)) {
      try {
        current.cancel();
      } catch {
        // already ending
      }
    }
    if (tellPeer) {
      const abort: AbortCode = (ABORT_CODES as readonly string[]).includes(code ?? '') ? (code as AbortCode) : 'E_CANCELLED';
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
        avgBps: Math.round((folder.size * 1000) / elapsedMs),
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
    return event;
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
