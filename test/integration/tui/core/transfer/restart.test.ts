/**
 * File transfers that survive a restart of either client: a real relay, real ChatClients with
 * their data folders in a temp folder, real files. One side's client is closed in the middle
 * of a transfer as a dying process would leave it (`close({ suspendTransfers: true })`: the
 * peer is not told, the journal and the partial file stay); a new ChatClient on the same data
 * folder logs in and finishes the transfer from the journal. Waits are bounded by the
 * recorder's failure timeout, never asserted on.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TransferConstants } from '../../../../../tui/core/transfer/constants.js';
import type { ChatEventOf } from '../../../../../tui/core/events.js';
import { journalFileName } from '../../../../../tui/core/transfer/journal.js';
import { createTransferCredentials } from '../../../../../tui/core/transfer/credentials.js';
import { plainErrors } from '../../../../helpers/core-helpers.js';
import type { Recorder } from '../../../../helpers/recorder.js';
import { type RelayTestContext, withRelayPerTest } from '../../../../helpers/relay.js';
import { type Side, journalDirOf, startSide } from '../../../../helpers/restart-clients.js';
import { sha256OfFile, exists, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const MB = 1024 * 1024;
const FILE_BYTES = 24 * MB;
/** Stop a side once this much has gone through (far from the end: at most a window is in flight). */
const STOP_AFTER_BYTES = 2 * MB;

type PathChoice = 'relay' | 'direct';

type Ctx = RelayTestContext;

const spec = suite<Ctx>('file transfers survive a restart of either client');

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  spec(name, plainErrors(handler));
}

withRelayPerTest(spec, 'securechat-transfer-restart-');

/** A client of `user` on its folders under the test's folder; the first start registers, later ones log in. */
function start(ctx: Ctx, user: string, options: { via: PathChoice; again?: boolean; constants?: Partial<TransferConstants> }): Promise<Side> {
  return startSide(ctx, user, { direct: options.via === 'direct', again: options.again, constants: options.constants });
}

/** The journal record of a transfer in `user`'s data folder. */
function journalFile(ctx: Ctx, user: string, transferId: string): string {
  return path.join(journalDirOf(ctx.dir.path, user), journalFileName(transferId));
}

/**
 * Closes `side`'s client the moment its transfer has moved STOP_AFTER_BYTES (from the
 * transfer's own progress, which comes with every acknowledgement): the transfers halt in
 * that same tick, nothing is said to the peer. Resolves once the client is closed.
 */
function stopMidway(side: Side, transferId: string): Promise<number> {
  const transfer = side.client.transfers.get(transferId);
  assert.ok(transfer, 'the transfer is known');
  return new Promise((resolve, reject) => {
    const onProgress = (progress: { bytes: number; totalBytes: number }): void => {
      if (progress.bytes < STOP_AFTER_BYTES || progress.bytes >= progress.totalBytes) return;
      transfer.off('progress', onProgress);
      side.client.close({ suspendTransfers: true }).then(() => resolve(progress.bytes), reject);
    };
    transfer.on('progress', onProgress);
  });
}

/** ann offers a fresh file to bob, bob accepts; `stopping` picks the side to stop midway. */
async function offerAndStop(ctx: Ctx, ann: Side, bob: Side, stopping: 'ann' | 'bob'): Promise<{ id: string; file: string; hash: string; stoppedAt: number }> {
  const file = await writeTestFile(ctx.dir.path, 'restart.bin', FILE_BYTES);
  const hash = await sha256OfFile(file);
  const sent = await ann.client.sendFile('bob', file);
  const offer = await bob.rec.waitFor('transfer-offer', (e) => e.id === sent.id);
  const stopped = stopMidway(stopping === 'ann' ? ann : bob, sent.id);
  await bob.client.acceptTransfer(offer.id);
  const stoppedAt = await stopped;
  return { id: sent.id, file, hash, stoppedAt };
}

function restoredStates(rec: Recorder, id: string): ChatEventOf<'transfer-state'>[] {
  return rec.of('transfer-state').filter((e) => e.id === id);
}

/** What a stopped side leaves: a 0600 journal record holding the key; the peer still trying. */
async function checkLeftBehind(ctx: Ctx, stopped: Side, survivor: Side, id: string): Promise<void> {
  const record = journalFile(ctx, stopped.user, id);
  const stat = await fs.stat(record);
  assert.is(stat.mode & 0o777, 0o600, 'the record is private');
  const saved = JSON.parse(await fs.readFile(record, 'utf8')) as { credentials: { key: string }; peer: string; sessions: number };
  assert.match(saved.credentials.key, /PRIVATE KEY/);
  assert.is(saved.peer, survivor.user);
  assert.is(saved.sessions, 1);
  // The survivor noticed the break and waits to resume, it was not told anything.
  await survivor.rec.waitFor('transfer-state', (e) => e.id === id && e.state === 'reconnecting');
  assert.is(survivor.rec.of('transfer-failed').length, 0);
}

/** Both sides finished with the right hash, the restarted side resumed (not from zero), no record left. */
async function checkFinished(ctx: Ctx, restarted: Side, survivor: Side, id: string, hash: string, via: PathChoice): Promise<void> {
  const [restartedDone, survivorDone] = await Promise.all([
    restarted.rec.waitFor('transfer-done', (e) => e.id === id),
    survivor.rec.waitFor('transfer-done', (e) => e.id === id),
  ]);
  const received = restartedDone.direction === 'in' ? restartedDone : survivorDone;
  assert.is(await sha256OfFile(received.file), hash);
  assert.is(received.hash, hash);
  assert.is(received.file, path.join(restartedDone.direction === 'in' ? restarted.downloads : survivor.downloads, 'restart.bin'));
  assert.is(restartedDone.path, via === 'relay' ? 'relay' : 'lan');

  const states = restoredStates(restarted.rec, id);
  assert.is(states[0]?.state, 'reconnecting', 'a restored transfer starts reconnecting');
  assert.ok(states.every((e) => e.restored === true), 'every state event says restored');
  const firstProgress = restarted.rec.of('transfer-progress').find((e) => e.id === id);
  assert.ok(firstProgress !== undefined && firstProgress.bytes > 0, `resumed from byte ${firstProgress?.bytes}, not from the start`);

  const listed = restarted.client.listTransfers().find((t) => t.id === id);
  assert.equal([listed?.state, listed?.restored], ['completed', true]);
  assert.ok((listed?.sessions ?? 0) >= 2, `sessions ${listed?.sessions}`);
  const survivorListed = survivor.client.transfers.list().find((t) => t.id === id);
  assert.ok((survivorListed?.sessions ?? 0) >= 2, `survivor sessions ${survivorListed?.sessions}`);
  assert.is(survivorListed?.restored, undefined);

  // Ended: both records (and the keys in them) are gone, and so is the partial file.
  // Deletes were queued before the transfer-done events went out.
  await Promise.all([restarted.client.transfers.journalSettled(), survivor.client.transfers.journalSettled()]);
  assert.not.ok(await exists(journalFile(ctx, restarted.user, id)), 'the restarted side deleted its record');
  assert.not.ok(await exists(journalFile(ctx, survivor.user, id)), 'the survivor deleted its record');
  assert.not.ok(await exists(received.file + '.part'));
}

for (const via of ['relay', 'direct'] as const) {
  it(`${via}: the receiver's client restarts mid-transfer; the new one resumes from its partial file, right hash`, async (ctx) => {
    const ann = await start(ctx, 'ann', { via });
    const bob = await start(ctx, 'bob', { via });
    const { id, hash, stoppedAt } = await offerAndStop(ctx, ann, bob, 'bob');
    const part = path.join(bob.downloads, 'restart.bin.part');
    const partBytes = (await fs.stat(part)).size;
    assert.ok(partBytes > 0 && partBytes < FILE_BYTES, `partial file of ${partBytes} bytes (stopped at ${stoppedAt})`);
    await checkLeftBehind(ctx, bob, ann, id);

    const bob2 = await start(ctx, 'bob', { via, again: true });
    await checkFinished(ctx, bob2, ann, id, hash, via);
  });

  it(`${via}: the sender's client restarts mid-transfer; the new one checks the file and finishes it, right hash`, async (ctx) => {
    const ann = await start(ctx, 'ann', { via });
    const bob = await start(ctx, 'bob', { via });
    const { id, hash } = await offerAndStop(ctx, ann, bob, 'ann');
    await checkLeftBehind(ctx, ann, bob, id);

    const ann2 = await start(ctx, 'ann', { via, again: true });
    await checkFinished(ctx, ann2, bob, id, hash, via);
  });
}

it('journal records that cannot be used are reported (E_CORRUPT_FILE) and skipped; the client runs on', async (ctx) => {
  const journal = journalDirOf(ctx.dir.path, 'bob');
  await fs.mkdir(journal, { recursive: true, mode: 0o700 });
  const write = (id: string, text: string): Promise<void> => fs.writeFile(path.join(journal, journalFileName(id)), text, { mode: 0o600 });
  const credentials = await createTransferCredentials();
  const key = (): string => randomBytes(32).toString('base64');
  const wellFormed = {
    v: 1,
    kind: 'securechat-transfer',
    savedMs: Date.now(),
    transferId: 'TraversalAttempt',
    role: 'receiver',
    peer: 'ann',
    peerKeys: { sign: key(), box: key() },
    name: 'passwd',
    size: 10,
    hash: createHash('sha256').update('x').digest('hex'),
    credentials: { key: credentials.key, cert: credentials.cert },
    peerFingerprint: credentials.fingerprint,
    peerCandidates: [],
    sessions: 1,
    ackedBytes: 0,
    // Parses, but the partial file is not <folder>/<name>.part: refused before any use.
    receive: { directory: path.join(ctx.dir.path, 'bob-downloads'), partPath: path.join(ctx.dir.path, 'elsewhere', 'passwd') },
  };
  await write('NotJsonAtAll', '{ "v": 1, "kind": "securechat-tran');
  await write('WrongShape01', JSON.stringify({ ...wellFormed, transferId: 'WrongShape01', size: -1 }));
  await write('TraversalAttempt', JSON.stringify(wellFormed));
  await write('FromTheFuture', JSON.stringify({ ...wellFormed, v: 2, transferId: 'FromTheFuture' }));
  await write('SomeoneElse1', JSON.stringify({ ...wellFormed, transferId: 'NotSomeoneElse' }));
  await fs.writeFile(path.join(journal, 'notes.txt'), 'not a record');

  const bob = await start(ctx, 'bob', { via: 'relay' });
  const skipped = await Promise.all(
    ['NotJsonAtAll', 'WrongShape01', 'TraversalAttempt', 'FromTheFuture', 'SomeoneElse1'].map((id) =>
      bob.rec.waitFor('error', (e) => e.code === 'E_CORRUPT_FILE' && e.details?.path === path.join(journal, journalFileName(id))),
    ),
  );
  assert.is(skipped.length, 5);
  assert.is(bob.rec.of('error').length, 5, 'one line per record, nothing else');
  assert.equal(bob.client.listTransfers(), []);
  assert.is(bob.client.state, 'online');
  assert.ok((await bob.client.ping()) >= 0, 'the client runs on');
  // Unusable records are deleted (they may hold a key); a newer version's is left alone.
  assert.equal((await fs.readdir(journal)).sort(), [journalFileName('FromTheFuture'), 'notes.txt'].sort());
});

it("a restored sender whose file changed meanwhile fails with E_FILE_CHANGED; the receiver is told and keeps its partial file", async (ctx) => {
  const ann = await start(ctx, 'ann', { via: 'direct' });
  const bob = await start(ctx, 'bob', { via: 'direct' });
  const { id, file } = await offerAndStop(ctx, ann, bob, 'ann');
  await bob.rec.waitFor('transfer-state', (e) => e.id === id && e.state === 'reconnecting');
  await fs.appendFile(file, 'one more line');

  const ann2 = await start(ctx, 'ann', { via: 'direct', again: true });
  const [annFailed, bobFailed] = await Promise.all([
    ann2.rec.waitFor('transfer-failed', (e) => e.id === id),
    bob.rec.waitFor('transfer-failed', (e) => e.id === id),
  ]);
  assert.equal([annFailed.state, annFailed.code, annFailed.direction], ['failed', 'E_FILE_CHANGED', 'out']);
  assert.ok(restoredStates(ann2.rec, id).every((e) => e.restored === true));
  assert.equal([bobFailed.state, bobFailed.code], ['failed', 'E_FILE_CHANGED']);
  assert.is(bobFailed.partial, path.join(bob.downloads, 'restart.bin.part'));
  assert.ok(await exists(bobFailed.partial!), 'the partial file is kept');
  await Promise.all([ann2.client.transfers.journalSettled(), bob.client.transfers.journalSettled()]);
  assert.not.ok(await exists(journalFile(ctx, 'ann', id)));
  assert.not.ok(await exists(journalFile(ctx, 'bob', id)));
});

it("a restored transfer whose peer's key is not the one it was agreed with fails with E_KEY_CHANGED", async (ctx) => {
  const ann = await start(ctx, 'ann', { via: 'relay' });
  const bob = await start(ctx, 'bob', { via: 'relay' });
  const { id } = await offerAndStop(ctx, ann, bob, 'bob');
  // As if ann's pinned key had been replaced (/trust of a new key) while bob was away.
  const record = journalFile(ctx, 'bob', id);
  const saved = JSON.parse(await fs.readFile(record, 'utf8')) as { peerKeys: { box: string } };
  saved.peerKeys.box = randomBytes(32).toString('base64');
  await fs.writeFile(record, JSON.stringify(saved));

  const bob2 = await start(ctx, 'bob', { via: 'relay', again: true });
  const failed = await bob2.rec.waitFor('transfer-failed', (e) => e.id === id);
  assert.equal([failed.state, failed.code], ['failed', 'E_KEY_CHANGED']);
  assert.is(failed.partial, path.join(bob.downloads, 'restart.bin.part'));
  assert.ok(await exists(failed.partial!), 'the partial file is kept');
  const annFailed = await ann.rec.waitFor('transfer-failed', (e) => e.id === id);
  assert.is(annFailed.state, 'failed');
});

it('a peer that gave up meanwhile (E_PEER_GONE) answers the restored transfer at once; the partial file is kept', async (ctx) => {
  const ann = await start(ctx, 'ann', { via: 'relay', constants: { RECONNECT_TIMEOUT_MS: 1_000 } });
  const bob = await start(ctx, 'bob', { via: 'relay' });
  const { id } = await offerAndStop(ctx, ann, bob, 'bob');
  const annFailed = await ann.rec.waitFor('transfer-failed', (e) => e.id === id);
  assert.equal([annFailed.state, annFailed.code], ['failed', 'E_PEER_GONE']);

  const bob2 = await start(ctx, 'bob', { via: 'relay', again: true });
  const failed = await bob2.rec.waitFor('transfer-failed', (e) => e.id === id);
  assert.equal([failed.state, failed.code], ['failed', 'E_PEER_GONE']);
  assert.is(failed.partial, path.join(bob.downloads, 'restart.bin.part'));
  assert.ok((await fs.stat(failed.partial!)).size > 0, 'the partial file is kept, with its bytes');
  await bob2.client.transfers.journalSettled();
  assert.not.ok(await exists(journalFile(ctx, 'bob', id)));
});

spec.run();
