/**
 * The real thing behind a folder's restart: the receiver's client runs in a child process that
 * is killed with SIGKILL in the middle of a folder's big file (no cleanup of any kind), and a
 * new client on the same data and config folders finishes the folder from the journal it left:
 * the same tree with every hash right, the big file resumed from its partial file, no file sent
 * twice. Real relay, real files; the same file is the child (run with `--crash-child`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { ChatClient } from '../../../../../tui/core/client.js';
import { folderJournalFileName, journalFileName } from '../../../../../tui/core/transfer/journal.js';
import { type CrashChildArgs, crashClientOptions as clientOptions, journalDirOf as journalDir, crashTest, onlineUntilKilled, startSide } from '../../../../helpers/restart-clients.js';
import { fileTree, exists, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const MB = 1024 * 1024;
const BIG_BYTES = 24 * MB;
const STOP_AFTER_BYTES = 2 * MB;

/**
 * The child: bob accepts the first folder offered, and prints `midway <folder> <file>` once
 * the folder's big file is past STOP_AFTER_BYTES and both records (the folder's, the file's)
 * are on disk. Then it waits to be killed.
 */
async function runChild(args: CrashChildArgs): Promise<void> {
  const client = new ChatClient(clientOptions(args, 'bob', true));
  let said = false;
  client.on('folder-offer', (offer) => {
    client.acceptTransfer(offer.id).catch((error: unknown) => process.stdout.write(`error ${String(error)}\n`));
  });
  client.on('transfer-state', (state) => {
    if (state.folder === undefined || state.name !== 'big.raw' || state.state !== 'transferring') return;
    const transfer = client.transfers.get(state.id);
    transfer?.on('progress', (progress) => {
      if (said || progress.bytes < STOP_AFTER_BYTES || progress.bytes >= progress.totalBytes) return;
      const dir = journalDir(args.dir, 'bob');
      void Promise.all([exists(path.join(dir, folderJournalFileName(state.folder!))), exists(path.join(dir, journalFileName(state.id)))]).then(([folder, file]) => {
        if (!folder || !file || said) return;
        said = true;
        process.stdout.write(`midway ${state.folder} ${state.id}\n`);
      });
    });
  });
  await client.connect();
  await onlineUntilKilled();
}

await crashTest({
  moduleUrl: import.meta.url,
  child: runChild,
  suite: 'a folder receiver killed with SIGKILL mid-folder finishes it after a restart',
  prefix: 'securechat-folder-crash-',
  test: 'SIGKILL of the receiving process in the middle of a folder, then a new client on its folders: the same tree, resumed, nothing sent twice',
  body: async (ctx, child) => {
    const { client: ann, rec: annRec } = await startSide(ctx, 'ann');
    const src = path.join(ctx.dir.path, 'album');
    await fs.mkdir(path.join(src, 'raw'), { recursive: true });
    await writeTestFile(src, 'a-first.jpg', 300_000);
    await writeTestFile(path.join(src, 'raw'), 'big.raw', BIG_BYTES);
    await writeTestFile(src, 'z-last.jpg', 200_000);
    const midway = child.waitLine('midway');
    const sent = await ann.sendFile('bob', src);
    const [, folderId, bigId] = (await midway).split(' ');
    assert.is(folderId, sent.id);
    await child.kill();

    const saved = path.join(ctx.dir.path, 'bob-downloads', 'album');
    assert.ok((await fs.stat(path.join(saved, 'raw', 'big.raw.part'))).size < BIG_BYTES, 'the partial file is short');
    await annRec.waitFor('transfer-state', (e) => e.id === bigId && e.state === 'reconnecting');

    const { client: bob, rec: bobRec } = await startSide(ctx, 'bob', { again: true });
    const [bobDone, annDone] = await Promise.all([bobRec.waitFor('folder-done', (e) => e.id === folderId), annRec.waitFor('folder-done', (e) => e.id === folderId)]);
    assert.is(bobDone.dir, saved);
    assert.equal(await fileTree(saved), await fileTree(src), 'every file arrived with the right hash');
    assert.is(annDone.files, 3);
    assert.ok(bobRec.of('folder-state').some((e) => e.id === folderId && e.restored === true), 'the folder was picked up from the last run');
    const first = bobRec.of('transfer-progress').find((e) => e.id === bigId);
    assert.ok(first !== undefined && first.bytes > 0, `the big file resumed from byte ${first?.bytes}`);
    // ann offered each file once: one transfer per file, each done once.
    const offered = new Map<string, Set<string>>();
    for (const e of annRec.of('transfer-state').filter((s) => s.folder === folderId)) offered.set(e.name, (offered.get(e.name) ?? new Set()).add(e.id));
    assert.equal([...offered.entries()].map(([name, ids]) => [name, ids.size]).sort(), [['a-first.jpg', 1], ['big.raw', 1], ['z-last.jpg', 1]]);
    assert.is(annRec.of('transfer-done').filter((e) => e.folder === folderId).length, 3);
    assert.is(bobRec.of('transfer-done').filter((e) => e.folder === folderId && e.name === 'a-first.jpg').length, 0, 'the first file was not received again');
    await bob.transfers.journalSettled();
    assert.equal(await fs.readdir(journalDir(ctx.dir.path, 'bob')), [], 'no record left');
  },
});
