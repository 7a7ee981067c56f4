import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { aliceSeesBob, show, squash, tuiScene } from '../../../helpers/tui-scene.js';
import { nextEvent } from '../../../helpers/wait.js';
import { sha256OfFile, writeTestFile } from '../../../helpers/transfer-helpers.js';

/**
 * The transfers panel in the real TUI (dist/tui/cli.js --no-direct) in tmux against a real
 * relay, a ChatClient (bob) on the other side: while a big file goes out the panel shows a
 * progress bar with percent, bytes of total, speed, ETA and the path; when it ends, a
 * finished line with the size, the time taken and the average speed, and the panel is gone.
 * Then a folder: its row and its current file's row while it runs, one finished line for the
 * folder, and bob has the same tree. Last, an /upload to the relay has its row and a stored
 * line with its time. With SECURECHAT_SHOW_SCREEN set, the screens are printed.
 */
const WAIT_MS = 60_000;
const MB = 1024 * 1024;
/** Big enough that the transfer lasts a few redraws (4 a second) on loopback. */
const BIG_BYTES = 192 * MB;
/** A panel row while bytes move: `[###.....]  38%  70.0 MB/192.0 MB  90.1 MB/s  ETA 1s  relay`. */
const PROGRESS_ROW = /\[#*\.+\]\s+\d+%\s+[\d.]+ [KMG]?B\/[\d.]+ [KMG]?B\s+\S+\s+\S+\s+ETA \S+\s+relay/;

test(
  'TUI: a progress bar while a file and a folder go out, then the finished lines',
  plainErrors(async () => {
    const scene = await tuiScene('securechat-transfer-progress-tui-');
    try {
      const { work, bobDownloads } = scene;
      const big = await writeTestFile(work, 'big-video.mkv', BIG_BYTES);
      const photos = path.join(work, 'photos');
      await fs.mkdir(path.join(photos, '2024', 'june'), { recursive: true });
      await writeTestFile(photos, 'cover.jpg', 2 * MB);
      await writeTestFile(path.join(photos, '2024'), 'long-exposure.raw', 96 * MB);
      await writeTestFile(path.join(photos, '2024', 'june'), 'beach.jpg', 3 * MB);
      await fs.writeFile(path.join(photos, '2024', 'june', 'empty.txt'), '');
      const bob = await scene.startBob();
      const tui = await scene.startAlice();
      await aliceSeesBob(tui, WAIT_MS);

      // A file: the offer waits in the panel, then the bar moves.
      const offered = nextEvent(bob, 'transfer-offer', undefined, WAIT_MS);
      await tui.type('/send bob big-video.mkv');
      await tui.keys('Enter');
      const offer = await offered;
      await tui.waitFor(/↑ to bob: big-video\.mkv\s+\[\.+\] offered/, { timeoutMs: WAIT_MS });
      const received = nextEvent(bob, 'transfer-done', undefined, WAIT_MS);
      await bob.acceptTransfer(offer.id);
      let screen = await tui.waitFor(PROGRESS_ROW, { timeoutMs: WAIT_MS });
      show('during a file transfer', screen);
      assert.match(screen, /↑ to bob: big-video\.mkv/);
      const done = await received;
      assert.is(await sha256OfFile(done.file), await sha256OfFile(big));
      screen = await tui.waitFor((s) => /bigvideo\.mkv\(192\.0MB\)senttobob;hashverifiedviarelay;took[\d.]+s,[\d.]+[KMG]?B\/saverage/.test(squash(s).replace(/-/g, '')), { timeoutMs: WAIT_MS });
      await tui.waitFor((s) => !PROGRESS_ROW.test(s), { timeoutMs: WAIT_MS });
      show('after the file transfer', await tui.capture());

      // A folder: its row (files done of all) and its current file's row while it runs.
      const folderOffered = nextEvent(bob, 'folder-offer', undefined, WAIT_MS);
      await tui.type('/send bob photos/');
      await tui.keys('Enter');
      const folderOffer = await folderOffered;
      assert.equal([folderOffer.name, folderOffer.files], ['photos', 4]);
      await tui.waitFor((s) => squash(s).includes('offeredthefolderphotos/(4files,101.0MB)tobob'), { timeoutMs: WAIT_MS });
      const folderDone = nextEvent(bob, 'folder-done', undefined, WAIT_MS);
      await bob.acceptTransfer(folderOffer.id);
      // The big file of the folder, under the folder's row, with bytes moving.
      screen = await tui.waitFor((s) => /↑ to bob: photos\/ \(3\/4\)/.test(s) && /└ long-exposure\.raw\s+\[#*\.+\]\s+[1-9]\d?%.*ETA \S+\s+relay/.test(s), { timeoutMs: WAIT_MS });
      show('during a folder transfer', screen);
      const savedFolder = await folderDone;
      assert.is(savedFolder.dir, path.join(bobDownloads, 'photos'));
      assert.is(await sha256OfFile(path.join(savedFolder.dir, '2024', 'long-exposure.raw')), await sha256OfFile(path.join(photos, '2024', 'long-exposure.raw')));
      assert.is((await fs.stat(path.join(savedFolder.dir, '2024', 'june', 'empty.txt'))).size, 0);
      screen = await tui.waitFor((s) => /folderphotos\/\(4files\)senttobob;everyhashverified;101\.0MB,took[\d.]+s,[\d.]+[KMG]?B\/saverage/.test(squash(s)), { timeoutMs: WAIT_MS });
      await tui.waitFor((s) => !/↑ to bob: photos\//.test(s), { timeoutMs: WAIT_MS });
      show('after the folder transfer', await tui.capture());

      // A room file: the upload to the relay has its row too, then the stored line with its time.
      await tui.type('/upload photos/2024/long-exposure.raw');
      await tui.keys('Enter');
      screen = await tui.waitFor(/↑ to relay \(global\): long-exposure\.raw\s+\[#*\.+\]\s+[1-9]\d?%.*ETA \S+\s+relay/, { timeoutMs: WAIT_MS });
      show('during an upload to the relay', screen);
      await tui.waitFor((s) => /storedlong-exposure\.raw\(96\.0MB,took[\d.]+s,[\d.]+[KMG]?B\/saverage\)/.test(squash(s)), { timeoutMs: WAIT_MS });

      assert.is(await tui.exit({ timeoutMs: WAIT_MS }), '0');
    } finally {
      await scene.close();
    }
  }),
);

test.run();
