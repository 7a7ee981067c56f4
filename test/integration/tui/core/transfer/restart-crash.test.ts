/**
 * The real thing behind "a restart": the receiver's client runs in a child process that is
 * killed with SIGKILL in the middle of a transfer (no cleanup of any kind), and a new client
 * on the same data folder finishes the transfer from the journal it left. Real relay, real
 * files; the same file is the child (run with `--crash-child`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { ChatClient } from '../../../../../tui/core/client.js';
import { journalFileName } from '../../../../../tui/core/transfer/journal.js';
import { type CrashChildArgs, crashClientOptions as clientOptions, journalDirOf, crashTest, onlineUntilKilled, startSide } from '../../../../helpers/restart-clients.js';
import { sha256OfFile, exists, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const MB = 1024 * 1024;
const FILE_BYTES = 24 * MB;
const STOP_AFTER_BYTES = 2 * MB;

function journalFile(dir: string, user: string, transferId: string): string {
  return path.join(journalDirOf(dir, user), journalFileName(transferId));
}

/**
 * The child: bob registers, accepts the first offer, and prints `midway <id>` once the
 * transfer is past STOP_AFTER_BYTES and its journal record is on disk. Then it waits to be killed.
 */
async function runChild(args: CrashChildArgs): Promise<void> {
  const client = new ChatClient(clientOptions(args, 'bob', true));
  client.on('transfer-offer', (offer) => {
    const transfer = client.transfers.get(offer.id);
    let said = false;
    transfer?.on('progress', (progress) => {
      if (said || progress.bytes < STOP_AFTER_BYTES || progress.bytes >= progress.totalBytes) return;
      void exists(journalFile(args.dir, 'bob', offer.id)).then((recorded) => {
        if (!recorded || said) return;
        said = true;
        process.stdout.write(`midway ${offer.id}\n`);
      });
    });
    client.acceptTransfer(offer.id).catch((error: unknown) => process.stdout.write(`error ${String(error)}\n`));
  });
  await client.connect();
  await onlineUntilKilled();
}

await crashTest({
  moduleUrl: import.meta.url,
  child: runChild,
  suite: 'a receiver killed with SIGKILL mid-transfer resumes after a restart',
  prefix: 'securechat-transfer-crash-',
  test: 'SIGKILL of the receiving process, then a new client on its data folder: right hash, resumed, record deleted',
  body: async (ctx, child) => {
    const { client: ann, rec: annRec } = await startSide(ctx, 'ann');
    const file = await writeTestFile(ctx.dir.path, 'crash.bin', FILE_BYTES);
    const hash = await sha256OfFile(file);
    const midway = child.waitLine('midway');
    const sent = await ann.sendFile('bob', file);
    assert.is((await midway).split(' ')[1], sent.id);
    await child.kill();

    const part = path.join(ctx.dir.path, 'bob-downloads', 'crash.bin.part');
    assert.ok((await fs.stat(part)).size < FILE_BYTES, 'the partial file is short');
    assert.ok(await exists(journalFile(ctx.dir.path, 'bob', sent.id)), 'the record survived the kill');
    await annRec.waitFor('transfer-state', (e) => e.id === sent.id && e.state === 'reconnecting');

    const { client: bob, rec: bobRec } = await startSide(ctx, 'bob', { again: true });
    const [received, annDone] = await Promise.all([
      bobRec.waitFor('transfer-done', (e) => e.id === sent.id),
      annRec.waitFor('transfer-done', (e) => e.id === sent.id),
    ]);
    assert.is(received.file, path.join(ctx.dir.path, 'bob-downloads', 'crash.bin'));
    assert.is(await sha256OfFile(received.file), hash);
    assert.is(annDone.hash, hash);
    assert.ok(bobRec.of('transfer-state').some((e) => e.id === sent.id && e.restored === true));
    const first = bobRec.of('transfer-progress').find((e) => e.id === sent.id);
    assert.ok(first !== undefined && first.bytes > 0, `resumed from byte ${first?.bytes}`);
    await bob.transfers.journalSettled();
    assert.not.ok(await exists(journalFile(ctx.dir.path, 'bob', sent.id)), 'the record is deleted');
    assert.not.ok(await exists(part));
  },
});
