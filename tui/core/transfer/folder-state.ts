/**
 * One folder transfer's state, as the live transfer (folders.ts) and its restart
 * (folder-restore.ts) both build and read it.
 */
import type { PathKind } from './candidates.js';
import { TRANSFER_DEFAULTS } from './constants.js';
import type { FolderPathChecker, WalkedFolder } from './folder-manifest.js';
import type { FolderResumeState, PeerKeys } from './journal.js';
import { ProgressMeter } from './progress.js';
import type { FileTransfer } from './transfer.js';
import type { AbortCode } from './wire.js';

export type FolderState = 'offered' | 'transferring' | 'completed' | 'rejected' | 'cancelled' | 'failed';

export interface Folder {
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
  /** The files as journalled: sender every file, receiver the files offered so far. */
  entries: FolderResumeState['entries'];
  /** The transfer id of the file under way (entries[filesDone]) once offered. */
  currentId: string | null;
  /** Restored from the journal after a restart of this client. */
  restored: boolean;
  /** Suspended with the client (its record stays for the next run): it says and does nothing more. */
  suspended: boolean;
  /** Pinned keys of the peer, once journalled (null: not journalled). */
  peerKeys: PeerKeys | null;
  /** Files being replaced by a new offer of the same file: their end is not the folder's. */
  replaced: Set<FileTransfer>;
  /** Bytes of the files done before this run (the average speed counts only this run's). */
  startBytes: number;
  /** How it ended (as told to the peer), and whether a late folder-accept was answered with it. */
  endCode: AbortCode;
  answeredLate: boolean;
  // sender
  walked?: WalkedFolder;
  // receiver
  checker?: FolderPathChecker;
  /** The file offer expected next (its index). */
  nextIndex: number;
}

/** A folder as it starts (offered, nothing done) with what is known of it; `known` overrides the rest. */
export function newFolder(known: Pick<Folder, 'id' | 'direction' | 'peer' | 'name' | 'files' | 'size' | 'dir'> & Partial<Folder>): Folder {
  return {
    state: 'offered',
    filesDone: 0,
    bytesDone: 0,
    current: null,
    startedMs: null,
    timer: null,
    lastPath: null,
    meter: new ProgressMeter(known.size, SPEED_WINDOW_MS),
    progressSaidMs: -Infinity,
    entries: [],
    currentId: null,
    restored: false,
    suspended: false,
    peerKeys: null,
    replaced: new Set(),
    startBytes: 0,
    endCode: 'E_CANCELLED',
    answeredLate: false,
    nextIndex: 0,
    ...known,
  };
}

const SPEED_WINDOW_MS = TRANSFER_DEFAULTS.SPEED_WINDOW_MS;
export const ENDED: readonly FolderState[] = ['completed', 'rejected', 'cancelled', 'failed'];
