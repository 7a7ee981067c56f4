import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay, type RelayOptions, type RunningRelay } from '../../relay/server.js';

/** Cheap argon2id so tests spend their time on behaviour, not hashing. */
export const CHEAP_HASHING = { workers: 1, opsLimit: 1, memLimitBytes: 8192 };

export async function tempDir(prefix = 'securechat-test-'): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A real relay on 127.0.0.1, port 0, with a real LevelDB in `dataDir`. */
export function testRelay(dataDir: string, options: Partial<RelayOptions> = {}): Promise<RunningRelay> {
  return startRelay({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    registration: 'open',
    passwordHashing: CHEAP_HASHING,
    ...options,
  });
}
