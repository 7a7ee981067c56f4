import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { aliceSeesBob, tuiScene } from '../../../helpers/tui-scene.js';
import { nextEvent } from '../../../helpers/wait.js';
import { sha256OfFile, writeTestFile } from '../../../helpers/transfer-helpers.js';

/**
 * The real TUI (dist/tui/cli.js --no-direct, so it opens no listener and dials no address
 * but the relay's) in tmux against a real relay, and a ChatClient on the other side: Tab
 * completes the path after /send, the offer shows with how to answer, /accept saves into
 * ~/Downloads, /transfers lists both. Screens are polled with a bounded wait.
 */
const WAIT_MS = 30_000;

test(
  'TUI: /send with Tab path completion, an offer answered with /accept, /transfers',
  plainErrors(async () => {
    const scene = await tuiScene('securechat-transfer-tui-');
    try {
      const { dir, home, work } = scene;
      await fs.mkdir(path.join(home, 'Downloads'));
      const outgoing = await writeTestFile(work, 'holiday-photo.bin', 3 * 1024 * 1024);
      const incoming = await writeTestFile(dir.path, 'minutes.txt', 200_000);
      const bob = await scene.startBob();
      const tui = await scene.startAlice();
      await aliceSeesBob(tui, WAIT_MS);

      // Tab completes the file name after "/send bob ".
      await tui.type('/send bob hol');
      await tui.keys('Tab');
      // (tmux trims the space Tab added after the name.)
      await tui.waitFor('[global] /send bob holiday-photo.bin', { timeoutMs: WAIT_MS });
      const offered = nextEvent(bob, 'transfer-offer', undefined, WAIT_MS);
      await tui.keys('Enter');
      const offer = await offered;
      assert.is(offer.name, 'holiday-photo.bin');
      await tui.waitFor(/offered holiday-photo\.bin to bob/, { timeoutMs: WAIT_MS });
      const received = nextEvent(bob, 'transfer-done', undefined, WAIT_MS);
      await bob.acceptTransfer(offer.id);
      const done = await received;
      assert.is(await sha256OfFile(done.file), await sha256OfFile(outgoing));
      await tui.waitFor(/holiday-photo\.bin \(3\.0 MB\) sent to bob; hash verified via relay;/, { timeoutMs: WAIT_MS });

      // bob offers a file: the TUI says how to answer; /accept with the short id saves into ~/Downloads.
      const sent = await bob.sendFile('alice', incoming);
      let screen = await tui.waitFor(/\/accept (\S{8}) \[DIR\]/, { timeoutMs: WAIT_MS });
      const shortId = /\/accept (\S{8}) \[DIR\]/.exec(screen)![1];
      assert.is(shortId, sent.id.slice(0, 8));
      assert.ok(screen.includes('offers you a file: minutes.txt'), screen);
      // Hashed while sent: the offer line says the hash is checked on arrival.
      assert.ok(screen.includes('SHA-256 checked when'), screen); // the line wraps after "when"
      await tui.type(`/accept ${shortId}`);
      await tui.keys('Enter');
      const saved = path.join(home, 'Downloads', 'minutes.txt');
      screen = await tui.waitFor('saved as', { timeoutMs: WAIT_MS });
      assert.ok(screen.replace(/\n/g, '').includes(saved) || screen.includes('minutes.txt'), screen);
      assert.is(await sha256OfFile(saved), await sha256OfFile(incoming));

      await tui.type('/transfers');
      await tui.keys('Enter');
      screen = await tui.waitFor('file transfers:', { timeoutMs: WAIT_MS });
      assert.match(screen, /holiday-photo\.bin to bob: completed via relay/);
      assert.match(screen, /minutes\.txt from bob: completed via relay/);
      if (process.env.SECURECHAT_SHOW_SCREEN) console.log(screen);

      assert.is(await tui.exit({ timeoutMs: WAIT_MS }), '0');
    } finally {
      await scene.close();
    }
  }),
);

test.run();
