import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError } from '../../../shared/errors.js';
import { sanitizeFileName } from '../../../shared/filename.js';
import { FOLDER_LIMITS } from '../../../shared/limits.js';

/**
 * The files of a folder transfer: walking the sender's folder, and checking the paths a
 * receiver is offered one by one (a hostile peer may offer anything). Paths travel as
 * relative, `/`-separated strings (`2024/june/a.jpg`); a receiver never uses them as given:
 * each component goes through `sanitizeFileName` (shared/filename.ts) and must not collide
 * with another, so every file lands inside the folder it created.
 */

export interface FolderLimits {
  maxFiles: number;
  maxPathBytes: number;
  maxDepth: number;
  maxTotalBytes: number;
}

/** One file of the folder: its relative path (`/`-separated) and size in bytes. */
export interface FolderEntry {
  path: string;
  size: number;
}

/** What the sender found: the files to send, in order, and what it left out and why. */
export interface WalkedFolder {
  root: string;
  name: string;
  /** Each with its modification time when walked: a file changed since is not sent (E_FILE_CHANGED). */
  files: Array<FolderEntry & { absolute: string; mtimeMs: number }>;
  totalBytes: number;
  /** Symbolic links (never followed) and special files (sockets, FIFOs, devices); empty folders are not sent. */
  skipped: Array<{ path: string; why: 'symlink' | 'special' }>;
}

/**
 * Sender: the regular files under `root`, depth first in name order, without following any
 * symbolic link (a link is left out whether it points inside or outside the folder). Throws
 * E_FILE_UNREADABLE (not a folder, unreadable), E_FILE_TOO_LARGE or E_PATH_REFUSED when the
 * folder breaks {@link FOLDER_LIMITS} (too many files, too deep, a path too long).
 */
export async function walkFolder(root: string, limits: FolderLimits = FOLDER_LIMITS): Promise<WalkedFolder> {
  const absolute = path.resolve(root);
  const stat = await fs.lstat(absolute).catch(() => null);
  if (stat === null || !stat.isDirectory()) throw new ChatError('E_FILE_UNREADABLE', `${root} is not a readable folder`);
  const out: WalkedFolder = { root: absolute, name: path.basename(absolute), files: [], totalBytes: 0, skipped: [] };
  const walk = async (dir: string, relative: string[]): Promise<void> => {
    let names: string[];
    try {
      names = (await fs.readdir(dir)).sort();
    } catch (error) {
      throw new ChatError('E_FILE_UNREADABLE', `cannot read ${dir}: ${(error as Error).message}`);
    }
    for (const name of names) {
      const full = path.join(dir, name);
      const rel = [...relative, name];
      const info = await fs.lstat(full);
      if (info.isSymbolicLink()) out.skipped.push({ path: rel.join('/'), why: 'symlink' });
      else if (info.isDirectory()) {
        if (rel.length >= limits.maxDepth) throw new ChatError('E_PATH_REFUSED', `${rel.join('/')} is more than ${limits.maxDepth} folders deep`);
        await walk(full, rel);
      } else if (info.isFile()) {
        const entry = { path: rel.join('/'), size: info.size, absolute: full, mtimeMs: info.mtimeMs };
        if (Buffer.byteLength(entry.path) > limits.maxPathBytes) throw new ChatError('E_PATH_REFUSED', `${entry.path} is a path longer than ${limits.maxPathBytes} bytes`);
        out.files.push(entry);
        out.totalBytes += info.size;
        if (out.files.length > limits.maxFiles) throw new ChatError('E_FILE_TOO_LARGE', `${root} holds more than ${limits.maxFiles} files`);
        if (out.totalBytes > limits.maxTotalBytes) throw new ChatError('E_FILE_TOO_LARGE', `${root} holds more than ${limits.maxTotalBytes} bytes`);
      } else out.skipped.push({ path: rel.join('/'), why: 'special' });
    }
  };
  await walk(absolute, []);
  if (out.files.length === 0) throw new ChatError('E_FILE_UNREADABLE', `${root} holds no file to send`);
  return out;
}

function refuse(message: string): never {
  throw new ChatError('E_PATH_REFUSED', `folder path refused: ${message}`);
}

/** Case- and normalisation-insensitive key: two names a Mac or Windows disk would take for one. */
function collisionKey(components: readonly string[]): string {
  return components.map((c) => c.normalize('NFC').toLowerCase()).join('/');
}

/**
 * Receiver: checks the paths of one offered folder as they come (each file's offer carries
 * its path), against the counts the folder offer announced and {@link FOLDER_LIMITS}:
 * relative, no empty, `.` or `..` component, no backslash, no NUL, each component
 * sanitized, no two paths the same once sanitized and case-folded, no file where another
 * path needs a folder (`a` and `a/b`), not more files or bytes than announced. Throws
 * E_PATH_REFUSED or E_FILE_TOO_LARGE.
 */
export class FolderPathChecker {
  private readonly files = new Set<string>();
  private readonly folders = new Set<string>();
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly announced: { files: number; totalBytes: number },
    private readonly limits: FolderLimits = FOLDER_LIMITS,
  ) {
    if (announced.files < 1 || announced.files > limits.maxFiles) throw new ChatError('E_FILE_TOO_LARGE', `a folder of ${announced.files} files is not accepted (at most ${limits.maxFiles})`);
    if (announced.totalBytes > limits.maxTotalBytes) throw new ChatError('E_FILE_TOO_LARGE', `a folder of ${announced.totalBytes} bytes is not accepted`);
  }

  /** The sanitized components of `raw` (folders, then the file name); records it. */
  add(raw: unknown, size: number): string[] {
    const components = folderPathComponents(raw, this.limits);
    const key = collisionKey(components);
    if (this.files.has(key) || this.folders.has(key)) refuse(`${JSON.stringify(raw)} collides with another path of the folder`);
    for (let i = 1; i < components.length; i++) {
      if (this.files.has(collisionKey(components.slice(0, i)))) refuse(`${JSON.stringify(raw)} needs a folder where the folder has a file`);
    }
    if (this.count + 1 > this.announced.files) throw new ChatError('E_FILE_TOO_LARGE', `more files than the ${this.announced.files} offered`);
    if (this.bytes + size > this.announced.totalBytes) throw new ChatError('E_FILE_TOO_LARGE', 'more bytes than the folder offer announced');
    // Recorded only once it passed: a refused path leaves the checker as it was.
    this.count += 1;
    this.bytes += size;
    this.files.add(key);
    for (let i = 1; i < components.length; i++) this.folders.add(collisionKey(components.slice(0, i)));
    return components;
  }
}

/**
 * The sanitized components of one relative path, checked on its own (relative, `/`-separated,
 * no empty, `.` or `..` component, no backslash or NUL, within the depth and length limits, each
 * component a valid file name); throws E_PATH_REFUSED. {@link FolderPathChecker.add} adds the
 * checks against the other paths of the folder.
 */
export function folderPathComponents(raw: unknown, limits: FolderLimits = FOLDER_LIMITS): string[] {
  if (typeof raw !== 'string' || raw.length === 0) refuse('not a path');
  if (Buffer.byteLength(raw) > limits.maxPathBytes) refuse(`longer than ${limits.maxPathBytes} bytes`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) refuse('an absolute path');
  if (raw.includes('\\') || raw.includes('\u0000')) refuse('a backslash or NUL in it');
  const parts = raw.split('/');
  if (parts.length > limits.maxDepth) refuse(`more than ${limits.maxDepth} folders deep`);
  return parts.map((part) => {
    if (part === '' || part === '.' || part === '..') refuse(`an empty, "." or ".." component in ${JSON.stringify(raw)}`);
    const checked = sanitizeFileName(part);
    if (!checked.ok) refuse(checked.reason);
    return checked.name;
  });
}

/**
 * Sender: whether the file at `relative` (a path as walked, checked by the caller) under `root`
 * is still the regular file that was walked: the same size and modification time, and no
 * symbolic link on the way (the walk never followed one). Used before each file is offered
 * and when a folder is restored after a restart.
 */
export async function walkedFileUnchanged(root: string, relative: string, size: number, mtimeMs: number): Promise<boolean> {
  let dir = root;
  const parts = relative.split('/');
  for (const [i, part] of parts.entries()) {
    const next = path.join(dir, part);
    if (path.dirname(next) !== dir) return false;
    const info = await fs.lstat(next).catch(() => null);
    if (info === null) return false;
    if (i < parts.length - 1 ? !info.isDirectory() : !info.isFile() || info.size !== size || info.mtimeMs !== mtimeMs) return false;
    dir = next;
  }
  return true;
}

/** Checks a whole list of paths at once (tests, and a sender checking itself). */
export function checkFolderPaths(entries: readonly FolderEntry[], limits: FolderLimits = FOLDER_LIMITS): string[][] {
  const checker = new FolderPathChecker({ files: entries.length, totalBytes: entries.reduce((n, e) => n + e.size, 0) }, limits);
  return entries.map((e) => checker.add(e.path, e.size));
}

/**
 * Receiver: makes (or finds, made by us earlier) the folders of `components` under `root`,
 * one level at a time, refusing anything on the way that is not a real folder (a symbolic
 * link planted between two files would otherwise lead out). Returns the file's folder.
 */
export async function makeFolders(root: string, components: readonly string[]): Promise<string> {
  let dir = root;
  for (const part of components.slice(0, -1)) {
    const next = path.join(dir, part);
    if (path.dirname(next) !== dir) refuse('a component leaves its folder');
    await fs.mkdir(next, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw new ChatError('E_PATH_REFUSED', `cannot make ${next}: ${error.message}`);
    });
    const info = await fs.lstat(next);
    if (!info.isDirectory()) refuse(`${next} is not a folder`);
    dir = next;
  }
  return dir;
}
