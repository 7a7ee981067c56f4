import fs from 'node:fs/promises';
import path from 'node:path';
import { ChatError } from '../../../shared/errors.js';
import { alternativeNames, resolveInside } from '../../../shared/filename.js';

/**
 * Moves a checked partial file to the first free name in `directory` (`name`, `name (1)`,
 * ...) and returns its path. Never replaces an existing file: link() fails when the target
 * exists; where hard links are not supported (some network and FAT file systems) it checks,
 * then renames.
 */
export async function moveIntoPlace(part: string, directory: string, name: string): Promise<string> {
  for (const candidate of alternativeNames(name)) {
    const target = resolveInside(directory, candidate);
    try {
      await fs.link(part, target);
      await fs.unlink(part);
      return target;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'ENOSYS') throw error;
      if (await fs.stat(target).then(() => true, () => false)) continue;
      await fs.rename(part, target);
      return target;
    }
  }
  throw new ChatError('E_PATH_REFUSED', `no free name for ${name} in ${path.resolve(directory)}`);
}
