/**
 * Worker thread that does the CPU- and disk-heavy half of a transfer off the event loop:
 * appending received bytes to the partial file while hashing them (BLAKE2b-512), and hashing
 * whole files for offers. bench/transfer-crypto.ts measured why: hashing on the thread that
 * also runs TLS cut the receiving side to ~40% of a plain TLS stream on this machine.
 *
 * BLAKE2b-512 comes from node:crypto (OpenSSL), the same function as hash-wasm's and
 * libsodium's (test/transfer-hash checks all three). hash-wasm was faster when first measured
 * (920 against 690 MB/s); measured again for issue 15 the gap was 12-15 % (1.07-1.15 against
 * 1.22-1.36 s of CPU per GB, shared 2-core machine), while loading it costs this thread
 * ~5.5 MB of RSS that counts against a receiver's 100 MB, and the transfer now moves faster
 * than this thread's hashing plus writing bounds it, so the memory won.
 *
 * Requests are handled strictly in order; after the first error every later request fails.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { type Hash, createHash } from 'node:crypto';
import type { WorkerReply, WorkerRequest } from './file-worker-protocol.js';

/** A fresh BLAKE2b-512 (node:crypto hashes are single use). */
const blake2b = (): Hash => createHash('blake2b512');

const READ_BYTES = 1024 * 1024;

let ring: Uint8Array | null = null;
let fd: number | null = null;
let hash: Hash | null = null;
let position = 0;
let failed: WorkerReply | null = null;

function errorReply(error: unknown): WorkerReply {
  const code = (error as NodeJS.ErrnoException)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ENOSPC' || code === 'EDQUOT') return { op: 'error', code: 'E_NO_SPACE', message };
  if (code === 'EACCES' || code === 'EPERM' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOENT' || code === 'EROFS') {
    return { op: 'error', code: 'E_PATH_REFUSED', message };
  }
  return { op: 'error', code: 'E_INTERNAL', message };
}

/** Hashes bytes [start, end) of an open file into `into`. */
function hashRange(file: number, start: number, end: number, into: Hash): void {
  const buffer = Buffer.allocUnsafe(READ_BYTES);
  let at = start;
  while (at < end) {
    const want = Math.min(READ_BYTES, end - at);
    const got = fs.readSync(file, buffer, 0, want, at);
    if (got === 0) throw Object.assign(new Error('file shorter than expected'), { code: 'ESHORT' });
    into.update(buffer.subarray(0, got));
    at += got;
  }
}

function appendBytes(file: number, into: Hash, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += fs.writeSync(file, bytes, written, bytes.length - written, position + written);
  into.update(bytes);
  position += bytes.length;
}

function closeFile(): void {
  if (fd !== null) fs.closeSync(fd);
  fd = null;
  hash = null;
  position = 0;
}

function handle(request: WorkerRequest): WorkerReply | null {
  switch (request.op) {
    case 'open': {
      closeFile();
      fd = fs.openSync(request.path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      let size = fs.fstatSync(fd).size;
      if (size > request.maxBytes) {
        // Longer than the whole file can be: not ours to resume from.
        fs.ftruncateSync(fd, 0);
        size = 0;
      }
      // Re-read what is already there: the hash covers the bytes on disk, so a partial file
      // damaged between sessions is caught at the end (E_HASH_MISMATCH).
      hash = blake2b();
      hashRange(fd, 0, size, hash);
      position = size;
      return { op: 'opened', offset: size };
    }
    case 'ring':
      ring = new Uint8Array(request.buffer);
      return null;
    case 'write': {
      if (fd === null || hash === null || ring === null) throw new Error('write before open');
      const first = Math.min(request.length, ring.length - request.start);
      appendBytes(fd, hash, ring.subarray(request.start, request.start + first));
      if (first < request.length) appendBytes(fd, hash, ring.subarray(0, request.length - first));
      return { op: 'written', offset: position };
    }
    case 'finish': {
      if (fd === null || hash === null) throw new Error('finish before open');
      fs.fsyncSync(fd);
      const digest = hash.digest('hex');
      const offset = position;
      closeFile();
      return { op: 'finished', hash: digest, offset };
    }
    case 'close':
      closeFile();
      return { op: 'closed' };
    case 'hash': {
      const file = fs.openSync(request.path, 'r');
      try {
        const into = blake2b();
        hashRange(file, request.start, request.end, into);
        return { op: 'hashed', hash: into.digest('hex') };
      } finally {
        fs.closeSync(file);
      }
    }
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  if (failed !== null) {
    parentPort!.postMessage(failed);
    return;
  }
  let reply: WorkerReply | null;
  try {
    reply = handle(request);
  } catch (error) {
    failed = errorReply(error);
    try {
      closeFile();
    } catch {
      // already failing; the first error is the one to report
    }
    reply = failed;
  }
  if (reply !== null) parentPort!.postMessage(reply);
});
