/**
 * Room files between two real ChatClients through a real relay: /upload, /files and
 * /download as typed lines (the command registry), real files in temp folders, on loopback.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PassThrough } from 'node:stream';
import type { ChatError } from '../../../../shared/errors.js';
import { ChatClient } from '../../../../tui/core/client.js';
import { saveFile, type FileSide } from '../../../../tui/core/room-files.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { Recorder } from '../../../helpers/recorder.js';
import { type RelayTestContext, withRelayPerTest } from '../../../helpers/relay.js';
import { testClientOptions } from '../../../helpers/clients.js';


type Ctx = RelayTestContext;

const spec = suite<Ctx>('room files between ChatClients through a real relay');

withRelayPerTest(spec, 'securechat-core-room-files-');

async function online(ctx: Ctx, user: string): Promise<{ client: ChatClient; rec: Recorder; downloads: string }> {
  const downloads = path.join(ctx.dir.path, `${user}-downloads`);
  await fs.mkdir(downloads, { recursive: true });
  const client = new ChatClient({ ...testClientOptions(ctx, user), transfers: { downloadDir: downloads } });
  ctx.clients.push(client);
  const rec = new Recorder(client, 30_000);
  await client.connect();
  return { client, rec, downloads };
}

function blake(data: Buffer): string {
  return createHash('blake2b512').update(data).digest('hex');
}

spec(
  '/upload, /files and /download between two clients in one room; a second download gets a free name',
  plainErrors(async (ctx) => {
    const ann = await online(ctx, 'ann');
    const bob = await online(ctx, 'bob');
    await ann.client.run('/create lab');
    await bob.client.run('/join lab');
    await bob.rec.waitFor('joined', (e) => e.room === 'lab');
    const data = Buffer.alloc(2 * 1024 * 1024 + 3, 5);
    data.write('room file body');
    const source = path.join(ctx.dir.path, 'notes v1.txt');
    await fs.writeFile(source, data);

    await ann.client.run(`/upload "${source}"`);
    const uploaded = await ann.rec.waitFor('file-uploaded');
    assert.equal([uploaded.name, uploaded.size], ['notes v1.txt', data.length]);

    await bob.client.run('/files');
    const listed = await bob.rec.waitFor('files');
    assert.is(listed.room, 'lab');
    assert.equal(listed.files.map((f) => [f.id, f.name, f.size, f.from, f.hash]), [[uploaded.fileId, 'notes v1.txt', data.length, 'ann', blake(data)]]);

    await bob.client.run(`/download ${uploaded.fileId}`);
    const first = await bob.rec.waitFor('file-downloaded');
    assert.is(first.path, path.join(bob.downloads, 'notes v1.txt'));
    assert.is(first.hash, blake(data));
    assert.ok((await fs.readFile(first.path)).equals(data));

    const other = path.join(ctx.dir.path, 'elsewhere');
    await fs.mkdir(other);
    const mark = bob.rec.mark();
    await bob.client.run(`/download ${uploaded.fileId} ${other}`);
    const second = await bob.rec.waitFor('file-downloaded', () => true, mark);
    assert.is(second.path, path.join(other, 'notes v1.txt'));
    const mark2 = bob.rec.mark();
    await bob.client.run(`/download ${uploaded.fileId} ${other}`);
    const third = await bob.rec.waitFor('file-downloaded', () => true, mark2);
    assert.is(third.path, path.join(other, 'notes v1 (1).txt'));
    assert.equal((await fs.readdir(other)).sort(), ['notes v1 (1).txt', 'notes v1.txt'], 'no .part left behind');
    // An id prefix works as it does for /accept; a prefix that names nothing says so with the hint.
    const mark3 = bob.rec.mark();
    await bob.client.run(`/download ${uploaded.fileId.slice(0, 5)} ${other}`);
    const fourth = await bob.rec.waitFor('file-downloaded', () => true, mark3);
    assert.is(fourth.fileId, uploaded.fileId);
    const unknown = uploaded.fileId.startsWith('ffff') ? 'eeee' : 'ffff';
    const refused = await bob.client.downloadFile(unknown).then(() => undefined, (error: ChatError) => error);
    assert.equal([refused?.code, refused?.message], ['E_NO_SUCH_FILE', `no file ${unknown}; /files lists them`]);
    assert.is(bob.rec.of('error').length, 0, JSON.stringify(bob.rec.of('error')));
  }),
);

spec(
  'errors arrive as error events: unknown id, another room, unreadable file, bad usage',
  plainErrors(async (ctx) => {
    const ann = await online(ctx, 'ann');
    const cat = await online(ctx, 'cat');
    await ann.client.run('/create lab');
    await cat.client.run('/create other');
    const source = path.join(ctx.dir.path, 'a.txt');
    await fs.writeFile(source, 'hello');
    await ann.client.run(`/upload ${source}`);
    const uploaded = await ann.rec.waitFor('file-uploaded');
    await cat.client.run(`/download ${uploaded.fileId}`);
    await cat.client.run('/download 0123456789');
    await ann.client.run(`/upload ${path.join(ctx.dir.path, 'missing.txt')}`);
    await ann.client.run('/download ../x');
    assert.equal(cat.rec.of('error').map((e) => [e.command, e.code]), [
      ['download', 'E_NOT_IN_ROOM'],
      ['download', 'E_NO_SUCH_FILE'],
    ]);
    assert.equal(ann.rec.of('error').map((e) => [e.command, e.code]), [
      ['upload', 'E_FILE_UNREADABLE'],
      ['download', 'E_USAGE'],
    ]);
    assert.equal(await fs.readdir(path.join(ctx.dir.path, 'cat-downloads')), []);
  }),
);

function fakeSide(name: string, body: Buffer, hash: string): FileSide {
  const socket = new PassThrough();
  socket.end(body);
  return { ready: { t: 'file-ready', re: 'file1', size: body.length, hash, name }, socket: socket as unknown as FileSide['socket'], head: Buffer.alloc(0) };
}

spec(
  'saving a download: the relay-given name is sanitized into DIR; a hash mismatch keeps only the .part',
  plainErrors(async (ctx) => {
    const dir = path.join(ctx.dir.path, 'saves');
    await fs.mkdir(dir);
    const body = Buffer.from('payload');
    const saved = await saveFile(fakeSide('../../etc/passwd', body, blake(body)), dir);
    assert.is(saved.path, path.join(dir, 'passwd'));
    const control = await saveFile(fakeSide('a\u0007b\u202e.txt', body, blake(body)), dir);
    assert.is(control.path, path.join(dir, 'ab.txt'));
    let code = '';
    try {
      await saveFile(fakeSide('bad.bin', body, blake(Buffer.from('other'))), dir);
    } catch (error) {
      code = (error as ChatError).code;
    }
    assert.is(code, 'E_HASH_MISMATCH');
    assert.equal((await fs.readdir(dir)).sort(), ['ab.txt', 'bad.bin.part', 'passwd']);
  }),
);

spec.run();
