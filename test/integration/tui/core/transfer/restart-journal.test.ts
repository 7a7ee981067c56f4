/**
 * The transfer journal (tui/core/transfer/journal.ts) and what checks a record on its way
 * back in (credentialsFromPem, FileTransfer.restore): real files in a temp folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../../shared/errors.js';
import {
  type FolderJournalRecord,
  TransferJournal,
  type TransferJournalRecord,
  folderJournalFileName,
  journalFileName,
  parseFolderRecord,
  parseJournalRecord,
} from '../../../../../tui/core/transfer/journal.js';
import { type TransferCredentials, createTransferCredentials, credentialsFromPem } from '../../../../../tui/core/transfer/credentials.js';
import { FileTransfer } from '../../../../../tui/core/transfer/transfer.js';
import { thrownCode } from '../../../../helpers/errors.js';
import { makeTempDir } from '../../../../helpers/temp.js';

let credentials: TransferCredentials;
let other: TransferCredentials;

function record(dir: string, overrides: Partial<TransferJournalRecord> = {}): TransferJournalRecord {
  return {
    transferId: 'AbCdEfGh12345678',
    role: 'receiver',
    peer: 'ann',
    peerKeys: { sign: randomBytes(32).toString('base64'), box: randomBytes(32).toString('base64') },
    savedMs: 1_700_000_000_000,
    name: 'report.pdf',
    size: 1000,
    hash: createHash('sha256').update('report').digest('hex'),
    credentials: { key: credentials.key, cert: credentials.cert },
    peerFingerprint: other.fingerprint,
    peerCandidates: [{ kind: 'lan', host: '192.168.1.20', port: 4000 }],
    sessions: 2,
    ackedBytes: 300,
    receive: { directory: dir, partPath: path.join(dir, 'report.pdf.part') },
    ...overrides,
  };
}

const noLink = { link: { send: () => undefined } };

function folderRecord(dir: string, overrides: Partial<FolderJournalRecord> = {}): FolderJournalRecord {
  return {
    folderId: 'FolderId12345678',
    role: 'sender',
    peer: 'bob',
    peerKeys: { sign: randomBytes(32).toString('base64'), box: randomBytes(32).toString('base64') },
    savedMs: 1_700_000_000_000,
    name: 'photos',
    files: 2,
    size: 300,
    dir,
    entries: [
      { path: 'a.jpg', size: 100, mtimeMs: 1_700_000_000_000.5, hash: createHash('sha256').update('a').digest('hex') },
      { path: '2024/b.jpg', size: 200, mtimeMs: 1_700_000_000_001 },
    ],
    filesDone: 1,
    current: 'ChildId123456789',
    ...overrides,
  };
}

test.before(async () => {
  credentials = await createTransferCredentials();
  other = await createTransferCredentials();
});

test('save then load: the same record back; folder 0700, file 0600, named after the id in hex', async () => {
  const base = await makeTempDir();
  try {
    const journal = new TransferJournal(path.join(base, 'transfers'));
    const saved = record(base);
    await journal.save(saved);
    const { records, problems } = await journal.load();
    assert.equal(problems, []);
    assert.equal(records, [saved]);
    assert.is((await fs.stat(journal.dir)).mode & 0o777, 0o700);
    const file = journal.fileOf(saved.transferId);
    assert.is(path.basename(file), `transfer-${Buffer.from(saved.transferId).toString('hex')}.json`);
    assert.is((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal(await fs.readdir(journal.dir), [path.basename(file)], 'no temp file left');
    // Ids that differ only in case get different files (case-insensitive file systems).
    assert.is.not(journalFileName('abcdefgh'), journalFileName('ABCDEFGH'));
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('writes for one transfer land in order; after remove, late saves are dropped and the file is gone', async () => {
  const base = await makeTempDir();
  try {
    const journal = new TransferJournal(path.join(base, 'transfers'));
    const writes = [1, 2, 3].map((sessions) => journal.save(record(base, { sessions })));
    await Promise.all(writes);
    assert.is((await journal.load()).records[0].sessions, 3);
    const removing = journal.remove('AbCdEfGh12345678');
    const late = journal.save(record(base, { sessions: 4 }));
    await Promise.all([removing, late]);
    await journal.idle();
    assert.equal(await fs.readdir(journal.dir), []);
    assert.equal((await journal.load()).records, []);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('a missing folder is an empty journal; temp files of a crashed write are removed (old, or their writer gone), fresh ones of a running writer kept', async () => {
  const base = await makeTempDir();
  try {
    const journal = new TransferJournal(path.join(base, 'transfers'));
    assert.equal(await journal.load(), { records: [], folders: [], problems: [] });
    await fs.mkdir(journal.dir);
    const stale = path.join(journal.dir, `.${journalFileName('AbCdEfGh12345678')}.123.abcdef.tmp`);
    const fresh = path.join(journal.dir, `.${journalFileName('AbCdEfGh12345679')}.${process.pid}.abcdef.tmp`);
    // Above Linux's largest pid (2^22): no such process.
    const orphan = path.join(journal.dir, `.${journalFileName('AbCdEfGh1234567a')}.4194305.abcdef.tmp`);
    await fs.writeFile(stale, 'half a record');
    await fs.writeFile(fresh, 'being written');
    await fs.writeFile(orphan, 'its writer was killed');
    const old = new Date(Date.now() - 10 * 60_000);
    await fs.utimes(stale, old, old);
    assert.equal(await journal.load(), { records: [], folders: [], problems: [] });
    assert.equal(await fs.readdir(journal.dir), [path.basename(fresh)]);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('a folder record: saved beside the file records (0600, named after the id in hex) and loaded apart from them', async () => {
  const base = await makeTempDir();
  try {
    const journal = new TransferJournal(path.join(base, 'transfers'));
    const folder = folderRecord(base);
    const file = { ...record(base), folder: folder.folderId };
    await Promise.all([journal.saveFolder(folder), journal.save(file)]);
    const loaded = await journal.load();
    assert.equal(loaded, { records: [file], folders: [folder], problems: [] });
    assert.is(path.basename(journal.folderFileOf(folder.folderId)), `folder-${Buffer.from(folder.folderId).toString('hex')}.json`);
    assert.is((await fs.stat(journal.folderFileOf(folder.folderId))).mode & 0o777, 0o600);
    assert.is.not(folderJournalFileName('abcdefgh'), folderJournalFileName('ABCDEFGH'));
    // A record under another id's name is refused (and deleted), as for a file.
    await fs.rename(journal.folderFileOf(folder.folderId), journal.folderFileOf('SomeOtherFolder1'));
    const moved = await journal.load();
    assert.equal([moved.folders, moved.problems.map((p) => p.error.code)], [[], ['E_CORRUPT_FILE']]);
    await journal.removeFolder(folder.folderId);
    await journal.remove(file.transferId);
    await journal.idle();
    assert.equal(await fs.readdir(journal.dir), []);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('records of the release before SHA-256 (BLAKE2b-512 hashes, 128 hex) still load; their hashes are forgotten until the transfer learns them again', async () => {
  const base = await makeTempDir();
  try {
    const journal = new TransferJournal(path.join(base, 'transfers'));
    await fs.mkdir(journal.dir, { mode: 0o700 });
    const blake2b = (text: string): string => createHash('blake2b512').update(text).digest('hex');
    // The files as that release wrote them: the same v1 records, BLAKE2b-512 where a hash was known.
    const receiver = record(base, { hash: blake2b('report') });
    const sender = record(base, { transferId: 'SenderId12345678', role: 'sender', hash: blake2b('big'), receive: undefined, file: { path: path.join(base, 'report.pdf'), mtimeMs: 5 } });
    const folder = folderRecord(base);
    folder.entries[0].hash = blake2b('a');
    const files = [
      [journal.fileOf(receiver.transferId), { v: 1, kind: 'securechat-transfer', ...receiver }],
      [journal.fileOf(sender.transferId), { v: 1, kind: 'securechat-transfer', ...sender }],
      [journal.folderFileOf(folder.folderId), { v: 1, kind: 'securechat-folder', ...folder }],
    ] as const;
    for (const [file, value] of files) await fs.writeFile(file, JSON.stringify(value), { mode: 0o600 });

    const loaded = await journal.load();
    assert.equal(loaded.problems, [], 'nothing refused');
    assert.equal(
      loaded.records.map((r) => [r.transferId, r.hash]).sort(),
      [['AbCdEfGh12345678', ''], ['SenderId12345678', '']],
      'each hash forgotten (not known yet), the rest of the record as written',
    );
    assert.equal(loaded.records.find((r) => r.role === 'receiver'), { ...receiver, hash: '' });
    const { hash: _forgotten, ...firstEntry } = folder.entries[0];
    assert.equal(loaded.folders, [{ ...folder, entries: [firstEntry, folder.entries[1]] }]);
    assert.equal((await fs.readdir(journal.dir)).sort(), files.map(([file]) => path.basename(file)).sort(), 'every record kept');
    // Restored, the receiver expects whatever the sender's `end` says, as before the end of any transfer.
    assert.is(FileTransfer.restore(loaded.records.find((r) => r.role === 'receiver')!, noLink).hash, '');
    // Written again, the record holds no BLAKE2b any more.
    await journal.save(loaded.records.find((r) => r.role === 'sender')!);
    assert.is(JSON.parse(await fs.readFile(journal.fileOf(sender.transferId), 'utf8')).hash, '');
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test("remove(id, after): a folder's file record goes only once the folder's record counted it", async () => {
  const base = await makeTempDir();
  try {
    const journal = new TransferJournal(path.join(base, 'transfers'));
    await journal.save(record(base));
    let counted!: () => void;
    const folderSaved = new Promise<void>((resolve) => (counted = resolve));
    const removing = journal.remove('AbCdEfGh12345678', folderSaved);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok((await fs.readdir(journal.dir)).includes(journalFileName('AbCdEfGh12345678')), 'still there while the folder has not counted it');
    counted();
    await removing;
    assert.equal(await fs.readdir(journal.dir), []);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('parseFolderRecord refuses what does not hold together (E_CORRUPT_FILE); paths are checked again when restored', () => {
  const good = { v: 1, kind: 'securechat-folder', ...folderRecord('/home/ann/photos') };
  assert.is(parseFolderRecord(JSON.stringify(good)).folderId, good.folderId);
  assert.is(parseFolderRecord(JSON.stringify({ ...good, role: 'receiver', entries: good.entries.slice(0, 1), current: null })).role, 'receiver');
  const bad: unknown[] = [
    '{',
    { ...good, kind: 'securechat-transfer' },
    { ...good, extra: 1 },
    { ...good, folderId: '../x' },
    { ...good, peer: 'no such name!' },
    { ...good, files: 0 },
    { ...good, files: 10_001 },
    { ...good, dir: 'relative' },
    { ...good, filesDone: 3 },
    { ...good, current: 'bad id!' },
    { ...good, entries: [...good.entries, { path: 'c', size: 1, mtimeMs: 1 }] },
    { ...good, entries: [{ path: 'a.jpg', size: 100 }, good.entries[1]] },
    { ...good, entries: [{ ...good.entries[0], size: 1000 }, good.entries[1]] },
    { ...good, entries: [{ ...good.entries[0], hash: 'ABC' }, good.entries[1]] },
    { ...good, entries: [{ ...good.entries[0], hash: 'AB'.repeat(32) }, good.entries[1]] },
    { ...good, entries: [{ ...good.entries[0], hash: 'ab'.repeat(48) }, good.entries[1]] },
    { ...good, entries: [{ ...good.entries[0], path: 'x'.repeat(1025) }, good.entries[1]] },
  ];
  for (const value of bad) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    assert.is(thrownCode(() => parseFolderRecord(text)), 'E_CORRUPT_FILE', text.slice(0, 160));
  }
  try {
    parseFolderRecord(JSON.stringify({ ...good, v: 2 }));
    assert.unreachable();
  } catch (error) {
    assert.is((error as ChatError).details.newer, true);
  }
});

test('parseJournalRecord refuses what does not hold together (E_CORRUPT_FILE); a newer version is marked', () => {
  const dir = '/home/bob/Downloads';
  const good = { v: 1, kind: 'securechat-transfer', ...record(dir) };
  assert.is(parseJournalRecord(JSON.stringify(good)).transferId, good.transferId);
  const bad: unknown[] = [
    '{',
    'null',
    '[]',
    { ...good, kind: 'something-else' },
    { ...good, v: 0 },
    { ...good, extra: true },
    { ...good, transferId: '../../etc' },
    { ...good, role: 'relay' },
    { ...good, peer: 'bad name!' },
    { ...good, peerKeys: { sign: 'AAAA', box: good.peerKeys.box } },
    { ...good, size: -1 },
    { ...good, ackedBytes: 1001 },
    { ...good, hash: 'ABC' },
    { ...good, hash: 'AB'.repeat(32) },
    { ...good, hash: 'ab'.repeat(48) },
    { ...good, peerFingerprint: 'aa:bb' },
    { ...good, peerCandidates: [{ kind: 'lan', host: '1.2.3.4', port: 0 }] },
    { ...good, peerCandidates: Array.from({ length: 65 }, () => ({ kind: 'lan', host: '1.2.3.4', port: 1 })) },
    { ...good, sessions: 1.5 },
    { ...good, credentials: { key: 'x'.repeat(9000), cert: good.credentials.cert } },
    { ...good, receive: { directory: 'relative/dir', partPath: '/x/report.pdf.part' } },
    { ...good, receive: undefined },
    { ...good, file: { path: '/x/report.pdf', mtimeMs: 1 } },
    { ...good, role: 'sender' },
    { ...good, role: 'sender', receive: undefined, file: { path: 'report.pdf', mtimeMs: 1 } },
  ];
  for (const value of bad) {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    assert.is(thrownCode(() => parseJournalRecord(text)), 'E_CORRUPT_FILE', text.slice(0, 120));
  }
  try {
    parseJournalRecord(JSON.stringify({ ...good, v: 2 }));
    assert.unreachable();
  } catch (error) {
    assert.is((error as ChatError).code, 'E_CORRUPT_FILE');
    assert.is((error as ChatError).details.newer, true);
  }
});

test('credentialsFromPem: the pair must match; the fingerprint is recomputed, never read', () => {
  const back = credentialsFromPem(credentials.key, credentials.cert);
  assert.is(back.fingerprint, credentials.fingerprint);
  assert.is(thrownCode(() => credentialsFromPem(other.key, credentials.cert)), 'E_CORRUPT_FILE');
  assert.is(thrownCode(() => credentialsFromPem('not a key', credentials.cert)), 'E_CORRUPT_FILE');
  assert.is(thrownCode(() => credentialsFromPem(credentials.key, 'not a cert')), 'E_CORRUPT_FILE');
});

test('FileTransfer.restore: the partial file must be <folder>/<name>.part, paths absolute, the sender file named as offered', () => {
  const dir = '/home/bob/Downloads';
  const receiver = FileTransfer.restore(record(dir), noLink);
  assert.equal([receiver.state, receiver.role, receiver.name, receiver.size], ['new', 'receiver', 'report.pdf', 1000]);
  assert.equal([receiver.snapshot().restored, receiver.snapshot().filePath], [true, path.join(dir, 'report.pdf.part')]);
  assert.equal(receiver.resumeState()?.receive, { partPath: path.join(dir, 'report.pdf.part'), directory: dir });

  const refused = [
    record(dir, { receive: { directory: dir, partPath: '/etc/passwd' } }),
    record(dir, { receive: { directory: dir, partPath: path.join(dir, 'other.pdf.part') } }),
    record(dir, { name: '../report.pdf', receive: { directory: dir, partPath: path.join(dir, '../report.pdf.part') } }),
    record(dir, { receive: { directory: 'Downloads', partPath: 'Downloads/report.pdf.part' } }),
    record(dir, { receive: undefined }),
    record(dir, { credentials: { key: other.key, cert: credentials.cert } }),
    record(dir, { role: 'sender', receive: undefined, file: { path: '/home/bob/other.pdf', mtimeMs: 1 } }),
    record(dir, { role: 'sender', receive: undefined, file: { path: 'report.pdf', mtimeMs: 1 } }),
  ];
  for (const state of refused) assert.is(thrownCode(() => FileTransfer.restore(state, noLink)), 'E_CORRUPT_FILE', JSON.stringify(state.receive ?? state.file));

  const sender = FileTransfer.restore(record(dir, { role: 'sender', receive: undefined, file: { path: '/home/bob/report.pdf', mtimeMs: 5 } }), noLink);
  assert.equal(sender.resumeState()?.file, { path: '/home/bob/report.pdf', mtimeMs: 5 });
});

test('a restored sender whose file is gone fails with E_FILE_CHANGED and tells the peer; a receiver refuses a part that is not a file', async () => {
  const base = await makeTempDir();
  try {
    const sent: unknown[] = [];
    const link = { link: { send: (message: unknown) => void sent.push(message) } };
    const sender = FileTransfer.restore(record(base, { role: 'sender', receive: undefined, file: { path: path.join(base, 'report.pdf'), mtimeMs: 5 } }), link);
    await sender.resume();
    const result = await sender.finished;
    assert.equal([result.state, result.code], ['failed', 'E_FILE_CHANGED']);
    assert.equal(sent, [{ t: 'file-cancel', transferId: 'AbCdEfGh12345678', code: 'E_FILE_CHANGED' }]);

    await fs.mkdir(path.join(base, 'report.pdf.part'));
    const receiver = FileTransfer.restore(record(base), link);
    await receiver.resume();
    const refused = await receiver.finished;
    assert.equal([refused.state, refused.code], ['failed', 'E_PATH_REFUSED']);

    const checked = FileTransfer.restore(record(base), link);
    await checked.resume(async () => {
      throw new ChatError('E_KEY_CHANGED');
    });
    assert.equal((await checked.finished).code, 'E_KEY_CHANGED');
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('suspend: no word to the peer, the state is kept, finished says suspended; resumeState is then null', async () => {
  const sent: unknown[] = [];
  const transfer = FileTransfer.restore(record('/home/bob/Downloads'), { link: { send: (message) => void sent.push(message) } });
  const result = await transfer.suspend();
  assert.equal([result.state, result.filePath], ['suspended', '/home/bob/Downloads/report.pdf.part']);
  assert.is(transfer.state, 'new');
  assert.equal(sent, []);
  assert.is(transfer.resumeState(), null);
  // Resuming a suspended transfer does nothing.
  await transfer.resume();
  assert.equal(sent, []);
});

test.run();
