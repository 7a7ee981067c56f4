/**
 * Room files in the TUI without a terminal: the /files table and its parts, the lines and
 * status-bar items of /upload and /download (start, stored, saved, each failure code), Tab
 * completion of their paths, folders and ids, and their /help. Pure apart from a temp folder
 * for the path lister.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TabCompleter, complete, completionTarget, type CompletionSources } from '../../../tui/completion.js';
import { parseCommandLine } from '../../../tui/core/commands.js';
import type { RoomFileEntry } from '../../../tui/core/events.js';
import { listPathCompletions } from '../../../tui/path-completion.js';
import { createTuiCommands, helpLines } from '../../../tui/tui-commands.js';
import { renderStatus } from '../../../tui/view/render.js';
import { cutMiddle, formatAge, formatRoomFileJob, readableBytes, roomFileHint, roomFilesTable } from '../../../tui/view/room-files-format.js';
import { ViewModel } from '../../../tui/view/state.js';
import { unstyle } from '../../../tui/view/style.js';
import { textWidth } from '../../../tui/view/text-width.js';
import { makeTempDir } from '../../helpers/temp.js';

const NOW = 1_700_000_000_000;
const HASH = 'ab'.repeat(64);

function entry(overrides: Partial<RoomFileEntry>): RoomFileEntry {
  return { id: '0123456789', name: 'notes.txt', size: 1536, hash: HASH, from: 'bob', time: NOW - 90_000, ...overrides };
}

function hasControls(text: string): boolean {
  return /[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(text);
}

function model(): ViewModel {
  const m = new ViewModel({ server: 'relay:7443', user: 'alice', now: () => NOW });
  m.apply({ type: 'joined', room: 'dev', users: ['alice', 'bob'], history: [], hasMore: false, rejoined: false });
  return m;
}

const lastLine = (m: ViewModel) => m.current.lines.at(-1)!;

test('ages, names cut in the middle, byte counts in messages', () => {
  assert.is(formatAge(-5_000), '0s');
  assert.is(formatAge(59_999), '59s');
  assert.is(formatAge(60_000), '1m');
  assert.is(formatAge(3_599_000), '59m');
  assert.is(formatAge(3_600_000), '1h');
  assert.is(formatAge(47 * 3_600_000), '47h');
  assert.is(formatAge(6 * 86_400_000 + 5), '6d');
  assert.is(formatAge(Number.NaN), '?');
  assert.is(cutMiddle('short.txt', 32), 'short.txt');
  const cut = cutMiddle('a-very-long-file-name-for-the-quarterly-report.pdf', 20);
  assert.is(textWidth(cut), 20);
  assert.is(cut, 'a-very-lon…eport.pdf');
  const wide = cutMiddle('漢字漢字漢字漢字漢字漢字.txt', 11);
  assert.ok(textWidth(wide) <= 11 && wide.endsWith('.txt'), wide);
  assert.is(cutMiddle('abc', 1), '…');
  assert.is(cutMiddle('abc', 0), '');
  assert.is(readableBytes('room files are limited to 268435456 bytes'), 'room files are limited to 256.0 MB');
  assert.is(readableBytes('only 12 bytes'), 'only 12 bytes');
});

test('the /files table: aligned columns, sizes readable, newest ages, sanitized; an empty room says so', () => {
  const lines = roomFilesTable(
    'dev',
    [entry({}), entry({ id: 'ffffffffff', name: 'holiday-photos.tar.gz', size: 50 * 1024 * 1024, from: 'carol_the_photographer', time: NOW - 3 * 86_400_000 })],
    NOW,
  );
  assert.is(lines[0], 'files stored for dev (2 files, 50.0 MB); /download ID [DIR] saves one:');
  assert.is(lines[1], '  ID             SIZE  AGE  FROM              NAME');
  assert.is(lines[2], '  0123456789   1.5 KB   1m  bob               notes.txt');
  assert.is(lines[3], '  ffffffffff  50.0 MB   3d  carol_th…grapher  holiday-photos.tar.gz');
  // NAME starts in the same column on every row.
  const column = lines[1].indexOf('NAME');
  assert.is(lines[2].indexOf('notes.txt'), column);
  assert.is(lines[3].indexOf('holiday-photos'), column);

  const hostile = roomFilesTable('dev\x1b[2J', [entry({ name: 'evil\x1b]0;pwned\x07{red-bg}.txt\r\nrm -rf', from: 'bob\x9b31m', id: '01234\x1b[5m' })], NOW);
  for (const line of hostile) assert.not.ok(hasControls(line), JSON.stringify(line));
  assert.ok(hostile.join('\n').includes('evil{red-bg}.txt rm -rf'), 'tags shown as text, the line break as a space');
  assert.equal(hostile.length, 3, 'a name cannot add rows');

  assert.equal(roomFilesTable('dev', [], NOW), ['no files stored for dev; /upload PATH stores one for everyone in the room']);
});

test('/upload: a start line and a status-bar item, then the stored line with name, size and id', () => {
  const m = model();
  const job = m.files.startUpload('~/work/report.pdf');
  assert.is(lastLine(m).text, 'uploading report.pdf to the relay for dev…');
  assert.ok(unstyle(renderStatus(m, 200, NOW)).includes('↑ report.pdf uploading'));
  m.apply({ type: 'file-uploaded', fileId: 'a1b2c3d4e5', name: 'report.pdf', size: 2048, elapsedMs: 500, avgBps: 4096 });
  const stored = lastLine(m);
  assert.is(stored.kind, 'system');
  assert.is(stored.text, 'stored report.pdf (2.0 KB, took 0.5s, 4.0 KB/s average) on the relay for dev: file id a1b2c3d4e5; members of dev fetch it with /download a1b2c3d4e5');
  assert.equal(m.files.roomFileIds(), ['a1b2c3d4e5'], 'Tab after /download offers it');
  m.files.finishRoomFile(job);
  assert.not.ok(unstyle(renderStatus(m, 200, NOW)).includes('uploading'));

  // Switching rooms during an upload: the stored line names the room it went to.
  m.files.startUpload('plan.txt');
  m.apply({ type: 'joined', room: 'ops', users: ['alice'], history: [], hasMore: false, rejoined: false });
  assert.equal(m.files.roomFileIds(), [], 'ids belong to their room');
  m.apply({ type: 'file-uploaded', fileId: 'ffff000011', name: 'plan.txt', size: 5, elapsedMs: 1, avgBps: 5000 });
  assert.ok(lastLine(m).text.includes('for dev: file id ffff000011'), lastLine(m).text);
});

test('/files fills the ids for Tab; /download: start (with the name when listed), saved line, status bar', () => {
  const m = model();
  m.apply({ type: 'files', room: 'dev', files: [entry({}), entry({ id: 'abcdefabcd', name: 'b.bin', size: 10 })] });
  assert.is(lastLine(m).kind, 'system');
  assert.ok(lastLine(m).text.startsWith('files stored for dev (2 files'), lastLine(m).text);
  assert.equal(m.files.roomFileIds().sort(), ['0123456789', 'abcdefabcd']);

  const job = m.files.startDownload('0123456789', '/home/alice/Downloads');
  assert.is(lastLine(m).text, 'downloading notes.txt (1.5 KB, id 0123456789) into /home/alice/Downloads…');
  assert.ok(unstyle(renderStatus(m, 200, NOW)).includes('↓ notes.txt downloading'));
  m.apply({ type: 'file-downloaded', fileId: '0123456789', path: '/home/alice/Downloads/notes (1).txt', hash: HASH, size: 1536, elapsedMs: 1500, avgBps: 1024 });
  assert.is(lastLine(m).text, `downloaded notes.txt (1.5 KB, id 0123456789): saved as /home/alice/Downloads/notes (1).txt; hash verified (BLAKE2b ${HASH.slice(0, 16)}…); 1.5 KB, took 1.5s, 1.0 KB/s average`);
  m.files.finishRoomFile(job);
  assert.is(m.files.roomFileJobs.size, 0);

  // Not listed before: named by its id.
  m.files.startDownload('9999999999', '/tmp');
  assert.is(lastLine(m).text, 'downloading file 9999999999 into /tmp…');
  m.apply({ type: 'file-downloaded', fileId: '9999999999', path: '/tmp/x', hash: HASH, size: 0, elapsedMs: 1, avgBps: 0 });
  assert.ok(lastLine(m).text.startsWith('downloaded file 9999999999: saved as /tmp/x; hash verified'));

  m.apply({ type: 'files', room: 'dev', files: [] });
  assert.ok(lastLine(m).text.startsWith('no files stored for dev'));
  assert.equal(m.files.roomFileIds(), []);
});

test('failures: an error line with the code and a hint for each room file code', () => {
  const m = model();
  const cases: Array<['upload' | 'download', string, string, RegExp]> = [
    ['download', 'E_NO_SUCH_FILE', 'there is no file 00000000ff', /\/files lists/],
    ['download', 'E_NOT_IN_ROOM', 'file 00000000ff belongs to a room you are not in', /\/join it/],
    ['download', 'E_HASH_MISMATCH', 'the downloaded file does not match its hash; kept as /d/x.part', /kept as \/d\/x\.part; nothing was saved/],
    ['download', 'E_PATH_REFUSED', 'cannot write in /root', /choose another folder/],
    ['upload', 'E_QUOTA', 'your room files may take 1073741824 bytes on this relay; 1073741000 are used', /1\.0 GB on this relay.*\/files shows/],
    ['upload', 'E_TOO_LARGE', 'room files are limited to 268435456 bytes', /256\.0 MB; too big.*\/send USER PATH/],
    ['upload', 'E_FILE_UNREADABLE', 'x is not a readable regular file', /Tab completes/],
    ['upload', 'E_HASH_MISMATCH', 'the uploaded bytes do not match the announced hash', /changed while it was read/],
    ['upload', 'E_CLOSED', 'the relay closed the file connection', /try again/],
  ];
  for (const [command, code, message, hint] of cases) {
    const job = command === 'upload' ? m.files.startUpload('/w/big.iso') : m.files.startDownload('00000000ff', '/d');
    m.files.roomFileFailed(job, code, message);
    const line = lastLine(m);
    assert.is(line.kind, 'error', code);
    assert.ok(line.text.startsWith(command === 'upload' ? '/upload big.iso failed: ' : '/download 00000000ff failed: '), line.text);
    assert.ok(line.text.endsWith(`(${code})`), line.text);
    assert.match(line.text, hint);
    assert.is(m.files.roomFileJobs.size, 0, 'off the status bar');
  }
  assert.is(roomFileHint('download', 'E_SOMETHING_NEW'), '');
  const job = m.files.startDownload('00000000ff', '/d');
  m.files.roomFileFailed(job, 'E_X\x1b[2J', 'bad\x07 news');
  assert.not.ok(hasControls(lastLine(m).text));
  assert.is(formatRoomFileJob({ job: 1, direction: 'up', name: 'a', room: 'dev' }), '↑ a uploading');
});

test('Tab: /upload completes paths, /download an id then folders only, /accept DIR folders only', async () => {
  const dir = await makeTempDir('securechat-files-paths-');
  try {
    await fs.mkdir(path.join(dir, 'drafts'));
    await fs.mkdir(path.join(dir, 'downloads'));
    await fs.writeFile(path.join(dir, 'draft.txt'), 'x');
    await fs.writeFile(path.join(dir, 'drafts', 'v2.md'), 'x');
    const lister = (word: string, options?: { foldersOnly?: boolean }) => listPathCompletions(word, { cwd: dir, home: dir, ...options });
    assert.equal(lister('d'), ['downloads/', 'draft.txt', 'drafts/']);
    assert.equal(lister('d', { foldersOnly: true }), ['downloads/', 'drafts/']);
    const sources: CompletionSources = { commands: createTuiCommands().names(), nicks: ['bob'], rooms: [], paths: lister, fileIds: ['0123456789', 'abcdefabcd'] };

    assert.equal(completionTarget('/upload dr', 10), { kind: 'path', start: 8, end: 10, word: 'dr', suffix: '' });
    assert.equal(complete('/upload draft.', 14, sources)?.line, '/upload draft.txt ');
    const tab = new TabCompleter();
    const first = tab.next('/upload dr', 10, sources)!;
    assert.equal(first.matches, ['draft.txt', 'drafts/']);
    const inside = tab.next('/upload drafts/', 15, sources)!;
    assert.is(inside.line, '/upload drafts/v2.md ');

    assert.is(completionTarget('/download 01', 12).kind, 'file');
    assert.equal(complete('/download ab', 12, sources)?.line, '/download abcdefabcd ');
    assert.equal(complete('/download ', 10, sources)?.matches, ['0123456789', 'abcdefabcd']);
    assert.is(complete('/download zz', 12, sources), null);
    assert.equal(completionTarget('/download 0123456789 d', 22), { kind: 'path', start: 21, end: 22, word: 'd', suffix: '', foldersOnly: true });
    assert.equal(complete('/download 0123456789 d', 22, sources)?.matches, ['downloads/', 'drafts/']);
    // A lister that ignores the hint still only yields folders for a DIR.
    const ignoring: CompletionSources = { ...sources, paths: (word) => listPathCompletions(word, { cwd: dir, home: dir }) };
    assert.equal(complete('/accept AbCdEfGh12345678 dr', 27, ignoring)?.matches, ['drafts/']);
    // /send keeps offering files.
    assert.equal(complete('/send bob dr', 12, sources)?.matches, ['draft.txt', 'drafts/']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('/help lists /upload, /files and /download with their usage; bad ids are usage errors', () => {
  const registry = createTuiCommands();
  const all = helpLines(registry).join('\n');
  assert.match(all, /\/upload PATH +store a file on the relay for your room; members see it in \/files until it expires/);
  assert.match(all, /\/files +list the files stored for your room: id, size, age, who, name/);
  assert.match(all, /\/download ID \[DIR\] +fetch a file \(ID from \/files\) into DIR/);
  assert.equal(helpLines(registry, 'download'), ['/download ID [DIR]', '  fetch a file (ID from /files) into DIR, default ~/Downloads or the working folder']);
  const bad = parseCommandLine('/download ../etc', registry);
  assert.is(bad.kind === 'error' ? bad.error.code : bad.kind, 'E_USAGE');
  const empty = parseCommandLine('/upload   ', registry);
  assert.is(empty.kind === 'error' ? empty.error.code : empty.kind, 'E_USAGE');
  const ok = parseCommandLine('/download 0123456789 "my folder"', registry);
  assert.equal(ok.kind === 'command' ? ok.args : ok.kind, { id: '0123456789', dir: 'my folder' });
});

test.run();
