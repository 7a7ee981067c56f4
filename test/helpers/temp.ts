/** Temporary folders for tests, under the OS temp folder. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh folder and the way to remove it. */
export async function tempDir(prefix = 'securechat-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A fresh folder that the caller (or the OS) removes. */
export async function makeTempDir(prefix = 'securechat-transfer-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Fresh folders for one test file, removed together at its end:
 * `const temp = tempFolders('securechat-x-'); test.after(temp.removeAll);`
 */
export function tempFolders(prefix: string): { make: () => Promise<string>; track: (path: string) => void; removeAll: () => Promise<void> } {
  const made: string[] = [];
  return {
    make: async () => {
      const path = await mkdtemp(join(tmpdir(), prefix));
      made.push(path);
      return path;
    },
    /** Something else to remove at the end (a file written beside the folders). */
    track: (path) => void made.push(path),
    removeAll: async () => {
      await Promise.all(made.splice(0).map((path) => rm(path, { recursive: true, force: true })));
    },
  };
}
