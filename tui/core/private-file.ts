import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ChatError } from '../../shared/errors.js';

/**
 * Small helpers for the client's private files (identity keys, key pins): owner-only modes,
 * bounded reads, atomic writes. Shared by identity-file.ts and key-pins.ts.
 */

/** Owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Owner only, for folders we create. */
export const PRIVATE_DIR_MODE = 0o700;

const checksModes = process.platform !== 'win32';

/**
 * Reads a small private file. Returns `undefined` if it does not exist. A file readable or
 * writable by group or others is tightened to 0600 and reported in `warnings`. Throws
 * `E_CORRUPT_FILE` if it is not a regular file or is larger than `maxBytes`.
 */
export async function readPrivateFile(file: string, maxBytes: number, warnings: string[]): Promise<string | undefined> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (!stat.isFile()) throw new ChatError('E_CORRUPT_FILE', `${file} is not a regular file`, { path: file });
  if (stat.size > maxBytes) throw new ChatError('E_CORRUPT_FILE', `${file} is larger than ${maxBytes} bytes`, { path: file });
  if (checksModes && (stat.mode & 0o077) !== 0) {
    await fs.chmod(file, PRIVATE_FILE_MODE);
    warnings.push(`${file} was readable by other users (mode ${(stat.mode & 0o777).toString(8)}); tightened to 600`);
  }
  return fs.readFile(file, 'utf8');
}

/** Creates `dir` (and parents) owner-only if it is missing; an existing folder is left as it is. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** Writes `text` to a new 0600 temp file beside `file`, flushed to disk; returns its path. */
async function writeTemp(file: string, text: string): Promise<string> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.chmod(PRIVATE_FILE_MODE); // the umask may have cleared bits we asked for; never loosened
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}

/** fsync of a folder: makes a rename or a new name in it durable (best effort: not every platform can). */
export async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; not possible on every platform, so best effort.
  try {
    const handle = await fs.open(dir, 'r');
    try { await handle.sync(); } finally { await handle.close(); }
  } catch { /* best effort */ }
}

/** Replaces `file` atomically (temp file + rename), mode 0600: readers see the old or the new text. */
export async function writePrivateFileAtomic(file: string, text: string): Promise<void> {
  const temp = await writeTemp(file, text);
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDir(path.dirname(file));
}

/**
 * Creates `file` atomically with `text`, mode 0600, but never replaces an existing file: the temp
 * file is hard-linked into place, which fails if the name exists. Returns false (and writes
 * nothing) if `file` already exists.
 */
export async function createPrivateFileExclusive(file: string, text: string): Promise<boolean> {
  const temp = await writeTemp(file, text);
  try {
    await fs.link(temp, file);
    await syncDir(path.dirname(file));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code && NO_HARD_LINKS.has(code)) return createExclusiveDirect(file, text);
    throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/** Errors from file systems without hard links (FAT, some network and FUSE mounts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Fallback without hard links: exclusive create in place (a crash mid-write leaves a short file). */
async function createExclusiveDirect(file: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await fs.open(file, 'wx', PRIVATE_FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.chmod(PRIVATE_FILE_MODE);
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}
