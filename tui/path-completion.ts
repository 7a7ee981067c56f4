import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Local paths for Tab completion after `/send USER `, `/upload `, `/accept ID ` and
 * `/download ID `: the entries of the folder named by what was typed so far that start with
 * its last part. Folders come back with a trailing `/`; with `foldersOnly` (a DIR argument)
 * nothing else does. Synchronous on purpose (one small readdir per Tab press); hidden entries
 * only when the typed part starts with a dot; at most `limit` results.
 */
export function listPathCompletions(word: string, options: { cwd?: string; home?: string; limit?: number; foldersOnly?: boolean } = {}): string[] {
  const cwd = options.cwd ?? process.cwd();
  const home = options.home ?? os.homedir();
  const limit = options.limit ?? 200;
  const slash = word.lastIndexOf('/');
  const typedDir = slash >= 0 ? word.slice(0, slash + 1) : '';
  const partial = slash >= 0 ? word.slice(slash + 1) : word;
  let folder: string;
  if (typedDir === '') folder = cwd;
  else if (typedDir === '~/' || typedDir.startsWith('~/')) folder = path.join(home, typedDir.slice(2));
  else folder = path.resolve(cwd, typedDir);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    if (!entry.name.startsWith(partial)) continue;
    if (entry.name.startsWith('.') && !partial.startsWith('.')) continue;
    // Names with spaces or control characters cannot be completed word by word.
    if (/[\s\p{Cc}]/u.test(entry.name)) continue;
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink()) {
      try {
        isDir = fs.statSync(path.join(folder, entry.name)).isDirectory();
      } catch {
        isDir = false;
      }
    }
    if (!isDir && options.foldersOnly === true) continue;
    out.push(typedDir + entry.name + (isDir ? '/' : ''));
    if (out.length >= limit) break;
  }
  return out.sort();
}
