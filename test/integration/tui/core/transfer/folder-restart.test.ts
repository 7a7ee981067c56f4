/**
 * Folder transfers that survive a restart of either client: a real relay, real ChatClients
 * whose data and config folders live in the test's temp folder, real files. One side's client
 * is closed in the middle of the folder's big second file as a dying process would leave it
 * (`close({ suspendTransfers: true })`: the peer is not told, the journal and the partial file
 * stay); a new ChatClient on the same folders logs in and the folder completes: every file's
 * hash is checked, the file under way resumes from its partial file, and no file is sent twice
 * (one transfer per file across both runs). Also: a sender whose files changed while it was
 * down fails the folder with E_FILE_CHANGED, and a folder record with a hostile path is refused.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TransferConstants } from '../../../../../tui/core/transfer/constants.js';
import { folderJournalFileName, journalFileName } from '../../../../../tui/core/transfer/journal.js';
import { plainErrors } from '../../../../helpers/core-helpers.js';
import type { Recorder } from '../../../../helpers/recorder.js';
import { type RelayTestContext, withRelayPerTest } from '../../../../helpers/relay.js';
import { type Side, journalDirOf, startSide } from '../../../../helpers/restart-clients.js';
import { fileTree, sha256OfFile, exists, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const MB = 1024 * 1024;
const BIG_BYTES = 24 * MB;
/** Stop a side once this much of the big file has gone through (far from its end). */
const STOP_AFTER_BYTES = 2 * MB;

type Ctx = RelayTestContext;
const spec = suite<Ctx>('folder transfers survive a restart of either client');
withRelayPerTest(spec, 'securechat-folder-restart-');

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  spec(name, plainErrors(handler));
}

/** A client of `user` through the relay only; `again`: a later run, logging in. */
function start(ctx: Ctx, user: string, again = false, constants: Partial<TransferConstants> = {}): Promise<Side> {
  return startSide(ctx, user, { direct: false, again, constants: { RELAY_DELAY_MS: 200, ...constants } });
}

function journalDir(ctx: Ctx, user: string): string {
  return journalDirOf(ctx.dir.path, user);
}

/** A folder of four files; the second (in walk order) is the big one. */
async function makeAlbum(ctx: Ctx): Promise<string> {
  const src = path.join(ctx.dir.path, 'album');
  await fs.mkdir(path.join(src, 'b-raw'), { recursive: true });
  await writeTestFile(src, 'a-small.jpg', 200_000);
  await writeTestFile(path.join(src, 'b-raw'), 'big.raw', BIG_BYTES);
  await writeTestFile(path.join(src, 'b-raw'), 'note.txt', 5_000);
  await writeTestFile(src, 'c-last.jpg', 300_000);
  return src;
}

/**
 * ann sends the album to bob, bob accepts; `stopping`'s client is closed (suspended) once the
 * big file has moved STOP_AFTER_BYTES. Resolves with the folder id and the big file's id.
 */
async function sendAndStop(ctx: Ctx, ann: Side, bob: Side, stopping: 'ann' | 'bob'): Promise<{ src: string; folderId: string; bigId: string }> {
  const src = await makeAlbum(ctx);
  const sent = await ann.client.sendFile('bob', src);
  const offer = await bob.rec.waitFor('folder-offer', (e) => e.id === sent.id);
  const side = stopping === 'ann' ? ann : bob;
  const stopped = side.rec
    .waitFor('transfer-state', (e) => e.folder === sent.id && e.name === 'big.raw' && e.state === 'transferring')
    .then(
      (state) =>
        new Promise<string>((resolve, reject) => {
          const transfer = side.client.transfers.get(state.id)!;
          const onProgress = (p: { bytes: number; totalBytes: number }): void => {
            if (p.bytes < STOP_AFTER_BYTES || p.bytes >= p.totalBytes) return;
            transfer.off('progress', onProgress);
            side.client.close({ suspendTransfers: true }).then(() => resolve(state.id), reject);
          };
          transfer.on('progress', onProgress);
        }),
    );
  await bob.client.acceptTransfer(offer.id);
  const bigId = await stopped;
  return { src, folderId: sent.id, bigId };
}

/** Transfer ids seen per file name in these recorders' events for the folder. */
function idsByName(folderId: string, ...recs: Recorder[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const rec of recs) {
    for (const e of rec.of('transfer-state')) {
      if (e.folder !== folderId) continue;
      if (!out.has(e.name)) out.set(e.name, new Set());
      out.get(e.name)!.add(e.id);
    }
  }
  return out;
}

/** The folder completed on both ends with every hash right; the big file resumed; nothing sent twice; no record left. */
async function checkCompleted(ctx: Ctx, src: string, folderId: string, bigId: string, runs: { first: Side; restarted: Side; survivor: Side }): Promise<void> {
  const { first, restarted, survivor } = runs;
  const [restartedDone, survivorDone] = await Promise.all([
    restarted.rec.waitFor('folder-done', (e) => e.id === folderId),
    survivor.rec.waitFor('folder-done', (e) => e.id === folderId),
  ]);
  const received = restartedDone.direction === 'in' ? restartedDone : survivorDone;
  assert.equal(await fileTree(received.dir), await fileTree(src), 'every file arrived with the right hash');
  assert.is(received.files, 4);

  // The restarted side said so, in JSON (folder-state.restored) as in /transfers.
  const states = restarted.rec.of('folder-state').filter((e) => e.id === folderId);
  assert.ok(states.length > 0 && states.every((e) => e.restored === true), 'every folder-state of the restarted side says restored');
  assert.is(states[0].filesDone, 1, 'picked up after the first file');
  const row = restarted.client.listTransfers().find((t) => t.id === folderId);
  assert.equal([row?.state, row?.restored, row?.folder], ['completed', true, { files: 4, filesDone: 4 }]);

  // The big file resumed (restored, from its partial file) on a new session, not from byte 0.
  const bigStates = restarted.rec.of('transfer-state').filter((e) => e.id === bigId);
  assert.is(bigStates[0]?.restored, true);
  const firstProgress = restarted.rec.of('transfer-progress').find((e) => e.id === bigId);
  assert.ok(firstProgress !== undefined && firstProgress.bytes > 0, `resumed from byte ${firstProgress?.bytes}`);
  const bigRow = restarted.client.listTransfers().find((t) => t.id === bigId);
  assert.ok((bigRow?.sessions ?? 0) >= 2, `sessions ${bigRow?.sessions}`);

  // No file sent twice: one transfer per file across both runs and both ends, each done once.
  const ids = idsByName(folderId, first.rec, restarted.rec, survivor.rec);
  assert.equal([...ids.keys()].sort(), ['a-small.jpg', 'big.raw', 'c-last.jpg', 'note.txt']);
  for (const [name, set] of ids) assert.is(set.size, 1, `${name} was one transfer, not ${set.size}`);
  const doneCount = (rec: Recorder, name: string): number => rec.of('transfer-done').filter((e) => e.folder === folderId && e.name === name).length;
  for (const name of ids.keys()) {
    assert.is(doneCount(first.rec, name) + doneCount(restarted.rec, name), 1, `${name} finished once on the restarted side`);
    assert.is(doneCount(survivor.rec, name), 1, `${name} finished once on the surviving side`);
  }
  assert.is(survivor.rec.of('folder-failed').length + restarted.rec.of('folder-failed').length, 0);

  // Ended: no record left on either side (the folder's nor its files').
  await Promise.all([restarted.client.transfers.journalSettled(), survivor.client.transfers.journalSettled()]);
  for (const side of [restarted, survivor]) {
    const left = await fs.readdir(journalDir(ctx, side.user)).catch(() => []);
    assert.equal(left, [], `${side.user}'s journal is empty`);
  }
}

it("the receiver's client restarts in the middle of the folder; the new one finishes it", async (ctx) => {
  const ann = await start(ctx, 'ann');
  const bob = await start(ctx, 'bob');
  const { src, folderId, bigId } = await sendAndStop(ctx, ann, bob, 'bob');

  // What the dying client left: the folder's record (0600) and the big file's, and its partial file.
  const record = path.join(journalDir(ctx, 'bob'), folderJournalFileName(folderId));
  assert.is((await fs.stat(record)).mode & 0o777, 0o600);
  const saved = JSON.parse(await fs.readFile(record, 'utf8')) as { kind: string; role: string; filesDone: number; current: string; entries: Array<{ path: string; hash?: string }>; dir: string };
  assert.equal([saved.kind, saved.role, saved.filesDone, saved.current], ['securechat-folder', 'receiver', 1, bigId]);
  assert.equal(saved.entries.map((e) => e.path), ['a-small.jpg', 'b-raw/big.raw']);
  assert.is(saved.entries[0].hash, await sha256OfFile(path.join(src, 'a-small.jpg')), 'the hash the file done was checked against is kept');
  assert.ok(await exists(path.join(journalDir(ctx, 'bob'), journalFileName(bigId))));
  assert.ok((await fs.stat(path.join(saved.dir, 'b-raw', 'big.raw.part'))).size < BIG_BYTES);
  await ann.rec.waitFor('transfer-state', (e) => e.id === bigId && e.state === 'reconnecting');

  const bob2 = await start(ctx, 'bob', true);
  await checkCompleted(ctx, src, folderId, bigId, { first: bob, restarted: bob2, survivor: ann });
});

it("the sender's client restarts in the middle of the folder; the new one checks the files and finishes it", async (ctx) => {
  const ann = await start(ctx, 'ann');
  const bob = await start(ctx, 'bob');
  const { src, folderId, bigId } = await sendAndStop(ctx, ann, bob, 'ann');
  const saved = JSON.parse(await fs.readFile(path.join(journalDir(ctx, 'ann'), folderJournalFileName(folderId)), 'utf8')) as {
    role: string;
    entries: Array<{ path: string; size: number; mtimeMs: number; hash?: string }>;
    filesDone: number;
  };
  assert.equal([saved.role, saved.filesDone], ['sender', 1]);
  assert.equal(saved.entries.map((e) => e.path), ['a-small.jpg', 'b-raw/big.raw', 'b-raw/note.txt', 'c-last.jpg']);
  assert.is(saved.entries[0].hash, await sha256OfFile(path.join(src, 'a-small.jpg')), 'the hash of each file done is kept (known at its end)');
  await bob.rec.waitFor('transfer-state', (e) => e.id === bigId && e.state === 'reconnecting');

  const ann2 = await start(ctx, 'ann', true);
  await checkCompleted(ctx, src, folderId, bigId, { first: ann, restarted: ann2, survivor: bob });
});

for (const stopping of ['bob', 'ann'] as const) {
  it(`${stopping === 'bob' ? 'the receiver' : 'the sender'} restarts without the record of the file under way (a crash before it reached the disk): that file is offered again, the folder completes`, async (ctx) => {
    const ann = await start(ctx, 'ann');
    const bob = await start(ctx, 'bob');
    const { src, folderId, bigId } = await sendAndStop(ctx, ann, bob, stopping);
    const gone = stopping === 'bob' ? bob : ann;
    const survivor = stopping === 'bob' ? ann : bob;
    await fs.rm(path.join(journalDir(ctx, gone.user), journalFileName(bigId)));
    await survivor.rec.waitFor('transfer-state', (e) => e.id === bigId && e.state === 'reconnecting');

    const again = await start(ctx, gone.user, true);
    const receiver = stopping === 'bob' ? again : bob;
    const [received] = await Promise.all([receiver.rec.waitFor('folder-done', (e) => e.id === folderId), (stopping === 'bob' ? ann : again).rec.waitFor('folder-done', (e) => e.id === folderId)]);
    assert.equal(await fileTree(received.dir), await fileTree(src), 'the same tree, every hash right, no stale partial file');
    // The survivor's old transfer of the big file was let go (cancelled), a new one sent it whole.
    const survivorBig = survivor.rec.of('transfer-state').filter((e) => e.folder === folderId && e.name === 'big.raw');
    const bigIds = new Set([...survivorBig.map((e) => e.id), ...again.rec.of('transfer-state').filter((e) => e.folder === folderId && e.name === 'big.raw').map((e) => e.id)]);
    assert.is(bigIds.size, 2, 'the big file was offered once more');
    assert.ok(survivor.rec.of('transfer-failed').some((e) => e.id === bigId && e.state === 'cancelled'));
    // The files done before the restart were not sent again.
    const small = new Set([bob, ann, again].flatMap((side) => side.rec.of('transfer-state').filter((e) => e.folder === folderId && e.name === 'a-small.jpg').map((e) => e.id)));
    assert.is(small.size, 1);
    assert.is(survivor.rec.of('folder-failed').length, 0);
  });
}

for (const stopping of ['bob', 'ann'] as const) {
  it(`${stopping === 'bob' ? 'the receiver' : 'the sender'} stops the moment the next file is offered (between two files); the folder still completes`, async (ctx) => {
    const ann = await start(ctx, 'ann');
    const bob = await start(ctx, 'bob');
    const src = await makeAlbum(ctx);
    const sent = await ann.client.sendFile('bob', src);
    const offer = await bob.rec.waitFor('folder-offer', (e) => e.id === sent.id);
    const side = stopping === 'bob' ? bob : ann;
    // The third file offered: the big one is done; close at once, whatever the offer's fate.
    const stopped = ann.rec
      .waitFor('transfer-state', (e) => e.folder === sent.id && e.name === 'note.txt' && e.state === 'offered')
      .then(() => side.client.close({ suspendTransfers: true }));
    await bob.client.acceptTransfer(offer.id);
    await stopped;
    const again = await start(ctx, side.user, true);
    const receiver = stopping === 'bob' ? again : bob;
    const sender = stopping === 'bob' ? ann : again;
    const [received] = await Promise.all([receiver.rec.waitFor('folder-done', (e) => e.id === sent.id), sender.rec.waitFor('folder-done', (e) => e.id === sent.id)]);
    assert.equal(await fileTree(received.dir), await fileTree(src), 'the same tree, every hash right, no stale partial file');
    // The files done before the stop were not sent again.
    for (const name of ['a-small.jpg', 'big.raw']) {
      const ids = new Set([ann, bob, again].flatMap((s) => s.rec.of('transfer-state').filter((e) => e.folder === sent.id && e.name === name).map((e) => e.id)));
      assert.is(ids.size, 1, `${name} was sent once`);
    }
    await Promise.all([ann.client, bob.client, again.client].filter((c) => c.state !== 'closed').map((c) => c.transfers.journalSettled()));
    for (const user of ['ann', 'bob']) assert.equal(await fs.readdir(journalDir(ctx, user)).catch(() => []), [], `${user}'s journal is empty`);
  });
}

for (const withFile of [true, false]) {
  it(`a sender that gave up meanwhile (E_PEER_GONE) tells the restored receiver at once${withFile ? '' : ' (no record of the file under way: it asks again)'}; the files done stay`, async (ctx) => {
    const ann = await start(ctx, 'ann', false, { RECONNECT_TIMEOUT_MS: 1_000 });
    const bob = await start(ctx, 'bob');
    const { folderId, bigId } = await sendAndStop(ctx, ann, bob, 'bob');
    const annFailed = await ann.rec.waitFor('folder-failed', (e) => e.id === folderId);
    assert.equal([annFailed.state, annFailed.code], ['failed', 'E_PEER_GONE']);
    if (!withFile) await fs.rm(path.join(journalDir(ctx, 'bob'), journalFileName(bigId)));

    const bob2 = await start(ctx, 'bob', true);
    const failed = await bob2.rec.waitFor('folder-failed', (e) => e.id === folderId);
    assert.equal([failed.state, failed.code, failed.filesDone], ['failed', 'E_PEER_GONE', 1]);
    assert.ok(await exists(path.join(failed.dir!, 'a-small.jpg')), 'the file done stays');
    await bob2.client.transfers.journalSettled();
    assert.equal(await fs.readdir(journalDir(ctx, 'bob')), [], 'no record left');
  });
}

it('a folder whose files changed while its sender was down fails with E_FILE_CHANGED on both ends; the files done stay', async (ctx) => {
  const ann = await start(ctx, 'ann');
  const bob = await start(ctx, 'bob');
  const { src, folderId } = await sendAndStop(ctx, ann, bob, 'ann');
  await fs.appendFile(path.join(src, 'c-last.jpg'), 'edited while the sender was down');

  const ann2 = await start(ctx, 'ann', true);
  const [annFailed, bobFailed] = await Promise.all([
    ann2.rec.waitFor('folder-failed', (e) => e.id === folderId),
    bob.rec.waitFor('folder-failed', (e) => e.id === folderId),
  ]);
  assert.equal([annFailed.state, annFailed.code], ['failed', 'E_FILE_CHANGED']);
  assert.match(annFailed.message, /c-last\.jpg/);
  assert.equal([bobFailed.state, bobFailed.code, bobFailed.filesDone], ['failed', 'E_FILE_CHANGED', 1]);
  assert.ok(await exists(path.join(bobFailed.dir!, 'a-small.jpg')), 'the file done stays');
  assert.not.ok(await exists(path.join(bobFailed.dir!, 'c-last.jpg')), 'the changed file was not sent');
  await Promise.all([ann2.client.transfers.journalSettled(), bob.client.transfers.journalSettled()]);
  assert.not.ok(await exists(path.join(journalDir(ctx, 'ann'), folderJournalFileName(folderId))));
  assert.not.ok(await exists(path.join(journalDir(ctx, 'bob'), folderJournalFileName(folderId))));
});

it('a folder record with a hostile path (traversal, absolute) is refused (E_CORRUPT_FILE) and deleted; nothing is written', async (ctx) => {
  const bob = await start(ctx, 'bob');
  const annKeys = { sign: Buffer.alloc(32, 1).toString('base64'), box: Buffer.alloc(32, 2).toString('base64') };
  const dir = journalDir(ctx, 'bob');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const target = path.join(bob.downloads, 'album');
  await fs.mkdir(target);
  const base = { v: 1, kind: 'securechat-folder', savedMs: Date.now(), role: 'receiver', peer: 'ann', peerKeys: annKeys, name: 'album', files: 3, size: 30, dir: target, filesDone: 1, current: null };
  const records: Record<string, object> = {
    TraversalFolder1: { ...base, folderId: 'TraversalFolder1', entries: [{ path: 'a.txt', size: 10 }, { path: '../../../etc/passwd', size: 10 }] },
    AbsoluteFolder01: { ...base, folderId: 'AbsoluteFolder01', entries: [{ path: '/etc/passwd', size: 10 }] },
    CollidingFolder1: { ...base, folderId: 'CollidingFolder1', entries: [{ path: 'A.txt', size: 10 }, { path: 'a.txt', size: 10 }] },
    TooManyDone00001: { ...base, folderId: 'TooManyDone00001', filesDone: 3, entries: [{ path: 'a.txt', size: 10 }] },
  };
  for (const [id, record] of Object.entries(records)) await fs.writeFile(path.join(dir, folderJournalFileName(id)), JSON.stringify(record), { mode: 0o600 });
  await bob.client.close();

  const bob2 = await start(ctx, 'bob', true);
  const errors = await Promise.all(
    Object.keys(records).map((id) => bob2.rec.waitFor('error', (e) => e.code === 'E_CORRUPT_FILE' && e.details?.path === path.join(dir, folderJournalFileName(id)))),
  );
  assert.is(errors.length, 4);
  assert.is(bob2.client.listTransfers().length, 0);
  await bob2.client.transfers.journalSettled();
  assert.equal(await fs.readdir(dir), [], 'unusable records are deleted');
  assert.equal(await fs.readdir(target), [], 'nothing was written');
  assert.ok((await bob2.client.ping()) >= 0, 'the client runs on');
});

spec.run();
