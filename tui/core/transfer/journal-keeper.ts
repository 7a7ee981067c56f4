import { ChatError, PEER_GONE_CODES, asChatError } from '../../../shared/errors.js';
import type { ChatEvent } from '../events.js';
import type { FolderJournalRecord, FolderResumeState, PeerKeys, TransferJournal, TransferJournalRecord } from './journal.js';
import type { Entry } from './transfer-entry.js';

/**
 * The manager's side of the transfer journal (journal.ts keeps the files): records a
 * transfer whenever what a restart needs changes, and after a restart reads the records back
 * and has each one restored, checking the peer's keys against the ones it was agreed with.
 * Reports unusable records as `error` events. Does nothing without a journal. Folder
 * transfers (folders.ts) are kept the same way: their own record, restored after the records
 * of their files so that a folder finds the file it was sending or receiving.
 */
export interface JournalKeeperHost {
  /** `user`'s pinned keys (base64), if any: no pin, no record (nothing to check a restart against). */
  peerKeys?(user: string): PeerKeys | undefined;
  /** Throws unless `user`'s key can be used now (as for a new transfer). */
  checkRecipient(user: string): Promise<void>;
  emit(event: ChatEvent): void;
  /** Makes a transfer of `record` and follows it; null when it is known already. Throws when the record does not hold together. */
  restore(record: TransferJournalRecord, precheck: () => Promise<void>): Entry | null;
  /** Makes the folder transfer of `record` and goes on with it. Throws when the record does not hold together. */
  restoreFolder(record: FolderJournalRecord, precheck: () => Promise<void>): void;
  /** The manager closed or suspended: what is left waits for the next run. */
  stopped(): boolean;
}

export class JournalKeeper {
  /** Loading and restoring the journal (once); signals for unknown ids wait for it. */
  private restoring: Promise<void> | null = null;
  private restoreDone = false;
  /** Folders whose record could not be written (said once each). */
  private readonly folderWriteFailed = new Set<string>();

  constructor(
    private readonly host: JournalKeeperHost,
    private readonly journal: TransferJournal | null,
  ) {}

  get enabled(): boolean {
    return this.journal !== null;
  }

  /** While the journal is being restored, resolves when it is (else null). */
  restoringNow(): Promise<void> | null {
    return this.restoring !== null && !this.restoreDone ? this.restoring : null;
  }

  /**
   * The transfer ended: its record (and the private key in it) goes; once `after` settled
   * when given (a folder's file: after the folder's record counts it as done).
   */
  forget(entry: Entry, after?: Promise<unknown>): void {
    if (entry.journalled) void this.journal?.remove(entry.transfer.transferId, after).catch(() => undefined);
  }

  /** `peer`'s pinned keys now (recorded with a folder when it is agreed), if any. */
  pinOf(peer: string): PeerKeys | null {
    return this.host.peerKeys?.(peer) ?? null;
  }

  /**
   * Journals a folder transfer (folders.ts: once agreed, at each file offered and each file
   * done). Resolves when written; never rejects (a failed write is reported once per folder).
   * Resolves at once without a journal.
   */
  async saveFolder(state: FolderResumeState, peer: string, peerKeys: PeerKeys): Promise<void> {
    if (this.journal === null) return;
    try {
      await this.journal.saveFolder({ ...state, peer, peerKeys, savedMs: Date.now() });
    } catch (error) {
      if (this.folderWriteFailed.has(state.folderId)) return;
      this.folderWriteFailed.add(state.folderId);
      this.host.emit({
        type: 'error',
        code: error instanceof ChatError ? error.code : 'E_INTERNAL',
        message: `folder transfer ${state.folderId} could not be journalled (it will not survive a restart): ${error instanceof Error ? error.message : String(error)}`,
        details: { transfer: state.folderId, path: this.journal.folderFileOf(state.folderId) },
      });
    }
  }

  /** The folder transfer ended: its record goes. */
  forgetFolder(folderId: string): void {
    void this.journal?.removeFolder(folderId).catch(() => undefined);
  }

  /** Resolves once every write and delete queued so far is done. */
  async idle(): Promise<void> {
    await this.journal?.idle();
  }

  /**
   * After a restart: loads the journal and resumes every transfer in it (state `reconnecting`,
   * `restored: true` in its events and in /transfers). A record that cannot be used is
   * reported as an `error` event (E_CORRUPT_FILE, `details.path`) and skipped. Runs once per
   * manager; call it once logged in (the peer's keys are checked against the pin first:
   * E_KEY_CHANGED when they changed). Never rejects.
   */
  restoreAll(): Promise<void> {
    if (this.restoring === null) {
      this.restoring = this.loadAndRestore()
        .catch((error: unknown) => {
          this.host.emit({
            type: 'error',
            code: error instanceof ChatError ? error.code : 'E_INTERNAL',
            message: `the transfer journal could not be read: ${error instanceof Error ? error.message : String(error)}`,
            details: { path: this.journal?.dir ?? '' },
          });
        })
        .finally(() => {
          this.restoreDone = true;
        });
    }
    return this.restoring;
  }

  /**
   * Journals what the transfer needs to survive a restart (once accepted; again at each
   * session and when the peer's addresses change). Returns false when it cannot be journalled.
   */
  checkpoint(entry: Entry): boolean {
    if (this.journal === null || entry.finishedAt !== null) return false;
    const state = entry.transfer.resumeState();
    if (state === null) return false;
    entry.peerKeys ??= this.host.peerKeys?.(entry.peer) ?? null;
    if (entry.peerKeys === null) return false; // no pin: nothing to check a restart against
    entry.journalled = true;
    const record: TransferJournalRecord = { ...state, peer: entry.peer, peerKeys: entry.peerKeys, savedMs: Date.now(), ...(entry.folder !== undefined ? { folder: entry.folder } : {}) };
    this.journal.save(record).catch((error: unknown) => {
      if (entry.journalFailed) return;
      entry.journalFailed = true;
      this.host.emit({
        type: 'error',
        code: error instanceof ChatError ? error.code : 'E_INTERNAL',
        message: `transfer ${entry.transfer.transferId} could not be journalled (it will not survive a restart): ${error instanceof Error ? error.message : String(error)}`,
        details: { transfer: entry.transfer.transferId, path: this.journal?.fileOf(entry.transfer.transferId) ?? '' },
      });
    });
    return true;
  }

  private async loadAndRestore(): Promise<void> {
    if (this.journal === null) return;
    const { records, folders, problems } = await this.journal.load();
    for (const problem of problems) this.reportSkipped(problem.file, problem.error);
    for (const record of records) {
      if (this.host.stopped()) return; // closed meanwhile: the records wait for the next run
      try {
        const entry = this.host.restore(record, () => this.checkPeerKeys(record));
        if (entry !== null) entry.journalled = true;
      } catch (error) {
        await this.journal.remove(record.transferId).catch(() => undefined);
        this.reportSkipped(this.journal.fileOf(record.transferId), error);
      }
    }
    // After the files: a folder picks up the file it was on, if that one was restored.
    for (const record of folders) {
      if (this.host.stopped()) return;
      try {
        this.host.restoreFolder(record, () => this.checkPeerKeys(record));
      } catch (error) {
        await this.journal.removeFolder(record.folderId).catch(() => undefined);
        this.reportSkipped(this.journal.folderFileOf(record.folderId), error);
      }
    }
  }

  /** The peer's key must be the one the transfer was agreed with (pins, docs/crypto.md). */
  private async checkPeerKeys(record: { peer: string; peerKeys: PeerKeys }): Promise<void> {
    try {
      await this.host.checkRecipient(record.peer);
    } catch (error) {
      if (error instanceof ChatError && PEER_GONE_CODES.has(error.code)) throw new ChatError('E_PEER_GONE', `${record.peer} has no account any more`);
      throw error;
    }
    const now = this.host.peerKeys?.(record.peer);
    if (now === undefined || now.sign !== record.peerKeys.sign || now.box !== record.peerKeys.box) {
      throw new ChatError('E_KEY_CHANGED', `${record.peer}'s key is not the one this transfer was agreed with; it is not resumed`);
    }
  }

  private reportSkipped(file: string, error: unknown): void {
    const chatError = asChatError(error, 'E_CORRUPT_FILE');
    const kept = chatError.details.newer === true;
    this.host.emit({
      type: 'error',
      code: 'E_CORRUPT_FILE',
      message: `a transfer journal record was skipped${kept ? '' : ' and deleted'}: ${chatError.message}`,
      details: { path: file },
    });
  }
}
