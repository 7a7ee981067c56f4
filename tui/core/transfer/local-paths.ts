import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Local paths as a user types them: `~` expansion, and where downloads go by default. */

/** ~/Downloads when it is a folder, else the working folder. */
export function defaultDownloadDir(home: string = os.homedir(), cwd: string = process.cwd()): string {
  const downloads = path.join(home, 'Downloads');
  try {
    if (fs.statSync(downloads).isDirectory()) return downloads;
  } catch {
    // no Downloads folder
  }
  return cwd;
}

/** `~/x` -> home/x; anything else resolved against the working folder. */
export function expandPath(input: string, home: string = os.homedir()): string {
  if (input === '~') return home;
  if (input.startsWith('~/')) return path.join(home, input.slice(2));
  return path.resolve(input);
}
