import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatError } from '../../../../../shared/errors.js';
import { FILE_HASH_ALGORITHM, FILE_HASH_HEX, newFileHash } from '../../../../../tui/core/transfer/file-hash.js';
import { FileSink, hashFile } from '../../../../../tui/core/transfer/file-sink.js';
import { makeTempDir } from '../../../../helpers/temp.js';

let dir = '';

test.before(async () => {
  dir = await makeTempDir();
});

test.after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The transfer's whole-file hash of `data` in one piece. */
const fileHash = (data: Uint8Array): string => newFileHash().update(data).digest('hex');

test("the transfer's whole-file hash is SHA-256: FIPS 180-2 / NIST known answers, fed in one piece and in pieces of a shared ring", () => {
  const known: Array<[string, Buffer]> = [
    ['e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', Buffer.alloc(0)],
    ['ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', Buffer.from('abc')],
    ['248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1', Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')],
    ['cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0', Buffer.alloc(1_000_000, 'a')],
  ];
  for (const [expected, data] of known) {
    assert.is(fileHash(data), expected, `${data.length} bytes`);
    assert.ok(FILE_HASH_HEX.test(expected));
    // The file worker feeds it in pieces, views of a shared ring.
    const shared = new Uint8Array(new SharedArrayBuffer(Math.max(data.length, 1)));
    shared.set(data);
    const hash = newFileHash();
    for (let at = 0; at < data.length; at += 65_537) hash.update(shared.subarray(at, Math.min(data.length, at + 65_537)));
    assert.is(hash.digest('hex'), expected, `${data.length} bytes in pieces`);
  }
  assert.not.ok(FILE_HASH_HEX.test(createHash('blake2b512').digest('hex')), "the previous BLAKE2b-512 is not the transfer's hash");
});

test('hashFile hashes a whole file and a range, in a worker: the transfer hash, or the BLAKE2b-512 of room files', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const file = path.join(dir, 'h.bin');
  await fs.writeFile(file, data);
  assert.is(await hashFile(file, FILE_HASH_ALGORITHM, { end: data.length }), fileHash(data));
  assert.is(await hashFile(file, FILE_HASH_ALGORITHM, { start: 100, end: 5000 }), fileHash(data.subarray(100, 5000)));
  assert.is(await hashFile(file, 'blake2b512', { end: data.length }), createHash('blake2b512').update(data).digest('hex'));
});

test('hashFile: a missing file is E_FILE_UNREADABLE; an aborted hash is E_CANCELLED', async () => {
  try {
    await hashFile(path.join(dir, 'missing'), FILE_HASH_ALGORITHM, { end: 10 });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ChatError).code, 'E_FILE_UNREADABLE');
  }
  const controller = new AbortController();
  controller.abort();
  try {
    await hashFile(path.join(dir, 'h.bin'), FILE_HASH_ALGORITHM, { end: 10 }, controller.signal);
    assert.unreachable();
  } catch (error) {
    assert.is((error as ChatError).code, 'E_CANCELLED');
  }
});

test('FileSink appends in batches, reports writes, and hashes the whole file on finish', async () => {
  const part = path.join(dir, 'a.part');
  const sink = new FileSink(1024 * 1024);
  try {
    const written: number[] = [];
    let allWritten: () => void = () => undefined;
    const onDisk = new Promise<void>((resolve) => (allWritten = resolve));
    sink.onWritten = (offset) => {
      written.push(offset);
      if (offset === 450) allWritten();
    };
    assert.is(await sink.open(part, 1000), 0);
    const socketBuffer = randomBytes(450);
    // Views into one larger buffer, as socket data arrives: each must be copied exactly.
    sink.write(socketBuffer.subarray(0, 100));
    sink.write(socketBuffer.subarray(100, 400));
    sink.write(socketBuffer.subarray(400));
    assert.is(sink.pendingBytes, 450);
    await onDisk;
    assert.equal(written, [450], 'small writes go to the disk as one batch');
    const { hash, bytes } = await sink.finish();
    assert.is(bytes, 450);
    assert.is(hash, fileHash(socketBuffer));
    assert.is(sink.pendingBytes, 0);
    assert.equal(await fs.readFile(part), socketBuffer);
  } finally {
    await sink.terminate();
  }
});

test('FileSink wraps around its ring and refuses to overrun bytes not yet on disk', async () => {
  const part = path.join(dir, 'ring.part');
  const sink = new FileSink(1000);
  try {
    await sink.open(part, 10_000);
    const data = randomBytes(3500);
    for (let at = 0; at < data.length; at += 700) {
      sink.write(data.subarray(at, at + 700));
      if (at === 0) {
        assert.throws(() => sink.write(Buffer.alloc(400)), (error: ChatError) => error.code === 'E_INTERNAL');
      }
      await new Promise<void>((resolve) => {
        sink.onWritten = (offset) => offset === Math.min(at + 700, data.length) && resolve();
      });
    }
    assert.is((await sink.finish()).hash, fileHash(data));
    assert.equal(await fs.readFile(part), data);
  } finally {
    await sink.terminate();
  }
});

test('FileSink resumes: re-opening re-hashes what is on disk, so damage between sessions shows in the hash', async () => {
  const part = path.join(dir, 'b.part');
  const first = randomBytes(5000);
  const rest = randomBytes(3000);
  const sink = new FileSink(1024 * 1024);
  try {
    await sink.open(part, 8000);
    sink.write(first);
    await sink.close();
    assert.is(await sink.open(part, 8000), 5000, 'resume offset = bytes on disk');
    sink.write(rest);
    assert.is((await sink.finish()).hash, fileHash(Buffer.concat([first, rest])));

    // Damage the prefix, resume again: the hash is of the damaged bytes.
    await fs.truncate(part, 5000);
    const handle = await fs.open(part, 'r+');
    await handle.write(Buffer.from('XX'), 0, 2, 10);
    await handle.close();
    assert.is(await sink.open(part, 8000), 5000);
    sink.write(rest);
    const damaged = Buffer.concat([first, rest]);
    damaged.write('XX', 10);
    assert.is((await sink.finish()).hash, fileHash(damaged));
  } finally {
    await sink.terminate();
  }
});

test('FileSink empties a partial file longer than the whole file can be', async () => {
  const part = path.join(dir, 'c.part');
  await fs.writeFile(part, randomBytes(2000));
  const sink = new FileSink(1024 * 1024);
  try {
    assert.is(await sink.open(part, 1000), 0);
    assert.is((await fs.stat(part)).size, 0);
  } finally {
    await sink.terminate();
  }
});

test('FileSink: an unusable path is E_PATH_REFUSED, reported once, and every later request fails', async () => {
  const sink = new FileSink(1024 * 1024);
  try {
    const errors: string[] = [];
    sink.onError = (error) => errors.push(error.code);
    try {
      await sink.open(path.join(dir, 'no-such-folder', 'x.part'), 10);
      assert.unreachable();
    } catch (error) {
      assert.is((error as ChatError).code, 'E_PATH_REFUSED');
    }
    try {
      await sink.finish();
      assert.unreachable();
    } catch (error) {
      assert.is((error as ChatError).code, 'E_PATH_REFUSED');
    }
    assert.equal(errors, ['E_PATH_REFUSED']);
  } finally {
    await sink.terminate();
  }
});

test.run();
