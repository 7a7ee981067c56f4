import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { generateIdentity, publicBundle, type Identity, type PublicKeyBundle } from '../../../../shared/crypto/identity.js';
import { toBase64 } from '../../../../shared/crypto/bytes.js';
import { KEY_PINS_FILE_NAME, KeyPins } from '../../../../tui/core/key-pins.js';
import { expectCode } from '../../../helpers/errors.js';
import { tempFolders } from '../../../helpers/temp.js';

const posix = process.platform !== 'win32';


const temp = tempFolders('securechat-pins-');

let bob: Identity;
let bobNew: Identity;
let bobThird: Identity;
let bobBundle: PublicKeyBundle;
let bobNewBundle: PublicKeyBundle;
let bobThirdBundle: PublicKeyBundle;
let clock = 1_700_000_000_000;
const now = () => clock;

test.before(async () => {
  [bob, bobNew, bobThird] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  bobBundle = await publicBundle(bob, 'bob');
  bobNewBundle = await publicBundle(bobNew, 'bob');
  bobThirdBundle = await publicBundle(bobThird, 'bob');
});

test.after(temp.removeAll);

test('an empty store writes nothing until the first pin', async () => {
  const dir = path.join(await temp.make(), 'data');
  const pins = await KeyPins.open(dir, { now });
  assert.is(pins.get('bob'), undefined);
  assert.is(pins.pending('bob'), undefined);
  assert.not.ok(pins.isVerified('bob'));
  assert.equal(pins.users(), []);
  assert.equal(await fs.readdir(dir), []);
});

test('new, same, changed, trust: the whole flow', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir, { now });

  assert.equal(await pins.observe('Bob', bobBundle), { status: 'new' });
  const pinned = pins.get('bob')!;
  assert.is(pinned.user, 'Bob');
  assert.equal(pinned.bundle, bobBundle);
  assert.is(pinned.verified, false);
  assert.is(pinned.pinnedMs, clock);
  assert.not.ok(pins.isVerified('bob'));
  assert.equal(pins.encryptionKey('bob'), bob.boxPublicKey);
  if (posix) assert.is((await fs.stat(pins.path)).mode & 0o777, 0o600);

  assert.equal(await pins.observe('bob', bobBundle), { status: 'same' });

  clock += 1000;
  const changed = await pins.observe('BOB', bobNewBundle);
  assert.equal(changed, { status: 'changed', previous: bobBundle, pending: bobNewBundle });
  assert.equal(pins.get('bob')!.bundle, bobBundle, 'the pin is not replaced');
  assert.equal(pins.pending('bob'), bobNewBundle);
  await expectCode('E_KEY_CHANGED', () => pins.encryptionKey('bob'));
  assert.equal(pins.senderKey('bob'), bob.boxPublicKey, 'incoming whispers are still checked against the pin');

  clock += 1000;
  const trusted = await pins.trust('bob');
  assert.equal(trusted.bundle, bobNewBundle);
  assert.is(trusted.verified, true);
  assert.is(trusted.verifiedMs, clock);
  assert.is(trusted.pending, undefined);
  assert.ok(pins.isVerified('Bob'));
  assert.is(pins.pending('bob'), undefined);
  assert.equal(pins.encryptionKey('bob'), bobNew.boxPublicKey);
  assert.equal(await pins.observe('bob', bobNewBundle), { status: 'same' });
  assert.equal(await pins.observe('bob', bobBundle), { status: 'changed', previous: bobNewBundle, pending: bobBundle });
  assert.not.ok(pins.isVerified('bob'), 'a pending change suspends verified');
});

test('trust without a pending key marks the pin verified (/verify then /trust)', async () => {
  const pins = await KeyPins.open(await temp.make(), { now });
  await pins.observe('bob', bobBundle);
  const record = await pins.trust('bob');
  assert.equal(record.bundle, bobBundle);
  assert.ok(pins.isVerified('bob'));
});

test('a second change replaces the pending key; the relay going back clears it', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir, { now });
  await pins.observe('bob', bobBundle);
  await pins.observe('bob', bobNewBundle);
  const again = await pins.observe('bob', bobNewBundle);
  assert.is(again.status, 'changed', 'still changed while pending');
  const third = await pins.observe('bob', bobThirdBundle);
  assert.equal(third, { status: 'changed', previous: bobBundle, pending: bobThirdBundle });
  assert.equal(pins.pending('bob'), bobThirdBundle);
  assert.equal(await pins.observe('bob', bobBundle), { status: 'same' });
  assert.is(pins.pending('bob'), undefined);
  assert.equal(pins.encryptionKey('bob'), bob.boxPublicKey);
  const reopened = await KeyPins.open(dir);
  assert.is(reopened.pending('bob'), undefined, 'the cleared pending key is persisted');
});

test('the same keys signed as version 2 replace a version 1 pin; a version 1 bundle served again does not undo it', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir, { now });
  await pins.observe('bob', bobBundle);
  const v2 = await publicBundle(bob, 'bob', 2);
  assert.equal(await pins.observe('bob', v2), { status: 'same' });
  assert.equal(pins.get('bob')?.bundle, v2);
  assert.equal(await pins.observe('bob', bobBundle), { status: 'same' }, 'no key change either');
  assert.equal(pins.get('bob')?.bundle, v2, 'still version 2');
  assert.equal((await KeyPins.open(dir)).get('bob')?.bundle, v2, 'on disk');
});

test('unknown users: E_NO_KEY', async () => {
  const pins = await KeyPins.open(await temp.make());
  await expectCode('E_NO_KEY', () => pins.trust('nobody'));
  await expectCode('E_NO_KEY', () => pins.encryptionKey('nobody'));
  await expectCode('E_NO_KEY', () => pins.senderKey('nobody'));
});

test('bad bundles are refused and nothing is pinned', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir);
  await expectCode('E_BAD_KEYS', () => pins.observe('alice', bobBundle)); // signed for bob
  await expectCode('E_BAD_KEYS', () => pins.observe('bob', { ...bobBundle, box: toBase64(bobNew.boxPublicKey) }));
  await expectCode('E_BAD_KEYS', () => pins.observe('bob', { nonsense: true }));
  await expectCode('E_BAD_KEYS', () => pins.observe('bad name', bobBundle));
  assert.equal(pins.users(), []);
  assert.equal(await fs.readdir(dir), []);
  // After a pin, a bad bundle does not count as a change either.
  await pins.observe('bob', bobBundle);
  await expectCode('E_BAD_KEYS', () => pins.observe('bob', { ...bobBundle, box: toBase64(bobNew.boxPublicKey) }));
  assert.is(pins.pending('bob'), undefined);
});

test('everything persists across reopen', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir, { now });
  const carol = await generateIdentity();
  const dave = await generateIdentity();
  await pins.observe('bob', bobBundle);
  await pins.observe('bob', bobNewBundle); // pending
  await pins.observe('Carol', await publicBundle(carol, 'carol'));
  await pins.trust('carol');
  await pins.observe('dave', await publicBundle(dave, 'dave'));

  const reopened = await KeyPins.open(dir, { now });
  assert.equal(reopened.users().sort(), ['Carol', 'bob', 'dave']);
  assert.equal(reopened.get('bob'), pins.get('bob'));
  assert.equal(reopened.pending('bob'), bobNewBundle);
  assert.ok(reopened.isVerified('CAROL'));
  assert.not.ok(reopened.isVerified('dave'));
  assert.equal(reopened.get('dave'), pins.get('dave'));
  await expectCode('E_KEY_CHANGED', () => reopened.encryptionKey('bob'));
  await reopened.trust('bob');
  assert.equal((await KeyPins.open(dir)).encryptionKey('bob'), bobNew.boxPublicKey);
  assert.equal(await fs.readdir(dir), [KEY_PINS_FILE_NAME], 'no temp files left');
});

test('records handed out are copies', async () => {
  const pins = await KeyPins.open(await temp.make());
  await pins.observe('bob', bobBundle);
  const record = pins.get('bob')!;
  record.verified = true;
  record.bundle.box = 'tampered';
  assert.not.ok(pins.isVerified('bob'));
  assert.equal(pins.get('bob')!.bundle, bobBundle);
});

test('concurrent observes are serialised and all reach the file', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir);
  const people = await Promise.all(Array.from({ length: 12 }, async (_, i) => {
    const identity = await generateIdentity();
    return { name: `user${i}`, bundle: await publicBundle(identity, `user${i}`) };
  }));
  const results = await Promise.all(people.map((p) => pins.observe(p.name, p.bundle)));
  assert.ok(results.every((r) => r.status === 'new'));
  const reopened = await KeyPins.open(dir);
  assert.is(reopened.users().length, 12);
});

test('many new pins in one turn are one file write; each resolves once durable; a change among them stays pending', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir, { now });
  await pins.observe('bob', bobBundle);
  assert.is(pins.writes, 1);
  const people = await Promise.all(Array.from({ length: 40 }, async (_, i) => {
    const identity = await generateIdentity();
    return { name: `user${i}`, bundle: await publicBundle(identity, `user${i}`) };
  }));
  const observed = Promise.all([...people.map((p) => pins.observe(p.name, p.bundle)), pins.observe('bob', bobNewBundle)]);
  // Nothing is visible before it is on disk.
  assert.is(pins.get('user0'), undefined);
  assert.is(pins.pending('bob'), undefined);
  const results = await observed;
  assert.equal(results.slice(0, 40).map((r) => r.status), Array(40).fill('new'));
  assert.is(results[40].status, 'changed');
  assert.is(pins.writes, 2, 'one write for the whole turn');
  assert.equal(pins.get('user39')!.bundle, people[39].bundle);
  await expectCode('E_KEY_CHANGED', () => pins.encryptionKey('bob'));
  const reopened = await KeyPins.open(dir);
  assert.is(reopened.users().length, 41);
  assert.equal(reopened.pending('bob'), bobNewBundle);
  assert.equal(reopened.get('bob')!.bundle, bobBundle, 'the old key is still the pin');
});

test('a failed batch write fails every change of the batch; memory and disk stay as they were', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir);
  await pins.observe('bob', bobBundle);
  const people = await Promise.all(Array.from({ length: 5 }, async (_, i) => {
    const identity = await generateIdentity();
    return { name: `user${i}`, bundle: await publicBundle(identity, `user${i}`) };
  }));
  await fs.rm(pins.path);
  await fs.mkdir(pins.path);
  await fs.writeFile(path.join(pins.path, 'blocker'), '');
  const outcomes = await Promise.allSettled([pins.trust('bob'), ...people.map((p) => pins.observe(p.name, p.bundle))]);
  assert.equal(outcomes.map((o) => o.status), Array(6).fill('rejected'));
  assert.equal(pins.users(), ['bob']);
  assert.not.ok(pins.isVerified('bob'));
  await fs.rm(pins.path, { recursive: true });
  await Promise.all(people.map((p) => pins.observe(p.name, p.bundle)));
  assert.is((await KeyPins.open(dir)).users().length, 6);
});

test('killed in the middle of writing a batch: the file is the old one or the new one, whole, with every pin reported durable', async () => {
  const dir = await temp.make();
  const batch = 100;
  const child = spawn(process.execPath, [fileURLToPath(new URL('../../../helpers/pins-child.js', import.meta.url)), dir, String(batch), '20'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let durable = 0;
  let lines = 0;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    for (const match of text.matchAll(/durable (\d+)/g)) {
      durable = Number(match[1]);
      lines += 1;
    }
  });
  const deadline = Date.now() + 60_000;
  // After two batches are durable, kill it as soon as a temp file shows a write under way.
  let killedMidWrite = false;
  while (Date.now() < deadline && child.exitCode === null) {
    if (lines >= 2 && (await fs.readdir(dir)).some((name) => name.endsWith('.tmp'))) {
      child.kill('SIGKILL');
      killedMidWrite = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, lines >= 2 ? 0 : 20));
  }
  if (child.exitCode === null && !killedMidWrite) child.kill('SIGKILL');
  await exited;
  assert.ok(killedMidWrite, 'the child was killed while a write was under way');
  const reopened = await KeyPins.open(dir);
  const count = reopened.users().length;
  assert.is(count % batch, 0, `all or nothing per batch (${count} pins)`);
  assert.ok(count >= durable, `every pin reported durable is on disk (${count} >= ${durable})`);
  assert.ok(count <= durable + batch, 'at most the batch being written besides');
});

test('a corrupt pins file gives E_CORRUPT_FILE and is left untouched', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir, { now });
  await pins.observe('bob', bobBundle);
  const good = JSON.parse(await fs.readFile(pins.path, 'utf8'));
  const record = good.pins.bob;
  const variants: unknown[] = [
    '', '{', 'null', '[]',
    { ...good, kind: 'x' },
    { ...good, v: 2 },
    { ...good, pins: [] },
    { ...good, pins: null },
    { ...good, pins: { bob: { ...record, user: 'carol' } } },
    { ...good, pins: { BOB: record } },
    { ...good, pins: { bob: { ...record, bundle: { ...record.bundle, box: 'AAAA' } } } },
    { ...good, pins: { bob: { ...record, verified: 'yes' } } },
    { ...good, pins: { bob: { ...record, pinnedMs: -1 } } },
    { ...good, pins: { bob: { ...record, pending: { bundle: record.bundle } } } },
    { ...good, pins: { bob: { ...record, pending: { bundle: { v: 1 }, seenMs: 1 } } } },
  ];
  for (const variant of variants) {
    const text = typeof variant === 'string' ? variant : JSON.stringify(variant);
    await fs.writeFile(pins.path, text);
    await expectCode('E_CORRUPT_FILE', () => KeyPins.open(dir));
    assert.is(await fs.readFile(pins.path, 'utf8'), text);
  }
});

test('a pins file readable by others is tightened with a warning', async () => {
  if (!posix) return;
  const dir = await temp.make();
  const pins = await KeyPins.open(dir);
  await pins.observe('bob', bobBundle);
  await fs.chmod(pins.path, 0o644);
  const reopened = await KeyPins.open(dir);
  assert.is(reopened.warnings.length, 1);
  assert.is((await fs.stat(pins.path)).mode & 0o777, 0o600);
  // Writes keep the mode.
  await reopened.trust('bob');
  assert.is((await fs.stat(pins.path)).mode & 0o777, 0o600);
});

test('a failed write leaves memory as it was', async () => {
  const dir = await temp.make();
  const pins = await KeyPins.open(dir);
  await pins.observe('bob', bobBundle);
  // A non-empty folder where the file should be makes the rename fail, even for root.
  await fs.rm(pins.path);
  await fs.mkdir(pins.path);
  await fs.writeFile(path.join(pins.path, 'blocker'), '');
  await pins.trust('bob').then(() => assert.unreachable('the write should fail'), () => undefined);
  assert.not.ok(pins.isVerified('bob'));
  assert.equal(await fs.readdir(dir), [KEY_PINS_FILE_NAME], 'the temp file was removed');
  await fs.rm(pins.path, { recursive: true });
  await pins.trust('bob');
  assert.ok(pins.isVerified('bob'));
  assert.ok((await KeyPins.open(dir)).isVerified('bob'));
});

test.run();
