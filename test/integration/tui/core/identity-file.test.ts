import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { generateIdentity, publicBundle, verifyPublicBundle } from '../../../../shared/crypto/identity.js';
import { toBase64 } from '../../../../shared/crypto/bytes.js';
import {
  IDENTITY_FILE_NAME, identityFilePath, KDF_MODERATE, loadOrCreateIdentity, type KdfLimits,
} from '../../../../tui/core/identity-file.js';
import { expectCode } from '../../../helpers/errors.js';
import { tempFolders } from '../../../helpers/temp.js';

/** libsodium's minimum argon2id cost: keeps the tests fast; one test checks the real default. */
const CHEAP: KdfLimits = { opsLimit: 1, memLimitBytes: 8192 };
const posix = process.platform !== 'win32';


const temp = tempFolders('securechat-idfile-');

async function modeOf(file: string): Promise<number> {
  return (await fs.stat(file)).mode & 0o777;
}

test.after(temp.removeAll);

test('first run creates one 0600 file in a new 0700 folder; the next run loads the same keys', async () => {
  const dir = path.join(await temp.make(), 'nested', 'data');
  const first = await loadOrCreateIdentity(dir);
  assert.ok(first.created);
  assert.not.ok(first.protected);
  assert.is(first.path, path.join(dir, IDENTITY_FILE_NAME));
  assert.is(identityFilePath(dir), first.path);
  assert.equal(first.warnings, []);
  assert.equal(await fs.readdir(dir), [IDENTITY_FILE_NAME], 'no temp files left');
  if (posix) {
    assert.is(await modeOf(first.path), 0o600);
    assert.is(await modeOf(dir), 0o700);
  }
  const json = JSON.parse(await fs.readFile(first.path, 'utf8'));
  assert.is(json.v, 1);
  assert.is(json.kind, 'securechat-identity');
  assert.is(json.public.box, toBase64(first.identity.boxPublicKey));

  const second = await loadOrCreateIdentity(dir);
  assert.not.ok(second.created);
  assert.equal(second.identity, first.identity);
  // The loaded identity works: its bundle verifies.
  await verifyPublicBundle('alice', await publicBundle(second.identity, 'alice'));
});

test('a file readable by others is tightened to 0600 with a warning', async () => {
  if (!posix) return;
  const dir = await temp.make();
  const { path: file } = await loadOrCreateIdentity(dir);
  await fs.chmod(file, 0o644);
  const loaded = await loadOrCreateIdentity(dir);
  assert.is(loaded.warnings.length, 1);
  assert.is(await modeOf(file), 0o600);
  assert.equal((await loadOrCreateIdentity(dir)).warnings, []);
});

test('passphrase: round trip, secrets not in the clear', async () => {
  const dir = await temp.make();
  const created = await loadOrCreateIdentity(dir, { passphrase: 'correct horse battery staple', kdf: CHEAP });
  assert.ok(created.created);
  assert.ok(created.protected);
  const text = await fs.readFile(created.path, 'utf8');
  assert.not.ok(text.includes(toBase64(created.identity.boxSecretKey)));
  assert.not.ok(text.includes(toBase64(created.identity.signSecretKey)));
  assert.not.ok(text.includes(toBase64(created.identity.signSecretKey.subarray(0, 30))));
  const json = JSON.parse(text);
  assert.is(json.secret, undefined);
  assert.is(json.sealed.kdf, 'argon2id13');
  assert.is(json.sealed.opsLimit, CHEAP.opsLimit);

  const loaded = await loadOrCreateIdentity(dir, { passphrase: 'correct horse battery staple' });
  assert.not.ok(loaded.created);
  assert.ok(loaded.protected);
  assert.equal(loaded.identity, created.identity);
});

test('wrong or missing passphrase gives E_PASSPHRASE and leaves the file alone', async () => {
  const dir = await temp.make();
  const { path: file } = await loadOrCreateIdentity(dir, { passphrase: 'right one', kdf: CHEAP });
  const before = await fs.readFile(file, 'utf8');
  await expectCode('E_PASSPHRASE', () => loadOrCreateIdentity(dir, { passphrase: 'wrong one' }));
  const missing = await expectCode('E_PASSPHRASE', () => loadOrCreateIdentity(dir));
  assert.is(missing.details.needsPassphrase, true);
  await expectCode('E_PASSPHRASE', () => loadOrCreateIdentity(dir, { passphrase: '' }));
  assert.is(await fs.readFile(file, 'utf8'), before);
});

test('passphrases are compared after Unicode normalisation (NFC)', async () => {
  const dir = await temp.make();
  const composed = 'caf\u00e9 secret';
  const decomposed = 'cafe\u0301 secret';
  const created = await loadOrCreateIdentity(dir, { passphrase: composed, kdf: CHEAP });
  const loaded = await loadOrCreateIdentity(dir, { passphrase: decomposed });
  assert.equal(loaded.identity, created.identity);
});

test('the default protection is argon2id MODERATE, stored in the file', async () => {
  const dir = await temp.make();
  const created = await loadOrCreateIdentity(dir, { passphrase: 'slow but sure' });
  const json = JSON.parse(await fs.readFile(created.path, 'utf8'));
  assert.is(json.sealed.opsLimit, KDF_MODERATE.opsLimit);
  assert.is(json.sealed.memLimitBytes, KDF_MODERATE.memLimitBytes);
  assert.equal((await loadOrCreateIdentity(dir, { passphrase: 'slow but sure' })).identity, created.identity);
});

test('a passphrase for an unprotected file is reported, not silently applied', async () => {
  const dir = await temp.make();
  const created = await loadOrCreateIdentity(dir);
  const loaded = await loadOrCreateIdentity(dir, { passphrase: 'late idea' });
  assert.not.ok(loaded.protected);
  assert.is(loaded.warnings.length, 1);
  assert.equal(loaded.identity, created.identity);
});

test('bad KDF limits for a new file are a usage error', async () => {
  const dir = await temp.make();
  await expectCode('E_USAGE', () => loadOrCreateIdentity(dir, { passphrase: 'x', kdf: { opsLimit: 0, memLimitBytes: 8192 } }));
  await expectCode('E_USAGE', () => loadOrCreateIdentity(dir, { passphrase: 'x', kdf: { opsLimit: 1, memLimitBytes: 4 * 1024 * 1024 * 1024 } }));
});

test('a corrupt file gives E_CORRUPT_FILE and is never overwritten', async () => {
  const dir = await temp.make();
  const { path: file, identity } = await loadOrCreateIdentity(dir);
  const good = JSON.parse(await fs.readFile(file, 'utf8'));
  const other = await generateIdentity();
  const sealedDir = await temp.make();
  const sealedGood = JSON.parse(await fs.readFile((await loadOrCreateIdentity(sealedDir, { passphrase: 'p', kdf: CHEAP })).path, 'utf8'));
  const damagedSign = Buffer.from(good.secret.sign, 'base64');
  damagedSign[50] ^= 1;
  const variants: unknown[] = [
    '',
    '{ not json',
    'null',
    '[]',
    { ...good, kind: 'something-else' },
    { ...good, v: 2 },
    { ...good, public: undefined },
    { ...good, public: { ...good.public, box: toBase64(other.boxPublicKey) } },
    { ...good, public: { ...good.public, sign: 'short' } },
    { ...good, secret: undefined },
    { ...good, secret: { ...good.secret, box: toBase64(other.boxSecretKey) } },
    { ...good, secret: { ...good.secret, sign: damagedSign.toString('base64') } },
    { ...good, secret: { ...good.secret, box: good.secret.box + ' ' } },
    { ...good, sealed: sealedGood.sealed },
    { ...sealedGood, sealed: { ...sealedGood.sealed, kdf: 'scrypt' } },
    { ...sealedGood, sealed: { ...sealedGood.sealed, memLimitBytes: 64 * 1024 * 1024 * 1024 } },
    { ...sealedGood, sealed: { ...sealedGood.sealed, opsLimit: 1000 } },
    { ...sealedGood, sealed: { ...sealedGood.sealed, salt: 'AAAA' } },
    { ...sealedGood, sealed: { ...sealedGood.sealed, box: sealedGood.sealed.box.slice(8) } },
    { ...sealedGood, sealed: null },
  ];
  for (const variant of variants) {
    const text = typeof variant === 'string' ? variant : JSON.stringify(variant);
    await fs.writeFile(file, text, { mode: 0o600 });
    await expectCode('E_CORRUPT_FILE', () => loadOrCreateIdentity(dir, { passphrase: 'p' }));
    assert.is(await fs.readFile(file, 'utf8'), text, 'left untouched');
  }
  // Restoring the original makes it load again.
  await fs.writeFile(file, JSON.stringify(good));
  assert.equal((await loadOrCreateIdentity(dir)).identity, identity);
});

test('a damaged sealed box cannot be told from a wrong passphrase: E_PASSPHRASE', async () => {
  const dir = await temp.make();
  const { path: file } = await loadOrCreateIdentity(dir, { passphrase: 'p', kdf: CHEAP });
  const json = JSON.parse(await fs.readFile(file, 'utf8'));
  const box = Buffer.from(json.sealed.box, 'base64');
  box[20] ^= 1;
  json.sealed.box = box.toString('base64');
  await fs.writeFile(file, JSON.stringify(json));
  await expectCode('E_PASSPHRASE', () => loadOrCreateIdentity(dir, { passphrase: 'p' }));
});

test('a folder or an oversized file where the key file should be is refused', async () => {
  const dir = await temp.make();
  await fs.mkdir(path.join(dir, IDENTITY_FILE_NAME));
  await expectCode('E_CORRUPT_FILE', () => loadOrCreateIdentity(dir));
  const dir2 = await temp.make();
  await fs.writeFile(path.join(dir2, IDENTITY_FILE_NAME), 'x'.repeat(100_000), { mode: 0o600 });
  await expectCode('E_CORRUPT_FILE', () => loadOrCreateIdentity(dir2));
});

test('two processes starting at once end up with one identity', async () => {
  const dir = await temp.make();
  const results = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateIdentity(dir)));
  assert.is(results.filter((r) => r.created).length, 1);
  for (const result of results) assert.equal(result.identity, results[0].identity);
  assert.equal(await fs.readdir(dir), [IDENTITY_FILE_NAME]);
});

test.run();
