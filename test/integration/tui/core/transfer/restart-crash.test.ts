/**
 * The real thing behind "a restart": the receiver's client runs in a child process that is
 * killed with SIGKILL in the middle of a transfer (no cleanup of any kind), and a new client
 * on the same data folder finishes the transfer from the journal it left. Real relay, real
 * files; the same file is the child (run with `--restart-child`).
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
import { TRANSFER_JOURNAL_DIR_NAME, journalFileName } from '../../../../../tui/core/transfer/journal.js';
import { plainErrors } from '../../../../helpers/core-helpers.js';
import { testClientOptions } from '../../../../helpers/clients.js';
import { Recorder } from '../../../../helpers/recorder.js';
import { type RelayTestContext, withRelayPerTest } from '../../../../helpers/relay.js';
import { blake2bOfFile, exists, loopbackOptions, writeTestFile } from '../../../../helpers/transfer-helpers.js';

const WAIT_MS = 60_000;
const MB = 1024 * 1024;
const FILE_BYTES = 24 * MB;
const STOP_AFTER_BYTES = 2 * MB;
const CHILD_FLAG = '--restart-child';

interface ChildArgs {
  relay: { port: number; fingerprint: string };
  dir: string;
}

function clientOptions(args: ChildArgs, user: string, register: boolean): ChatClientOptions {
  const downloads = path.join(args.dir, `${user}-downloads`);
  return {
    ...testClientOptions({ relay: args.relay as RunningRelay, dir: { path: args.dir } }, user),
    register,
    transfers: {
      downloadDir: downloads,
      transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 500, RETRY_DELAY_MS: 200, PROGRESS_INTERVAL_MS: 0 } },
    },
  };
}

function journalFile(dir: string, user: string, transferId: string): string {
  return path.join(userDataDir(user, path.join(dir, `${user}-data`)), TRANSFER_JOURNAL_DIR_NAME, journalFileName(transferId));
}

/**
 * The child: bob registers, accepts the first offer, and prints `midway <id>` once the
 * transfer is past STOP_AFTER_BYTES and its journal record is on disk. Then it waits to be killed.
 */
async function runChild(args: ChildArgs): Promise<void> {
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
  process.stdout.write('online\n');
  // Bounded: the parent kills us long before this.
  setTimeout(() => process.exit(3), WAIT_MS * 2).unref();
  await new Promise(() => undefined);
}

if (process.argv.includes(CHILD_FLAG)) {
  await runChild(JSON.parse(process.argv[process.argv.indexOf(CHILD_FLAG) + 1]) as ChildArgs);
} else {
  const spec = suite<RelayTestContext>('a receiver killed with SIGKILL mid-transfer resumes after a restart');
  withRelayPerTest(spec, 'securechat-transfer-crash-');

  spec(
    'SIGKILL of the receiving process, then a new client on its data folder: right hash, resumed, record deleted',
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
        const online = waitLine('online');
        await online;
        const ann = new ChatClient(clientOptions(args, 'ann', true));
        ctx.clients.push(ann);
        const annRec = new Recorder(ann, WAIT_MS);
        await ann.connect();
        const file = await writeTestFile(ctx.dir.path, 'crash.bin', FILE_BYTES);
        const hash = await blake2bOfFile(file);
        const midway = waitLine('midway');
        const sent = await ann.sendFile('bob', file);
        assert.is((await midway).split(' ')[1], sent.id);
        child.kill('SIGKILL');
        await exited;
        lines.close();

        const part = path.join(ctx.dir.path, 'bob-downloads', 'crash.bin.part');
        assert.ok((await fs.stat(part)).size < FILE_BYTES, 'the partial file is short');
        assert.ok(await exists(journalFile(ctx.dir.path, 'bob', sent.id)), 'the record survived the kill');
        await annRec.waitFor('transfer-state', (e) => e.id === sent.id && e.state === 'reconnecting');

        const bob = new ChatClient(clientOptions(args, 'bob', false));
        ctx.clients.push(bob);
        const bobRec = new Recorder(bob, WAIT_MS);
        await bob.connect();
        const [received, annDone] = await Promise.all([
          bobRec.waitFor('transfer-done', (e) => e.id === sent.id),
          annRec.waitFor('transfer-done', (e) => e.id === sent.id),
        ]);
        assert.is(received.file, path.join(ctx.dir.path, 'bob-downloads', 'crash.bin'));
        assert.is(await blake2bOfFile(received.file), hash);
        assert.is(annDone.hash, hash);
        assert.ok(bobRec.of('transfer-state').some((e) => e.id === sent.id && e.restored === true));
        const first = bobRec.of('transfer-progress').find((e) => e.id === sent.id);
        assert.ok(first !== undefined && first.bytes > 0, `resumed from byte ${first?.bytes}`);
        await bob.transfers.journalSettled();
        assert.not.ok(await exists(journalFile(ctx.dir.path, 'bob', sent.id)), 'the record is deleted');
        assert.not.ok(await exists(part));
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        lines.close();
      }
    }),
  );

  spec.run();
}
