import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { createBLAKE2b } from 'hash-wasm';
import sodium from 'libsodium-wrappers-sumo';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatError } from '../../../../../shared/errors.js';
import { FileSink, hashFile } from '../../../../../tui/core/transfer/file-sink.js';
import { makeTempDir } from '../../../../helpers/temp.js';

let dir = '';

test.before(async () => {
  dir = await makeTempDir();
  await sodium.ready;
});

test.after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const blake2b = (data: Uint8Array): string => createHash('blake2b512').update(data).digest('hex');

test("node's blake2b512 and hash-wasm's BLAKE2b-512 are libsodium's crypto_generichash with 64 bytes and no key", async () => {
  const wasm = await createBLAKE2b(512);
  for (const size of [0, 1, 127, 128, 129, 65_536, 1_000_003]) {
    const data = randomBytes(size);
    const viaSodium = Buffer.from(sodium.crypto_generichash(64, data, null)).toString('hex');
    assert.is(blake2b(data), viaSodium, `node, size ${size}`);
    // The file worker feeds it in pieces, some of them views of a shared ring.
    wasm.init();
    const shared = new Uint8Array(new SharedArrayBuffer(Math.max(size, 1)));
    shared.set(data);
    for (let at = 0; at < size; at += 65_537) wasm.update(shared.subarray(at, Math.min(size, at + 65_537)));
    assert.is(wasm.digest('hex'), viaSodium, `hash-wasm, size ${size}`);
  }
});

test('hashFile hashes a whole file and a range, in a worker', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const file = path.join(dir, 'h.bin');
  await fs.writeFile(file, data);
  assert.is(await hashFile(file, { end: data.length }), blake2b(data));
  assert.is(await hashFile(file, { start: 100, end: 5000 }), blake2b(data.subarray(100, 5000)));
});

test('hashFile: a missing file is E_FILE_UNREADABLE; an aborted hash is E_CANCELLED', async () => {
  try {
    await hashFile(path.join(dir, 'missing'), { end: 10 });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ChatError).code, 'E_FILE_UNREADABLE');
  }
  const controller = new AbortController();
  controller.abort();
  try {
    await hashFile(path.join(dir, 'h.bin'), { end: 10 }, controller.signal);
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
    assert.equal(written, [450], 'small writes go to the worker as one batch');
    const { hash, bytes } = await sink.finish();
    assert.is(bytes, 450);
    assert.is(hash, blake2b(socketBuffer));
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
    assert.is((await sink.finish()).hash, blake2b(data));
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
    assert.is((await sink.finish()).hash, blake2b(Buffer.concat([first, rest])));

    // Damage the prefix, resume again: the hash is of the damaged bytes.
    await fs.truncate(part, 5000);
    const handle = await fs.open(part, 'r+');
    await handle.write(Buffer.from('XX'), 0, 2, 10);
    await handle.close();
    assert.is(await sink.open(part, 8000), 5000);
    sink.write(rest);
    const damaged = Buffer.concat([first, rest]);
    damaged.write('XX', 10);
    assert.is((await sink.finish()).hash, blake2b(damaged));
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
