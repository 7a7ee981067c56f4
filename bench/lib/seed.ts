/**
 * Puts accounts straight into a relay's LevelDB before the relay starts, so a scenario can
 * have a thousand logged-in users without a thousand argon2id hashes at the real cost first.
 * Seeded accounts share one password hash made with the *minimum* argon2id parameters (the
 * parameters live inside the hash string, so verifying them is cheap too); accounts the
 * scenario measures are registered through the relay at its real parameters instead.
 */
import sodium from 'libsodium-wrappers-sumo';
import { ARGON2_MIN } from '../../relay/passwords.js';
import { LevelStore } from '../../relay/level-store.js';

export async function seedAccounts(dataDir: string, names: readonly string[], password: string): Promise<void> {
  await sodium.ready;
  const hash = sodium.crypto_pwhash_str(password, ARGON2_MIN.opsLimit, ARGON2_MIN.memLimitBytes);
  const store = await LevelStore.open(dataDir);
  try {
    for (const name of names) await store.createAccount(name, hash);
  } finally {
    await store.close();
  }
}
