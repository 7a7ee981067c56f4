import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../helpers/errors.js';
import { LevelStore } from '../../../relay/level-store.js';
import { tempFolders } from '../../helpers/temp.js';

// LevelDB-only behaviour. What every store must do is in test/integration/relay/store-contract.test.ts.

const temp = tempFolders('securechat-store-');

test.after(temp.removeAll);

test('open creates the data folder 0700 with LevelDB in db/, and a second open is E_DATA_LOCKED', async () => {
  const dir = join(await temp.make(), 'nested', 'relay');
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
  const dir = await temp.make();
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
