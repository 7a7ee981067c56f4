import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { EXIT_MARK } from '../../../helpers/tmux.js';
import { sha256OfFile, writeTestFile } from '../../../helpers/transfer-helpers.js';
import { aliceSeesBob, show, squash, tuiScene } from '../../../helpers/tui-scene.js';
import { nextEvent } from '../../../helpers/wait.js';

/**
 * A folder received in the real TUI (dist/tui/cli.js --no-direct, in tmux, against a real
 * relay) survives quitting it: bob (a ChatClient) sends alice a folder; alice's TUI accepts it
 * and is quit with Ctrl-C in the middle of the big first file (the transfers are suspended, not
 * cancelled); a new TUI on the same data and config folders says the folder was picked up
 * from the last run, shows it in the transfers panel, and ends with the folder's finished
 * line; alice has the same tree. With SECURECHAT_SHOW_SCREEN set, the screens are printed.
 */
const WAIT_MS = 60_000;
const MB = 1024 * 1024;
const BIG_BYTES = 64 * MB;

test(
  'TUI: a folder being received survives quitting the TUI; the next one picks it up from the last run and finishes it',
  plainErrors(async () => {
    const scene = await tuiScene('securechat-folder-restart-tui-');
    try {
      const { dir, work } = scene;
      const downloads = path.join(dir.path, 'alice-downloads');
      await fs.mkdir(downloads);
      const photos = path.join(work, 'photos');
      await fs.mkdir(path.join(photos, '2024'), { recursive: true });
      await writeTestFile(photos, 'cover.jpg', 2 * MB);
      await writeTestFile(path.join(photos, '2024'), 'long-exposure.raw', BIG_BYTES);
      await writeTestFile(path.join(photos, '2024'), 'sunset.jpg', 3 * MB);
      const bob = await scene.startBob({ constants: { PROGRESS_INTERVAL_MS: 0 } });
      const first = await scene.startAlice();
      await aliceSeesBob(first, WAIT_MS);

      const sent = await bob.sendFile('alice', photos);
      await first.waitFor((s) => squash(s).includes('offersyouafolder:photos/(3files'), { timeoutMs: WAIT_MS });
      // Quit (Ctrl-C) the moment bob's side of the big file is 8 MB along: far from its end.
      const bigOffered = nextEvent(bob, 'transfer-state', (e) => e.folder === sent.id && e.name === 'long-exposure.raw', WAIT_MS);
      const quitting = nextEvent(bob, 'transfer-progress', (e) => e.total === BIG_BYTES && e.bytes >= 8 * MB && e.bytes < BIG_BYTES, WAIT_MS).then(() => first.keys('C-c'));
      await first.type(`/accept ${sent.id.slice(0, 6)} ${downloads}`);
      await first.keys('Enter');
      const during = await first.waitFor(/↓ from bob: photos\/ \(1\/3\)/, { timeoutMs: WAIT_MS });
      show('receiving a folder', during);
      await quitting;
      await first.waitFor(EXIT_MARK, { timeoutMs: WAIT_MS });
      await first.kill();
      const bigId = (await bigOffered).id;

      const folderDone = nextEvent(bob, 'folder-done', (e) => e.id === sent.id, WAIT_MS);
      const second = await scene.startAlice({ register: false });
      const picked = await second.waitFor(
        (s) => squash(s).includes('receivingthefolderphotos/frombob:pickedupfromthelastrun') && squash(s).includes('0of3filesdone,goingonwiththerest'),
        { timeoutMs: WAIT_MS },
      );
      show('the next run picks the folder up', picked);
      await folderDone;
      const finished = await second.waitFor((s) => /folderphotos\/\(3files\)savedin.*everyhashverified/.test(squash(s)), { timeoutMs: WAIT_MS });
      show('the folder finished', finished);
      // The big file was one transfer, resumed on a new session (not sent again from the start).
      const bigRow = bob.listTransfers().find((t) => t.id === bigId);
      assert.equal(bigRow?.state, 'completed');
      assert.ok((bigRow?.sessions ?? 0) >= 2, `sessions ${bigRow?.sessions}`);
      assert.is(bob.listTransfers().filter((t) => t.name === 'long-exposure.raw').length, 1);
      for (const rel of ['cover.jpg', '2024/long-exposure.raw', '2024/sunset.jpg']) {
        assert.is(await sha256OfFile(path.join(downloads, 'photos', rel)), await sha256OfFile(path.join(photos, rel)), rel);
      }
      assert.is(await second.exit({ timeoutMs: WAIT_MS }), '0');
    } finally {
      await scene.close();
    }
  }),
);

test.run();
