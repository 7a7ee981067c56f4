/**
 * The real thing behind a folder's restart: the receiver's client runs in a child process that
 * is killed with SIGKILL in the middle of a folder's big file (no cleanup of any kind), and a
 * new client on the same data and config folders finishes the folder from the journal it left:
 * the same tree with every hash right, the big file resumed from its partial file, no file sent
 * twice. Real relay, real files; the same file is the child (run with `--folder-crash-child`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningRelay } from '../../../../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../../../../tui/core/client.js';
import { userDataDir } from '../../../../../tui/core/paths.js';
import { TRANSFER_JOURNAL_DIR_NAME, folderJournalFileName, journalFileName } from '../../../../../tui/core/transfer/journal.js';
import { plainErrors } from '../../../../helpers/core-helpers.js';
import { testClientOptions } from '../../../../helpers/clients.js';
import { Recorder } from '../../../../helpers/recorder.js';
import { type RelayTestContext, withRelayPerTest } from '../../../../helpers/relay.js';
import { fileTree, exists, loopbackOptions, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const WAIT_MS = 60_000;
const MB = 1024 * 1024;
const BIG_BYTES = 24 * MB;
const STOP_AFTER_BYTES = 2 * MB;
const CHILD_FLAG = '--folder-crash-child';

interface ChildArgs {
  relay: { port: number; fingerprint: string };
  dir: string;
}

function clientOptions(args: ChildArgs, user: string, register: boolean): ChatClientOptions {
  return {
    ...testClientOptions({ relay: args.relay as RunningRelay, dir: { path: args.dir } }, user),
    register,
    transfers: {
      downloadDir: path.join(args.dir, `${user}-downloads`),
      transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 500, RETRY_DELAY_MS: 200, PROGRESS_INTERVAL_MS: 0 } },
    },
  };
}

function journalDir(dir: string, user: string): string {
  return path.join(userDataDir(user, path.join(dir, `${user}-data`)), TRANSFER_JOURNAL_DIR_NAME);
}

/**
 * The child: bob accepts the first folder offered, and prints `midway <folder> <file>` once
 * the folder's big file is past STOP_AFTER_BYTES and both records (the folder's, the file's)
 * are on disk. Then it waits to be killed.
 */
async function runChild(args: ChildArgs): Promise<void> {
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
  process.stdout.write('online\n');
  // Bounded: the parent kills us long before this.
  setTimeout(() => process.exit(3), WAIT_MS * 2).unref();
  await new Promise(() => undefined);
}

if (process.argv.includes(CHILD_FLAG)) {
  await runChild(JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]) as ChildArgs);
} else {
  const spec = suite<RelayTestContext>('a folder receiver killed with SIGKILL mid-folder finishes it after a restart');
  withRelayPerTest(spec, 'securechat-folder-crash-');

  spec(
    'SIGKILL of the receiving process in the middle of a folder, then a new client on its folders: the same tree, resumed, nothing sent twice',
    plainErrors(async (ctx: RelayTestContext) => {
      const args: ChildArgs = { relay: { port: ctx.relay.port, fingerprint: ctx.relay.fingerprint }, dir: ctx.dir.path };
      await fs.mkdir(path.join(ctx.dir.path, 'bob-downloads'), { recursive: true });
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      const lines = readline.createInterface({ input: child.stdout });
      const waitLine = (prefix: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`the child never said "${prefix}"`)), WAIT_MS);
          const onLine = (line: string): void => {
            if (!line.startsWith(prefix)) return;
            clearTimeout(timer);
            lines.off('line', onLine);
            resolve(line);
          };
          lines.on('line', onLine);
        });
      try {
        await waitLine('online');
        const ann = new ChatClient(clientOptions(args, 'ann', true));
        ctx.clients.push(ann);
        const annRec = new Recorder(ann, WAIT_MS);
        await ann.connect();
        const src = path.join(ctx.dir.path, 'album');
        await fs.mkdir(path.join(src, 'raw'), { recursive: true });
        await writeTestFile(src, 'a-first.jpg', 300_000);
        await writeTestFile(path.join(src, 'raw'), 'big.raw', BIG_BYTES);
        await writeTestFile(src, 'z-last.jpg', 200_000);
        const midway = waitLine('midway');
        const sent = await ann.sendFile('bob', src);
        const [, folderId, bigId] = (await midway).split(' ');
        assert.is(folderId, sent.id);
        child.kill('SIGKILL');
        await exited;
        lines.close();

        const saved = path.join(ctx.dir.path, 'bob-downloads', 'album');
        assert.ok((await fs.stat(path.join(saved, 'raw', 'big.raw.part'))).size < BIG_BYTES, 'the partial file is short');
        await annRec.waitFor('transfer-state', (e) => e.id === bigId && e.state === 'reconnecting');

        const bob = new ChatClient(clientOptions(args, 'bob', false));
        ctx.clients.push(bob);
        const bobRec = new Recorder(bob, WAIT_MS);
        await bob.connect();
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
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        lines.close();
      }
    }),
  );

  spec.run();
}
