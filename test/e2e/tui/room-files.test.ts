import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { plainErrors } from '../../helpers/core-helpers.js';
import { testClientOptions } from '../../helpers/clients.js';
import { testTuiLogin } from '../../helpers/tmux.js';
import { squash as squashPane, tuiScene } from '../../helpers/tui-scene.js';

/**
 * Room files in the real TUI (dist/tui/cli.js) in tmux against a real relay, with bob as a
 * ChatClient in the same room: alice uploads with Tab completing the path, bob sees it and
 * stores one of his own, /files shows both as a table, a wrong id is a readable error with
 * its code, and alice downloads (id and DIR by Tab) into a temp folder with the same bytes.
 * Every wait is bounded.
 */
const WAIT_MS = 30_000;

/** The messages pane's text without white space; rows with no pane border kept whole. */
function squash(screen: string): string {
  return squashPane(screen, 'keep');
}

function shows(screen: string, text: string): boolean {
  return squash(screen).includes(text.replace(/\s+/g, ''));
}

test(
  'TUI: /upload with Tab, another member in the room, /files table, /download with Tab into a folder, an unknown id',
  plainErrors(async () => {
    const scene = await tuiScene('securechat-tui-files-');
    const { dir, relay, home, work } = scene;
    const env = { relay, dir };
    const downloads = path.join(dir.path, 'alice-downloads');
    await fs.mkdir(downloads);
    const content = randomBytes(300_000);
    await fs.writeFile(path.join(work, 'meeting-notes.txt'), content);
    const budget = path.join(dir.path, 'budget.csv');
    await fs.writeFile(budget, 'q1,q2\n10,20\n');
    const bob = scene.client(testClientOptions(env, 'bob'));
    try {
      await bob.connect();
      const tui = await scene.startTui({ ...testTuiLogin(env, 'alice'), noDirect: true, home, cwd: work, cols: 100 });
      await tui.waitFor(/\[connected\].*alice@global/, { timeoutMs: WAIT_MS });
      await tui.type('/create dev');
      await tui.keys('Enter');
      await tui.waitFor(/alice@dev/, { timeoutMs: WAIT_MS });
      await bob.join('dev');
      await tui.waitFor('--> bob joined', { timeoutMs: WAIT_MS });

      // /upload: Tab completes the local file; a line when it starts, one when it is stored.
      await tui.type('/upload meet');
      await tui.keys('Tab');
      await tui.waitFor('[dev] /upload meeting-notes.txt', { timeoutMs: WAIT_MS });
      await tui.keys('Enter');
      // The stored line says the size, the time taken and the average speed.
      let screen = await tui.waitFor(/stored meeting-notes\.txt \(293\.0 KB, took [\d.]+s,/, { timeoutMs: WAIT_MS });
      assert.ok(screen.includes('uploading meeting-notes.txt to the relay for dev'), screen);
      const storedId = /fileid([0-9a-f]{10});/;
      const stored = storedId.exec(squash(await tui.waitFor((s) => storedId.test(squash(s)), { timeoutMs: WAIT_MS })));
      assert.ok(stored, 'the stored line names the file id');
      const fileId = stored[1];

      // bob, in the same room, sees it and stores a file of his own.
      const bobsList = await bob.listFiles();
      assert.equal(
        bobsList.files.map((f) => [f.id, f.name, f.size, f.from]),
        [[fileId, 'meeting-notes.txt', content.length, 'alice']],
      );
      const bobs = await bob.uploadFile(budget);

      // /files: a table with both, sizes readable, who stored each.
      await tui.type('/files');
      await tui.keys('Enter');
      screen = await tui.waitFor('files stored for dev (2 files', { timeoutMs: WAIT_MS });
      await tui.waitFor(/ID\s+SIZE\s+AGE\s+FROM\s+NAME/, { timeoutMs: WAIT_MS });
      screen = await tui.waitFor((s) => s.includes('budget.csv'), { timeoutMs: WAIT_MS });
      assert.match(screen, new RegExp(`${fileId}\\s+293\\.0 KB\\s+\\d+s\\s+alice\\s+meeting-notes\\.txt`));
      assert.match(screen, new RegExp(`${bobs.fileId}\\s+12 B\\s+\\d+s\\s+bob\\s+budget\\.csv`));
      const filesScreen = screen;

      // An id that is not there: a readable error line with its code.
      await tui.type('/download 00000000ff');
      await tui.keys('Enter');
      screen = await tui.waitFor('(E_NO_SUCH_FILE)', { timeoutMs: WAIT_MS });
      assert.ok(shows(screen, '/download 00000000ff failed'), screen);

      // /download: Tab completes the id from /files and the folder; start and saved lines.
      await tui.type(`/download ${fileId.slice(0, 4)}`);
      await tui.keys('Tab');
      await tui.type(`${dir.path}/alice-dow`);
      await tui.keys('Tab');
      await tui.waitFor(`${fileId} ${dir.path}/alice-downloads/`, { timeoutMs: WAIT_MS });
      await tui.keys('Enter');
      screen = await tui.waitFor((s) => shows(s, 'hash verified (BLAKE2b'), { timeoutMs: WAIT_MS });
      const saved = path.join(downloads, 'meeting-notes.txt');
      assert.ok(shows(screen, `downloading meeting-notes.txt (293.0 KB, id ${fileId}) into ${downloads}/`), screen);
      assert.ok(shows(screen, `downloaded meeting-notes.txt (293.0 KB, id ${fileId}): saved as ${saved}`), screen);
      assert.ok((await fs.readFile(saved)).equals(content), 'the downloaded bytes are the uploaded ones');
      if (process.env.SECURECHAT_SHOW_SCREEN) console.log(`${filesScreen}\n${screen}`);

      assert.is(await tui.exit({ timeoutMs: WAIT_MS }), '0');
    } finally {
      await scene.close();
    }
  }),
);

test.run();
