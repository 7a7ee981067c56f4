import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { toBase64 } from '../../../../shared/crypto/bytes.js';
import { publicBundle } from '../../../../shared/crypto/identity.js';
import { verifyPrekeyBundle } from '../../../../shared/crypto/prekeys.js';
import { parseBody, Session } from '../../../../shared/crypto/session.js';
import { PREKEY_LIMITS, SESSION_STORE_LIMITS } from '../../../../shared/limits.js';
import { openDeviceFile } from '../../../../tui/core/device-file.js';
import { PrekeyFile } from '../../../../tui/core/prekey-file.js';
import { SessionStore } from '../../../../tui/core/session-store.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { rejectsWith } from '../../../helpers/errors.js';
import { fixedIdentity, TestDevice } from '../../../helpers/session-devices.js';
import { tempDir } from '../../../helpers/temp.js';

/** The client's session state files on a real disk: device.json, prekeys.json, sessions/. */
async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir('securechat-session-files-');
  try {
    await run(path.join(dir.path, 'user'));
  } finally {
    await dir.remove();
  }
}

const KDF = { opsLimit: 1, memLimitBytes: 8192 };

/** The records in the sessions journal: what comes before the zeros it is filled with. */
async function journalRecords(file: string): Promise<string> {
  return (await fs.readFile(file, 'utf8')).split('\0', 1)[0]!;
}
const DAY = 24 * 3600_000;
const utf8 = new TextEncoder();

/** The (sending chain, message number) a body was sealed at: the same pair twice would be the same message key. */
function position(body: string): string {
  const header = parseBody(body).header;
  return `${toBase64(header.subarray(1, 33))}:${new DataView(header.buffer, header.byteOffset).getUint32(37)}`;
}
const numberOf = (body: string): number => Number(position(body).split(':')[1]);

/**
 * Holds every fdatasync of this process until `open()` (each then runs for real), so a test can
 * see what a send waits for, and what a power loss at that moment would leave: the records
 * written before the held fdatasync, of which only those synced before reach the disk.
 */
async function holdFdatasync(dir: string): Promise<{ open: () => void; close: () => void; restore: () => void }> {
  const probe = await fs.open(path.join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const real = proto.datasync;
  let gate: Promise<void> = Promise.resolve();
  let release = () => {};
  proto.datasync = async function (this: unknown) {
    await gate;
    return real.call(this);
  };
  return {
    close: () => void (gate = new Promise<void>((resolve) => (release = resolve))),
    open: () => release(),
    restore: () => {
      release();
      proto.datasync = real;
    },
  };
}

/** Whether `promise` settles within `ms` (a send that waits for a held fdatasync does not). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
}

test('device.json: made once, the same id on every open; with a passphrase the state box seals', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const first = await openDeviceFile(dir, undefined);
    const again = await openDeviceFile(dir, undefined);
    assert.is(again.device, first.device);
    assert.match(first.device, /^[A-Za-z0-9_-]{16}$/);
    assert.is((await fs.stat(path.join(dir, 'device.json'))).mode & 0o777, 0o600);
    const plain = first.box.encode('k', { a: 1 });
    assert.equal(first.box.decode('k', plain, 'f'), { a: 1 });
    const sealed = (await openDeviceFile(dir, { passphrase: 'pass', kdf: KDF })).box;
    const text = sealed.encode('k', { secret: 'xyz' });
    assert.not.ok(text.includes('xyz'));
    assert.equal(sealed.decode('k', text, 'f'), { secret: 'xyz' });
    const wrong = (await openDeviceFile(dir, { passphrase: 'other', kdf: KDF })).box;
    assert.throws(() => wrong.decode('k', text, 'f'), (e: { code?: string }) => e.code === 'E_CORRUPT_FILE');
    assert.throws(() => sealed.decode('other-kind', text, 'f'), (e: { code?: string }) => e.code === 'E_CORRUPT_FILE');
    assert.throws(() => first.box.decode('k', text, 'f'), (e: { code?: string }) => e.code === 'E_CORRUPT_FILE', 'sealed needs the key');
  }),
));

test('prekeys.json: written before the upload is handed out; rotation after 7 days, the old one kept 14; one-time keys bounded', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const { box } = await openDeviceFile(dir, undefined);
    const identity = await fixedIdentity('ann/files');
    const keys = await PrekeyFile.open(dir, box, []);
    const t0 = Date.UTC(2026, 0, 1);
    const up1 = await keys.prepareUpload(identity, 'ann', 'd1', 100, t0);
    assert.is(up1.oneTime.length, PREKEY_LIMITS.maxOneTimePerUpload);
    // What was handed out is on disk: a fresh open knows every private key of the upload.
    const reopened = await PrekeyFile.open(dir, box, []);
    assert.ok(reopened.signedPrekey(up1.signedPrekey.id));
    assert.ok(up1.oneTime.every((k) => toBase64(reopened.oneTimePrekey(k.id)!.publicKey) === k.key));
    // The bundle the relay would serve passes the initiator's checks.
    const bundle = { device: 'd1', keys: await publicBundle(identity, 'ann'), signedPrekey: up1.signedPrekey, oneTime: up1.oneTime[0] };
    await verifyPrekeyBundle('ann', bundle);

    assert.ok(keys.uploadDue(t0), 'unconfirmed one-time prekeys');
    keys.published(up1.oneTime.map((k) => k.id));
    assert.not.ok(keys.uploadDue(t0 + 6 * DAY), 'all confirmed, the signed prekey not due');
    assert.ok(keys.uploadDue(t0 + 8 * DAY), 'the signed prekey is due');
    const mtime = (await fs.stat(path.join(dir, 'prekeys.json'))).mtimeMs;
    const same = await keys.prepareUpload(identity, 'ann', 'd1', 0, t0 + 6 * DAY);
    assert.is((await fs.stat(path.join(dir, 'prekeys.json'))).mtimeMs, mtime, 'nothing changed: not written again');
    assert.is(same.signedPrekey.id, up1.signedPrekey.id, 'not due yet');
    assert.is(same.oneTime.length, 0, 'confirmed ones are not sent again');
    const rotated = await keys.prepareUpload(identity, 'ann', 'd1', 0, t0 + 8 * DAY);
    assert.is.not(rotated.signedPrekey.id, up1.signedPrekey.id);
    assert.ok(keys.signedPrekey(up1.signedPrekey.id), 'the replaced one is kept for late first messages');
    await keys.prepareUpload(identity, 'ann', 'd1', 0, t0 + 8 * DAY + PREKEY_LIMITS.signedPrekeyKeepMs);
    assert.is(keys.signedPrekey(up1.signedPrekey.id), undefined, 'deleted after signedPrekeyKeepMs');

    for (let i = 0; i < 6; i += 1) {
      const up = await keys.prepareUpload(identity, 'ann', 'd1', 100, t0 + 9 * DAY);
      keys.published(up.oneTime.map((k) => k.id));
    }
    const data = JSON.parse(await fs.readFile(path.join(dir, 'prekeys.json'), 'utf8')) as { data: { oneTime: unknown[] } };
    assert.is(data.data.oneTime.length, PREKEY_LIMITS.maxLocalOneTime);
    assert.is(keys.oneTimePrekey(up1.oneTime[0]!.id), undefined, 'the oldest went first');

    const ek = sodium.crypto_box_keypair().publicKey;
    const used = rotated.oneTime[0]?.id ?? (await keys.prepareUpload(identity, 'ann', 'd1', 1, t0 + 9 * DAY)).oneTime[0]!.id;
    await keys.accepted(used, ek);
    const after = await PrekeyFile.open(dir, box, []);
    assert.is(after.oneTimePrekey(used), undefined, 'deleted once its first message decrypted');
    assert.ok(after.seenEphemeral(ek));
  }),
));

test('sessions/: a contact file per peer, sessions per device bounded, the preferred first; damage is E_CORRUPT_FILE', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const { box } = await openDeviceFile(dir, undefined);
    const ann = await TestDevice.create('ann', 'a1', 20);
    const bob = await TestDevice.create('bob', 'b1', 20);
    const store = await SessionStore.open(dir, box, []);
    const peer = await store.peer('Bob');
    const made: Session[] = [];
    for (let i = 0; i < SESSION_STORE_LIMITS.maxSessionsPerDevice + 2; i += 1) {
      const session = await Session.initiate(ann.me, await verifyPrekeyBundle('bob', await bob.bundle()));
      made.push(session);
      peer.add(session, { sign: 's', box: 'b' });
    }
    assert.is(peer.sessions.length, SESSION_STORE_LIMITS.maxSessionsPerDevice, 'the least preferred went');
    const body = made.at(-1)!.seal(new TextEncoder().encode('hi'));
    await Promise.all([peer.commit(), peer.commit(), peer.commit()]);
    const journal = path.join(dir, 'sessions.journal');
    assert.is((await fs.stat(journal)).mode & 0o777, 0o600);
    assert.is((await journalRecords(journal)).split('\n').length - 1, 2, 'the three commits of one tick: two writes (group commit)');
    const file = path.join(dir, 'sessions', 'bob.json');
    assert.not.ok(await fs.stat(file).then(() => true, () => false), 'not compacted yet: the state is in the journal only');

    // The next start (as after a crash: the first store never compacted) replays the journal.
    const loaded = await (await SessionStore.open(dir, box, [])).peer('bob');
    assert.is((await fs.stat(file)).mode & 0o777, 0o600);
    assert.is(await journalRecords(journal), '', 'replayed into the contact file, then emptied');
    assert.is(loaded.user, 'Bob');
    const best = [...loaded.sessions].sort((a, b) => b.rank - a.rank)[0]!;
    assert.is(toBase64(best.session.ephemeral), toBase64(made.at(-1)!.ephemeral));
    // The saved state continues where it was: the next message is the one after `body`.
    const next = best.session.seal(new TextEncoder().encode('again'));
    assert.is(await bob.receive('ann', body), 'hi');
    assert.is(await bob.receive('ann', next), 'again');

    await fs.writeFile(file, '{"v":1,"kind":"securechat-sessions","data":{"user":"bob"}}');
    await rejectsWith((await SessionStore.open(dir, box, [])).peer('bob'), 'E_CORRUPT_FILE');
  }),
));

test('sessions.journal: a torn last record is dropped (its send never happened), the state before it stands; damage before a good record is E_CORRUPT_FILE', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const { box } = await openDeviceFile(dir, undefined);
    const ann = await TestDevice.create('ann', 'a1', 20);
    const bob = await TestDevice.create('bob', 'b1', 20);
    const store = await SessionStore.open(dir, box, []);
    const peer = await store.peer('bob');
    const session = await Session.initiate(ann.me, await verifyPrekeyBundle('bob', await bob.bundle()));
    peer.add(session, { sign: 's', box: 'b' });
    const first = session.seal(new TextEncoder().encode('one'));
    await peer.commit();
    const journal = path.join(dir, 'sessions.journal');
    const durable = await journalRecords(journal);
    // The next seal's record torn by a crash half way through its write: no fdatasync returned,
    // so its body never left; the next start must continue from the durable state.
    session.seal(new TextEncoder().encode('never sent'));
    await peer.commit();
    const whole = await journalRecords(journal);
    const torn = whole.slice(durable.length, durable.length + Math.floor((whole.length - durable.length) / 2));
    await fs.writeFile(journal, durable + torn + '\0'.repeat(4096));
    const warnings: string[] = [];
    const reopened = await (await SessionStore.open(dir, box, warnings)).peer('bob');
    const again = reopened.sessions[0]!.session.seal(new TextEncoder().encode('two'));
    assert.is(await bob.receive('ann', first), 'one');
    assert.is(await bob.receive('ann', again), 'two', 'the durable state continued (the torn record is not replayed)');
    await reopened.commit();

    // A bad record followed by a good one is not a torn write: left untouched.
    const good = await journalRecords(journal);
    await fs.writeFile(journal, `{"k":"bob","s":\n${good}`);
    await rejectsWith(SessionStore.open(dir, box, []), 'E_CORRUPT_FILE');
    assert.is(await fs.readFile(journal, 'utf8'), `{"k":"bob","s":\n${good}`);
  }),
));

test('sessions.journal: compacted into the contact file once past journalCompactBytes, then continued; a restart continues after the last send', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const { box } = await openDeviceFile(dir, undefined);
    const ann = await TestDevice.create('ann', 'a1', 20);
    const bob = await TestDevice.create('bob', 'b1', 20);
    const peer = await (await SessionStore.open(dir, box, [])).peer('bob');
    const session = await Session.initiate(ann.me, await verifyPrekeyBundle('bob', await bob.bundle()));
    peer.add(session, { sign: 's', box: 'b' });
    const journal = path.join(dir, 'sessions.journal');
    const file = path.join(dir, 'sessions', 'bob.json');
    let compacted = false;
    for (let i = 0; i < 2000 && !compacted; i += 1) {
      const body = session.seal(new TextEncoder().encode(`m${i}`));
      await peer.commit();
      assert.is(await bob.receive('ann', body), `m${i}`); // in step, so no key is skipped
      compacted = await fs.stat(file).then(() => true, () => false);
    }
    assert.ok(compacted, 'the contact file was written by a compaction');
    assert.ok((await journalRecords(journal)).length < SESSION_STORE_LIMITS.journalCompactBytes, 'the journal started again');
    const next = session.seal(new TextEncoder().encode('after'));
    await peer.commit();
    // A crash now: the next start finds the contact file and the journal's records after it.
    const again = (await (await SessionStore.open(dir, box, [])).peer('bob')).sessions[0]!.session;
    const third = again.seal(new TextEncoder().encode('restarted'));
    assert.is(await bob.receive('ann', next), 'after');
    assert.is(await bob.receive('ann', third), 'restarted');
  }),
));

test('sessions.journal: a send leaves once its record is written; past the reservation of the last durable record it waits for its fdatasync; a power loss jumps the chain to that reservation', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const { box } = await openDeviceFile(dir, undefined);
    const ann = await TestDevice.create('ann', 'a1', 20);
    const bob = await TestDevice.create('bob', 'b1', 20);
    const held = await holdFdatasync(dir);
    try {
      const store = await SessionStore.open(dir, box, []);
      const peer = await store.peer('bob');
      const stored = peer.add(await Session.initiate(ann.me, await verifyPrekeyBundle('bob', await bob.bundle())), { sign: 's', box: 'b' });
      const send = async (text: string): Promise<string> => {
        const body = stored.session.seal(utf8.encode(text));
        await peer.commitSend(stored, stored.session.sendingChain()!);
        return body;
      };
      const journal = path.join(dir, 'sessions.journal');
      const sent: string[] = [await send('m0')]; // the journal is made (and synced) at the first record
      await (await peer.commit()).sync();
      const durable = await journalRecords(journal);
      held.close();
      // The chain's reservation in the durable record is 1 + sendReserve: sends below it leave
      // with their records written, none of them synced.
      const reserve = 1 + SESSION_STORE_LIMITS.sendReserve;
      for (let n = 1; n < reserve; n += 1) {
        const sending = send(`m${n}`);
        assert.ok(await settlesWithin(sending, 2_000), `send ${n} left without an fdatasync`);
        sent.push(await sending);
      }
      assert.ok((await journalRecords(journal)).length > durable.length, 'their records are in the file (the page cache)');
      // The next one is past the durable reservation: it waits for its own record's fdatasync.
      const waiting = send('past the reservation');
      assert.not.ok(await settlesWithin(waiting, 300), 'held until its record is durable');
      // The power goes now: only the durable records reach the disk, and a torn piece of the next.
      const written = await journalRecords(journal);
      const lostDir = `${dir}-power-loss`;
      await fs.cp(dir, lostDir, { recursive: true });
      await fs.writeFile(path.join(lostDir, 'sessions.journal'), durable + written.slice(durable.length, durable.length + 40) + '\0'.repeat(4096));
      held.open();
      assert.is(numberOf(await waiting), reserve, 'it left once durable');

      await store.flush();
      const restartedStore = await SessionStore.open(lostDir, box, []);
      const again = (await restartedStore.peer('bob')).sessions[0]!.session;
      assert.is(again.sendingChain()!.next, reserve, 'the chain jumped to the durable reservation');
      const after = again.seal(utf8.encode('after the power loss'));
      assert.ok(numberOf(after) >= reserve);
      const positions = [...sent, after].map(position);
      assert.is(new Set(positions).size, positions.length, 'no (chain, number) used twice');
      for (const [i, body] of sent.entries()) assert.is(await bob.receive('ann', body), `m${i}`);
      assert.is(await bob.receive('ann', after), 'after the power loss', 'the numbers jumped over are skipped keys to the peer');
      await restartedStore.flush();
      await fs.rm(lostDir, { recursive: true, force: true });
    } finally {
      held.restore();
    }
  }),
));

test('sessions.journal: an fdatasync nobody waits for comes within journalSyncMs; writes are not held behind one; a clean close leaves exact reservations, so the next start jumps over nothing', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const { box } = await openDeviceFile(dir, undefined);
    const ann = await TestDevice.create('ann', 'a1', 20);
    const bob = await TestDevice.create('bob', 'b1', 20);
    const held = await holdFdatasync(dir);
    try {
      const store = await SessionStore.open(dir, box, []);
      const peer = await store.peer('bob');
      const stored = peer.add(await Session.initiate(ann.me, await verifyPrekeyBundle('bob', await bob.bundle())), { sign: 's', box: 'b' });
      const first = stored.session.seal(utf8.encode('one'));
      const lazy = await peer.commit();
      assert.not.ok(await settlesWithin(lazy.durable, 100), 'nobody waits for it: not synced at once');
      assert.ok(await settlesWithin(lazy.durable, SESSION_STORE_LIMITS.journalSyncMs + 2_000), 'but within journalSyncMs');
      held.close();
      const durable = (await peer.commit()).sync();
      assert.not.ok(await settlesWithin(durable, 200), 'its fdatasync is held');
      const second = stored.session.seal(utf8.encode('two'));
      assert.ok(await settlesWithin(peer.commit(), 2_000), 'the next record is written meanwhile');
      held.open();
      await durable;
      await store.flush();
      const reopenedStore = await SessionStore.open(dir, box, []);
      const reopened = (await reopenedStore.peer('bob')).sessions[0]!.session;
      assert.is(reopened.sendingChain()!.next, 2, 'the exact next number: nothing jumped');
      const third = reopened.seal(utf8.encode('three'));
      await reopenedStore.flush();
      for (const [body, text] of [[first, 'one'], [second, 'two'], [third, 'three']] as const) assert.is(await bob.receive('ann', body), text);
    } finally {
      held.restore();
    }
  }),
));

test('killed with SIGKILL right after a body is handed over: the next start never seals at a (chain, number) that left', plainErrors(() =>
  withDir(async (dir) => {
    await fs.mkdir(dir, { recursive: true });
    const burst = SESSION_STORE_LIMITS.sendReserve + 8; // crosses a raise of the reservation on the last chain
    const child = spawn(process.execPath, [fileURLToPath(new URL('../../../helpers/session-child.js', import.meta.url)), dir, '3', String(burst)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => void (out += text));
    const exit = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    assert.is(exit, 'SIGKILL');
    const lines = out.trim().split('\n');
    const sent = lines.filter((l) => l.startsWith('body ')).map((l) => l.slice('body '.length));
    const bobJson = lines.find((l) => l.startsWith('bob '))!.slice('bob '.length);
    assert.is(sent.length, 3 + burst);

    // The next start on the folder as the kill left it (the page cache: every record written).
    const { box } = await openDeviceFile(dir, undefined);
    const store = await SessionStore.open(dir, box, []);
    const peer = await store.peer('bob');
    const stored = peer.sessions[0]!;
    const after = stored.session.seal(utf8.encode('after the kill'));
    await peer.commitSend(stored, stored.session.sendingChain()!);
    const positions = [...sent, after].map(position);
    assert.is(new Set(positions).size, positions.length, 'no (chain, number) used twice');
    assert.ok(numberOf(after) > numberOf(sent.at(-1)!), 'after the last one that left, on the same chain');
    // Bob (as the child left him, before the last body) opens the last one and the next.
    const bob = await TestDevice.create('bob', 'b1', 20);
    bob.sessions.set('ann/a1', Session.fromJSON(JSON.parse(bobJson)));
    assert.is(await bob.receive('ann', sent.at(-1)!), `burst ${burst - 1}`);
    assert.is(await bob.receive('ann', after), 'after the kill');
    await store.flush();
  }),
));

test.run();
