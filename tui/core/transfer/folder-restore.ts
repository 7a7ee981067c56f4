import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError } from '../../../shared/errors.js';
import { sanitizeFileName } from '../../../shared/filename.js';
import { FolderPathChecker, walkedFileUnchanged } from './folder-manifest.js';
import { type Folder, newFolder } from './folder-state.js';
import type { FolderJournalRecord, FolderResumeState } from './journal.js';
import type { FileTransfer } from './transfer.js';

/**
 * A folder transfer across a restart of the client, both ways: the record journalled for it
 * ({@link folderRecord}), and, in a later run, the folder again from that record
 * ({@link restoredFolder}) and the checks it passes before it goes on ({@link recheckRestored}).
 * Going on (sending or waiting for the next file) is the live folder's, folders.ts.
 */

/** What the journal keeps of `folder`, saved in `dir` (journal.ts writes it with the peer and its keys). */
export function folderRecord(folder: Folder, dir: string): FolderResumeState {
  return {
    folderId: folder.id,
    role: folder.direction === 'out' ? 'sender' : 'receiver',
    name: folder.name,
    files: folder.files,
    size: folder.size,
    dir,
    entries: folder.entries,
    filesDone: folder.filesDone,
    current: folder.currentId,
  };
}

/**
 * The folder of `record` where the last run stopped (`restored: true`), every path checked
 * again as a peer's would be ({@link FolderPathChecker}). Throws E_CORRUPT_FILE when the record
 * does not hold together.
 */
export function restoredFolder(record: FolderJournalRecord): Folder {
  const corrupt = (why: string): never => {
    throw new ChatError('E_CORRUPT_FILE', `folder transfer ${record.folderId}: ${why}`);
  };
  let checker: FolderPathChecker;
  try {
    checker = new FolderPathChecker({ files: record.files, totalBytes: record.size });
    for (const entry of record.entries) checker.add(entry.path, entry.size);
  } catch (error) {
    return corrupt(error instanceof Error ? error.message : String(error));
  }
  const name = sanitizeFileName(record.name);
  if (!name.ok || (record.role === 'receiver' && name.name !== record.name)) corrupt('not a folder name');
  const folder = newFolder({
    id: record.folderId,
    direction: record.role === 'sender' ? 'out' : 'in',
    peer: record.peer,
    name: record.name,
    files: record.files,
    size: record.size,
    state: 'transferring',
    filesDone: record.filesDone,
    bytesDone: record.entries.slice(0, record.filesDone).reduce((n, e) => n + e.size, 0),
    dir: path.resolve(record.dir),
    entries: record.entries.map((e) => ({ ...e })),
    currentId: record.current,
    restored: true,
    peerKeys: record.peerKeys,
    nextIndex: record.entries.length,
  });
  folder.startBytes = folder.bytesDone;
  if (record.role === 'sender') {
    const root = folder.dir!;
    folder.walked = {
      root,
      name: record.name,
      // The paths as walked (checked above): relative, no "." or ".." component.
      files: record.entries.map((e) => ({ path: e.path, size: e.size, mtimeMs: e.mtimeMs ?? -1, absolute: path.join(root, ...e.path.split('/')) })),
      totalBytes: record.size,
      skipped: [],
    };
  } else {
    folder.checker = checker;
  }
  return folder;
}

/**
 * Before a restored folder goes on (after the peer's key passed): a sender's files still to
 * send are unchanged (E_FILE_CHANGED), a receiver's folder is still a folder and the file under
 * way (`child`, restored with it) is saved inside it (E_PATH_REFUSED).
 */
export async function recheckRestored(folder: Folder, child: FileTransfer | undefined): Promise<void> {
  if (folder.direction === 'out') {
    for (const file of folder.walked!.files.slice(folder.filesDone + (child !== undefined ? 1 : 0))) {
      if (!(await walkedFileUnchanged(folder.walked!.root, file.path, file.size, file.mtimeMs))) {
        throw new ChatError('E_FILE_CHANGED', `${file.path} changed (or is gone) since the folder was offered`);
      }
    }
  } else {
    const info = await fs.lstat(folder.dir!).catch(() => null);
    if (info === null || !info.isDirectory()) throw new ChatError('E_PATH_REFUSED', `${folder.dir} is not a folder any more`);
    const saving = child?.snapshot().filePath;
    if (saving !== undefined && saving !== null && path.relative(folder.dir!, saving).split(path.sep)[0] === '..') throw new ChatError('E_PATH_REFUSED', `${saving} is not inside ${folder.dir}`);
  }
}
