import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError } from '../../../shared/errors.js';
import { PARTIAL_SUFFIX, alternativeNames, resolveInside } from '../../../shared/filename.js';
import type { SenderFile } from './sessions.js';
import type { TransferResumeState } from './transfer-types.js';

/**
 * The file on this side of a transfer, before and between sessions: the sender's file
 * checked for the offer; the receiver's folder checked, its partial file reserved,
 * and, after a restart, how much of it is there. (Writing, hashing and moving into place run
 * in sessions.ts, file-sink.ts and place-file.ts.) Room file downloads reserve their partial
 * file here too; a journalled transfer's paths are checked here after a restart.
 */

/**
 * Sender: a regular, readable file. It is not hashed here: the sender hashes the bytes as it
 * sends them and gives the whole-file hash at the end of the last session (sessions.ts),
 * so `/send` offers at once instead of reading the file twice. `hash` stays '' until then.
 * E_FILE_UNREADABLE.
 */
export async function openSenderFile(filePath: string, signal?: AbortSignal): Promise<SenderFile> {
  const absolute = path.resolve(filePath);
  if (signal?.aborted === true) throw new ChatError('E_CANCELLED');
  const before = await fs.stat(absolute).catch(() => null);
  if (before === null || !before.isFile()) throw new ChatError('E_FILE_UNREADABLE', `${filePath} is not a readable file`);
  await fs.access(absolute, fs.constants.R_OK).catch(() => {
    throw new ChatError('E_FILE_UNREADABLE', `${filePath} cannot be read`);
  });
  return { path: absolute, size: before.size, mtimeMs: before.mtimeMs, hash: '' };
}

async function statfsFree(directory: string): Promise<number> {
  const stats = await fs.statfs(directory);
  return Number(stats.bavail) * Number(stats.bsize);
}

/** Receiver: `folder` is a folder with `size` bytes free (`freeSpace` default: statfs). E_PATH_REFUSED, E_NO_SPACE. */
export async function checkSaveFolder(folder: string, size: number, freeSpace: (directory: string) => Promise<number> = statfsFree, shown = folder): Promise<void> {
  const stat = await fs.stat(folder).catch(() => null);
  if (stat === null || !stat.isDirectory()) throw new ChatError('E_PATH_REFUSED', `${shown} is not a folder`);
  const free = await freeSpace(folder);
  if (free < size) throw new ChatError('E_NO_SPACE', `${size} bytes needed, ${free} free in ${shown}`);
}

/**
 * Receiver: reserves `<name>.part` (exclusive create, 0600) beside a free `<name>`, trying
 * `name (1).ext`... Returns the partial file and the name it will take. E_PATH_REFUSED.
 */
export async function reservePartialFile(folder: string, name: string): Promise<{ partPath: string; name: string }> {
  for (const candidate of alternativeNames(name)) {
    const finalPath = resolveInside(folder, candidate);
    const partPath = finalPath + PARTIAL_SUFFIX;
    const taken = await fs.stat(finalPath).then(() => true, () => false);
    if (taken) continue;
    try {
      const handle = await fs.open(partPath, 'wx', 0o600);
      await handle.close();
      return { partPath, name: candidate };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new ChatError('E_PATH_REFUSED', `cannot create ${partPath}: ${(error as Error).message}`);
    }
  }
  throw new ChatError('E_PATH_REFUSED', `no free name for ${name} in ${folder}`);
}

/**
 * Receiver after a restart: the bytes in the partial file to resume from (0 when it is gone
 * or longer than the offer: the worker empties it). E_PATH_REFUSED when it is no longer a
 * regular file or cannot be read.
 */
export async function partialFileOffset(partPath: string, size: number): Promise<number> {
  const stat = await fs.lstat(partPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new ChatError('E_PATH_REFUSED', `cannot read ${partPath}: ${error.message}`);
  });
  if (stat !== null && !stat.isFile()) throw new ChatError('E_PATH_REFUSED', `${partPath} is no longer a regular file`);
  return stat === null || stat.size > size ? 0 : stat.size;
}

/**
 * A journalled transfer's local file, checked before it is used (the record is read like
 * network input): a sender's file by absolute path with the transfer's name; a receiver's
 * partial file exactly `<folder>/<name>.part` in an absolute folder. E_CORRUPT_FILE.
 */
export function restoredLocalFile(
  state: Pick<TransferResumeState, 'role' | 'name' | 'size' | 'hash' | 'file' | 'receive'>,
): { file: SenderFile } | { directory: string; partPath: string } {
  if (state.role === 'sender') {
    const file = state.file;
    if (file === undefined || !path.isAbsolute(file.path) || path.basename(file.path) !== state.name) {
      throw new ChatError('E_CORRUPT_FILE', 'a restored sender needs the absolute path of its file');
    }
    return { file: { path: file.path, size: state.size, mtimeMs: file.mtimeMs, hash: state.hash } };
  }
  const receive = state.receive;
  if (receive === undefined || !path.isAbsolute(receive.directory)) throw new ChatError('E_CORRUPT_FILE', 'a restored receiver needs its folder');
  let expectedPart: string;
  try {
    expectedPart = resolveInside(receive.directory, state.name) + PARTIAL_SUFFIX;
  } catch {
    throw new ChatError('E_CORRUPT_FILE', 'a restored receiver has a file name that is not a plain name');
  }
  if (receive.partPath !== expectedPart) throw new ChatError('E_CORRUPT_FILE', 'a restored partial file must be <folder>/<name>.part');
  return { directory: path.resolve(receive.directory), partPath: expectedPart };
}
