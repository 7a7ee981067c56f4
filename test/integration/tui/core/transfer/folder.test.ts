/**
 * Folder transfers through a real relay between two real ChatClients (relay pipe only): a
 * nested folder with an empty file and a symbolic link arrives as the same tree (the link left
 * out) with every file's hash checked; and a folder whose connection is cut in the middle of
 * its second file resumes that file where it stopped, without sending the first one again.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatClient } from '../../../../../tui/core/client.js';
import { plainErrors } from '../../../../helpers/core-helpers.js';
import { testClientOptions } from '../../../../helpers/clients.js';
import { Recorder } from '../../../../helpers/recorder.js';
import { type RelayTestContext, withRelayPerTest } from '../../../../helpers/relay.js';
import { fileTree, loopbackOptions, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const WAIT_MS = 60_000;
const MB = 1024 * 1024;

type Ctx = RelayTestContext;
const spec = suite<Ctx>('folder transfers');
withRelayPerTest(spec, 'securechat-transfer-folder-');

async function start(ctx: Ctx, user: string): Promise<{ client: ChatClient; rec: Recorder; downloads: string }> {
  const downloads = path.join(ctx.dir.path, `${user}-downloads`);
  await fs.mkdir(downloads, { recursive: true });
  const client = new ChatClient({
    ...testClientOptions(ctx, user),
    transfers: { downloadDir: downloads, direct: false, transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 200, RETRY_DELAY_MS: 200, PROGRESS_INTERVAL_MS: 0 } } },
  });
  ctx.clients.push(client);
  const rec = new Recorder(client, WAIT_MS);
  await client.connect();
  return { client, rec, downloads };
}

spec(
  'a nested folder (an empty file, a symbolic link left out) arrives as the same tree, every hash checked',
  plainErrors(async (ctx) => {
    const ann = await start(ctx, 'ann');
    const bob = await start(ctx, 'bob');
    const src = path.join(ctx.dir.path, 'photos');
    await fs.mkdir(path.join(src, '2024', 'june'), { recursive: true });
    await writeTestFile(src, 'cover.jpg', 300_000);
    await writeTestFile(path.join(src, '2024'), 'a.raw', 1 * MB);
    await writeTestFile(path.join(src, '2024', 'june'), 'b.raw', 700_000);
    await fs.writeFile(path.join(src, '2024', 'empty.txt'), '');
    await fs.symlink('/etc/passwd', path.join(src, 'link-out'));
    const sent = await ann.client.sendFile('bob', src + '/');
    assert.is(sent.name, 'photos/');
    const offer = await bob.rec.waitFor('folder-offer', (e) => e.id === sent.id);
    assert.equal([offer.name, offer.files, offer.size], ['photos', 4, 300_000 + MB + 700_000]);
    const skipped = ann.rec.of('folder-state').find((e) => e.id === sent.id);
    assert.is(skipped?.skipped, 1, 'the link is reported as left out');
    await bob.client.acceptTransfer(offer.id.slice(0, 6));
    const [annDone, bobDone] = await Promise.all([ann.rec.waitFor('folder-done', (e) => e.id === sent.id), bob.rec.waitFor('folder-done', (e) => e.id === sent.id)]);
    assert.is(bobDone.dir, path.join(bob.downloads, 'photos'));
    assert.is(annDone.files, 4);
    assert.ok(bobDone.elapsedMs > 0 && bobDone.avgBps > 0);
    const expected = await fileTree(src);
    delete expected['link-out'];
    assert.equal(await fileTree(bobDone.dir), expected);
    // Every file was its own transfer, named on both ends by the same path word.
    const annPaths = ann.rec.of('transfer-done').filter((e) => e.folder === sent.id).map((e) => e.path);
    const bobPaths = bob.rec.of('transfer-done').filter((e) => e.folder === sent.id).map((e) => e.path);
    assert.equal(annPaths, ['relay', 'relay', 'relay', 'relay']);
    assert.equal(bobPaths, annPaths);
    assert.is(bob.rec.of('transfer-offer').length, 0, 'the files of an accepted folder are not asked about');
    const row = bob.client.transfers.list().find((t) => t.id === sent.id);
    assert.equal([row?.name, row?.state, row?.folder], ['photos/', 'completed', { files: 4, filesDone: 4 }], '/transfers lists the folder');

    // The same folder again: saved beside the first as "photos (1)".
    const again = await ann.client.sendFile('bob', src);
    const second = await bob.rec.waitFor('folder-offer', (e) => e.id === again.id);
    await bob.client.acceptTransfer(second.id);
    const secondDone = await bob.rec.waitFor('folder-done', (e) => e.id === again.id);
    assert.is(secondDone.dir, path.join(bob.downloads, 'photos (1)'));
  }),
);

spec(
  'a folder cut in the middle of a file resumes that file; the files done are not sent again',
  plainErrors(async (ctx) => {
    const ann = await start(ctx, 'ann');
    const bob = await start(ctx, 'bob');
    const src = path.join(ctx.dir.path, 'album');
    await fs.mkdir(path.join(src, 'raw'), { recursive: true });
    await writeTestFile(src, '1-small.jpg', 200_000);
    await writeTestFile(path.join(src, 'raw'), '2-big.raw', 16 * MB);
    await writeTestFile(src, '3-last.jpg', 100_000);
    const sent = await ann.client.sendFile('bob', src);
    const offer = await bob.rec.waitFor('folder-offer', (e) => e.id === sent.id);
    // Cut bob's connection of the big file once 2 MB of it are on disk.
    const cut = bob.rec
      .waitFor('transfer-state', (e) => e.folder === sent.id && e.name === '2-big.raw' && e.state === 'transferring')
      .then(
        (state) =>
          new Promise<number>((resolve) => {
            const transfer = bob.client.transfers.get(state.id)!;
            const onProgress = (p: { bytes: number; totalBytes: number }): void => {
              if (p.bytes < 2 * MB || p.bytes >= p.totalBytes) return;
              transfer.off('progress', onProgress);
              transfer.reconnect();
              resolve(p.bytes);
            };
            transfer.on('progress', onProgress);
          }),
      );
    await bob.client.acceptTransfer(offer.id);
    const cutAt = await cut;
    const done = await bob.rec.waitFor('folder-done', (e) => e.id === sent.id);
    const expected = await fileTree(src);
    assert.equal(await fileTree(done.dir), expected);
    const files = bob.client.transfers.list().filter((t) => t.state === 'completed');
    const byName = (name: string) => files.filter((t) => t.name === name);
    assert.is(byName('1-small.jpg').length, 1, 'the first file was sent once');
    assert.is(byName('1-small.jpg')[0].sessions, 1);
    assert.is(byName('2-big.raw').length, 1, 'the big file is one transfer');
    assert.ok(byName('2-big.raw')[0].sessions >= 2, 'it resumed on a new session');
    const resumed = bob.rec.of('transfer-state').filter((e) => e.name === '2-big.raw' && e.state === 'reconnecting');
    assert.ok(resumed.length >= 1, 'the cut was seen');
    assert.ok(cutAt >= 2 * MB);
    // The bytes of the first file crossed once: ann sent exactly one transfer for it.
    assert.is(ann.rec.of('transfer-done').filter((e) => e.name === '1-small.jpg').length, 1);
  }),
);

spec.run();
