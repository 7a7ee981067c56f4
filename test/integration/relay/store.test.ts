import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../helpers/errors.js';
import { LevelStore } from '../../../relay/level-store.js';

// LevelDB-only behaviour. What every store must do is in test/integration/relay/store-contract.test.ts.

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'securechat-store-'));
  dirs.push(dir);
  return dir;
}

test.after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('open creates the data folder 0700 with LevelDB in db/, and a second open is E_DATA_LOCKED', async () => {
  const dir = join(await tempDir(), 'nested', 'relay');
  const store = await LevelStore.open(dir);
  try {
    assert.is((await stat(dir)).mode & 0o777, 0o700);
    assert.ok((await stat(join(dir, 'db'))).isDirectory());
    await rejectsWith(LevelStore.open(dir), 'E_DATA_LOCKED');
  } finally {
    await store.close();
  }
  // The lock is released on close.
  const again = await LevelStore.open(dir);
  await again.close();
  await again.close(); // idempotent
});

test('expired tokens are pruned at open', async () => {
  const dir = await tempDir();
  let now = 1_000;
  let store = await LevelStore.open(dir, { now: () => now });
  await store.createAccount('alice', 'h');
  const short = await store.issueToken('alice', 10);
  const long = await store.issueToken('alice', 10_000);
  await store.close();
  now += 100;
  store = await LevelStore.open(dir, { now: () => now });
  try {
    assert.is(await store.checkToken('alice', short), false);
    assert.is(await store.checkToken('alice', long), true);
  } finally {
    await store.close();
  }
});

test.run();
