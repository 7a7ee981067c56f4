import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatClient } from '../../../../tui/core/client.js';
import type { ChatEvent, ChatEventOf } from '../../../../tui/core/events.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { testRelay } from '../../../helpers/relay.js';
import { tempDir } from '../../../helpers/temp.js';
import { TmuxSession } from '../../../helpers/tmux.js';
import { blake2bOfFile, loopbackOptions, writeTestFile } from '../../../helpers/transfer-helpers.js';

/**
 * The real TUI (dist/tui/cli.js --no-direct, so it opens no listener and dials no address
 * but the relay's) in tmux against a real relay, and a ChatClient on the other side: Tab
 * completes the path after /send, the offer shows with how to answer, /accept saves into
 * ~/Downloads, /transfers lists both. Screens are polled with a bounded wait.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../../../../tui/cli.js');
const PASSWORD = 'correct-horse-battery';
const WAIT_MS = 30_000;

function waitForEvent<T extends ChatEvent['type']>(client: ChatClient, type: T, match: (e: ChatEventOf<T>) => boolean = () => true): Promise<ChatEventOf<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${type} within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const stop = client.on(type, (event) => {
      if (!match(event)) return;
      clearTimeout(timer);
      stop();
      resolve(event);
    });
  });
}

test(
  'TUI: /send with Tab path completion, an offer answered with /accept, /transfers',
  plainErrors(async () => {
    const dir = await tempDir('securechat-transfer-tui-');
    const relay = await testRelay(path.join(dir.path, 'relay'));
    const home = path.join(dir.path, 'home');
    const work = path.join(dir.path, 'work');
    const bobDownloads = path.join(dir.path, 'bob-downloads');
    await Promise.all([fs.mkdir(path.join(home, 'Downloads'), { recursive: true }), fs.mkdir(work), fs.mkdir(bobDownloads)]);
    const outgoing = await writeTestFile(work, 'holiday-photo.bin', 3 * 1024 * 1024);
    const incoming = await writeTestFile(dir.path, 'minutes.txt', 200_000);
    const bob = new ChatClient({
      host: '127.0.0.1',
      port: relay.port,
      user: 'bob',
      password: PASSWORD,
      register: true,
      trust: { fingerprint: relay.fingerprint },
      configDir: path.join(dir.path, 'bob-config'),
      dataDir: path.join(dir.path, 'bob-data'),
      transfers: { direct: false, downloadDir: bobDownloads, transfer: loopbackOptions() },
    });
    let tui: TmuxSession | null = null;
    try {
      await bob.connect();
      tui = await TmuxSession.start({
        command: ['node', CLI, '--server', `127.0.0.1:${relay.port}`, '--user', 'alice', '--register', '--fingerprint', relay.fingerprint, '--no-direct'],
        cwd: work,
        cols: 120,
        rows: 30,
        env: {
          HOME: home,
          SECURECHAT_PASSWORD: PASSWORD,
          SECURECHAT_CONFIG_DIR: path.join(dir.path, 'alice-config'),
          SECURECHAT_DATA_DIR: path.join(dir.path, 'alice-data'),
          TERM: 'screen-256color',
        },
      });
      await tui.waitFor(/\[connected\].*alice@global/, { timeoutMs: WAIT_MS });
      await tui.waitFor((s) => /│bob\s*$/m.test(s), { timeoutMs: WAIT_MS });

      // Tab completes the file name after "/send bob ".
      await tui.type('/send bob hol');
      await tui.keys('Tab');
      // (tmux trims the space Tab added after the name.)
      await tui.waitFor('[global] /send bob holiday-photo.bin', { timeoutMs: WAIT_MS });
      const offered = waitForEvent(bob, 'transfer-offer');
      await tui.keys('Enter');
      const offer = await offered;
      assert.is(offer.name, 'holiday-photo.bin');
      await tui.waitFor(/offered holiday-photo\.bin to bob/, { timeoutMs: WAIT_MS });
      const received = waitForEvent(bob, 'transfer-done');
      await bob.acceptTransfer(offer.id);
      const done = await received;
      assert.is(await blake2bOfFile(done.file), await blake2bOfFile(outgoing));
      await tui.waitFor(/holiday-photo\.bin \(3\.0 MB\) sent to bob; hash verified via relay;/, { timeoutMs: WAIT_MS });

      // bob offers a file: the TUI says how to answer; /accept with the short id saves into ~/Downloads.
      const sent = await bob.sendFile('alice', incoming);
      let screen = await tui.waitFor(/\/accept (\S{8}) \[DIR\]/, { timeoutMs: WAIT_MS });
      const shortId = /\/accept (\S{8}) \[DIR\]/.exec(screen)![1];
      assert.is(shortId, sent.id.slice(0, 8));
      assert.ok(screen.includes('offers you a file: minutes.txt'), screen);
      // Hashed while sent: the offer line says the hash is checked on arrival.
      assert.ok(screen.includes('BLAKE2b checked when'), screen); // the line wraps after "when"
      await tui.type(`/accept ${shortId}`);
      await tui.keys('Enter');
      const saved = path.join(home, 'Downloads', 'minutes.txt');
      screen = await tui.waitFor('saved as', { timeoutMs: WAIT_MS });
      assert.ok(screen.replace(/\n/g, '').includes(saved) || screen.includes('minutes.txt'), screen);
      assert.is(await blake2bOfFile(saved), await blake2bOfFile(incoming));

      await tui.type('/transfers');
      await tui.keys('Enter');
      screen = await tui.waitFor('file transfers:', { timeoutMs: WAIT_MS });
      assert.match(screen, /holiday-photo\.bin to bob: completed via relay/);
      assert.match(screen, /minutes\.txt from bob: completed via relay/);
      if (process.env.SECURECHAT_SHOW_SCREEN) console.log(screen);

      assert.is(await tui.exit({ timeoutMs: WAIT_MS }), '0');
    } finally {
      await tui?.kill();
      await bob.close();
      await relay.close();
      await dir.remove();
    }
  }),
);

test.run();
