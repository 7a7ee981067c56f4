import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { WireClient, errorCodeOf } from '../../helpers/wire-client.js';
import { askUpload, blake, getBytes, putBytes, upload } from '../../helpers/room-files.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';
import type { RunningRelay } from '../../../relay/server.js';
import type { Limits } from '../../../shared/limits.js';


async function withRelay(fn: (relay: RunningRelay, dataDir: string) => Promise<void>, limits: Partial<Limits> = {}): Promise<void> {
  const dir = await tempDir();
  const relay = await testRelay(dir.path, { limits });
  try {
    await fn(relay, dir.path);
  } finally {
    await relay.close();
    await dir.remove();
  }
}

async function inRoom(port: number, user: string, room: string, create: boolean): Promise<WireClient> {
  const client = await WireClient.session(port, user);
  const reply = await client.request({ t: create ? 'create' : 'join', id: client.id(), room });
  if (reply.t !== 'joined') throw new Error(`could not enter ${room}: ${JSON.stringify(reply)}`);
  return client;
}


test('upload then download round trip: right bytes and hash; listed with sanitized name; generated name on disk', () =>
  withRelay(async (relay, dataDir) => {
    const ann = await inRoom(relay.port, 'ann', 'lab', true);
    const bob = await inRoom(relay.port, 'bob', 'lab', false);
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 9);
    data.write('room-file-content');
    const fileId = await upload(ann, relay.port, 'report.pdf', data);

    const listed = await bob.request({ t: 'files', id: bob.id() });
    assert.is(listed.t, 'files');
    if (listed.t !== 'files') return;
    assert.is(listed.room, 'lab');
    assert.equal(listed.files.map((f) => [f.id, f.name, f.size, f.from, f.hash]), [[fileId, 'report.pdf', data.length, 'ann', blake(data)]]);

    const ticket = await bob.request({ t: 'file-download', id: bob.id(), fileId });
    assert.is(ticket.t, 'file-ticket');
    if (ticket.t !== 'file-ticket') return;
    const got = await getBytes(relay.port, ticket.ticket);
    assert.is(got.ready.t, 'file-ready');
    if (got.ready.t !== 'file-ready') return;
    assert.is(got.ready.size, data.length);
    assert.is(got.ready.hash, blake(data));
    assert.is(got.ready.name, 'report.pdf');
    assert.ok(got.data.equals(data));

    // The ticket was single use.
    const again = await getBytes(relay.port, ticket.ticket);
    assert.is(errorCodeOf(again.ready), 'E_BAD_TICKET');

    const onDisk = await readdir(join(dataDir, 'files'));
    assert.is(onDisk.length, 1);
    assert.match(onDisk[0], /^[0-9a-f]{32}$/);
    ann.close();
    bob.close();
  }));

test('members of the room only: another room gets E_NOT_IN_ROOM, unknown ids E_NO_SUCH_FILE', () =>
  withRelay(async (relay) => {
    const ann = await inRoom(relay.port, 'ann', 'lab', true);
    const cat = await inRoom(relay.port, 'cat', 'other', true);
    const fileId = await upload(ann, relay.port, 'a.txt', Buffer.from('hello'));
    assert.is(errorCodeOf(await cat.request({ t: 'file-download', id: cat.id(), fileId })), 'E_NOT_IN_ROOM');
    assert.is(errorCodeOf(await cat.request({ t: 'file-download', id: cat.id(), fileId: 'abcdef0123' })), 'E_NO_SUCH_FILE');
    const list = await cat.request({ t: 'files', id: cat.id() });
    assert.equal(list.t === 'files' ? list.files : null, []);
    // Not logged in at all: a file request on a fresh connection is refused.
    const stranger = await WireClient.open(relay.port);
    await stranger.hello();
    assert.is(errorCodeOf(await stranger.request({ t: 'files', id: 'f1' })), 'E_NOT_LOGGED_IN');
    for (const client of [ann, cat, stranger]) client.close();
  }));

test('hash mismatch is refused and nothing is indexed or kept on disk', () =>
  withRelay(async (relay, dataDir) => {
    const ann = await inRoom(relay.port, 'ann', 'lab', true);
    const data = Buffer.from('the real bytes');
    const ticket = await askUpload(ann, 'x.bin', data, blake(Buffer.from('other bytes!!!')));
    assert.is(ticket.t, 'file-ticket');
    if (ticket.t !== 'file-ticket') return;
    assert.is(errorCodeOf(await putBytes(relay.port, ticket.ticket, data)), 'E_HASH_MISMATCH');
    const list = await ann.request({ t: 'files', id: ann.id() });
    assert.equal(list.t === 'files' ? list.files : null, []);
    assert.equal(await readdir(join(dataDir, 'files')), []);
    // The reservation was released: a correct upload of the same size fits again.
    await upload(ann, relay.port, 'x.bin', data);
    ann.close();
  }, { roomFilesPerUserBytes: 20 }));

test('size limit, per-user quota and total quota', () =>
  withRelay(async (relay) => {
    const ann = await inRoom(relay.port, 'ann', 'lab', true);
    const bob = await inRoom(relay.port, 'bob', 'lab', false);
    assert.is(errorCodeOf(await askUpload(ann, 'big', Buffer.alloc(101))), 'E_TOO_LARGE');
    await upload(ann, relay.port, 'a', Buffer.alloc(100, 1));
    await upload(ann, relay.port, 'b', Buffer.alloc(100, 2));
    assert.is(errorCodeOf(await askUpload(ann, 'c', Buffer.alloc(1))), 'E_QUOTA', 'per-user quota');
    await upload(bob, relay.port, 'd', Buffer.alloc(50, 3));
    assert.is(errorCodeOf(await askUpload(bob, 'e', Buffer.alloc(60))), 'E_QUOTA', 'total quota');
    // An unused ticket also holds its bytes until it expires.
    const held = await askUpload(bob, 'f', Buffer.alloc(50));
    assert.is(held.t, 'file-ticket');
    assert.is(errorCodeOf(await askUpload(bob, 'g', Buffer.alloc(1))), 'E_QUOTA');
    ann.close();
    bob.close();
  }, { roomFileMaxBytes: 100, roomFilesPerUserBytes: 200, roomFilesTotalBytes: 300 }));

test('client-supplied names: traversal, absolute, control characters and long names are neutralised or refused', () =>
  withRelay(async (relay, dataDir) => {
    const ann = await inRoom(relay.port, 'ann', 'lab', true);
    const data = Buffer.from('x');
    const cases: Array<[string, string]> = [
      ['../../etc/passwd', 'passwd'],
      ['/etc/shadow', 'shadow'],
      ['C:\\Windows\\evil.exe', 'evil.exe'],
      ['bad\u0000na\u001bme\u202e.txt', 'badname.txt'],
    ];
    for (const [raw, expected] of cases) {
      const id = await upload(ann, relay.port, raw, data);
      const list = await ann.request({ t: 'files', id: ann.id() });
      const entry = list.t === 'files' ? list.files.find((f) => f.id === id) : undefined;
      assert.is(entry?.name, expected, raw);
    }
    const long = 'a'.repeat(300) + '.txt';
    const longId = await upload(ann, relay.port, long, data);
    const list = await ann.request({ t: 'files', id: ann.id() });
    const longEntry = list.t === 'files' ? list.files.find((f) => f.id === longId) : undefined;
    assert.ok(longEntry && Buffer.byteLength(longEntry.name) <= 200 && longEntry.name.endsWith('.txt'));
    for (const refused of ['..', '/', '\u0001\u0002', 'b'.repeat(5000)]) {
      assert.is(errorCodeOf(await askUpload(ann, refused, data)), 'E_PATH_REFUSED', JSON.stringify(refused.slice(0, 10)));
    }
    for (const name of await readdir(join(dataDir, 'files'))) assert.match(name, /^[0-9a-f]{32}$/);
    ann.close();
  }));

test('expired files are deleted when the relay starts', async () => {
  const dir = await tempDir();
  try {
    let relay = await testRelay(dir.path);
    const ann = await inRoom(relay.port, 'ann', 'lab', true);
    await upload(ann, relay.port, 'old.txt', Buffer.from('old'));
    ann.close();
    await relay.close();
    assert.is((await readdir(join(dir.path, 'files'))).length, 1);
    relay = await testRelay(dir.path, { limits: { roomFileMaxAgeMs: -1 } });
    assert.equal(await readdir(join(dir.path, 'files')), []);
    const again = await inRoom(relay.port, 'ann2', 'lab', true);
    const list = await again.request({ t: 'files', id: again.id() });
    assert.equal(list.t === 'files' ? list.files : null, []);
    again.close();
    await relay.close();
  } finally {
    await dir.remove();
  }
});

test.run();
