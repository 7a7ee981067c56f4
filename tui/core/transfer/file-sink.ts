import fs from 'node:fs';
import type { Hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ChatError } from '../../../shared/errors.js';
import { newFileHash } from './file-hash.js';
import { fileErrorCode, type HashAlgorithm, type WorkerReply, type WorkerRequest } from './file-worker-protocol.js';

const WORKER_URL = new URL('./file-worker.js', import.meta.url);
/**
 * The worker keeps almost nothing on its heap (one 1 MiB read buffer), so small V8
 * generations: the defaults let a thread's heap grow by tens of MB.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

/**
 * Received bytes are hashed and written in batches of at least this much: TLS hands data over
 * in 16 KiB records, and one write() and one progress step per record cost more than the copy
 * itself. 1 MiB, the acknowledgement step, keeps four batches in the 4 MiB ring.
 */
const POST_BYTES = 1024 * 1024;
/** A smaller batch waits at most this long (ms) before it is written. */
const FLUSH_DELAY_MS = 5;
/** Bytes per read when a resumed partial file is hashed again. */
const READ_BYTES = 1024 * 1024;

type Pending = { resolve: (hash: string) => void; reject: (error: ChatError) => void };

/** One worker thread that answers one whole-file hash (`hashFile`). */
class FileWorker {
  private readonly worker = new Worker(WORKER_URL, { resourceLimits: WORKER_LIMITS });
  private waiting: Pending | null = null;
  private terminated = false;

  constructor() {
    this.worker.on('message', (reply: WorkerReply) => {
      if (reply.op === 'error') this.settle(new ChatError(reply.code, reply.message));
      else this.settle(null, reply.hash);
    });
    this.worker.on('error', (error) => this.settle(new ChatError('E_INTERNAL', `file worker failed: ${error.message}`)));
    this.worker.on('exit', () => this.settle(new ChatError(this.terminated ? 'E_CLOSED' : 'E_INTERNAL', 'file worker exited')));
  }

  hash(request: WorkerRequest): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage(request);
    });
  }

  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    this.settle(new ChatError('E_CLOSED', 'file worker stopped'));
    await this.worker.terminate();
  }

  private settle(error: ChatError | null, hash = ''): void {
    const waiting = this.waiting;
    this.waiting = null;
    if (error) waiting?.reject(error);
    else waiting?.resolve(hash);
  }
}

/**
 * The receiver's partial file: bytes are copied into a fixed ring, hashed on this thread as
 * they are handed on (SHA-256, ~0.7 ms of CPU per MiB here), and appended by the thread pool
 * (`fs.write`), one batch after the other; each write is reported as it lands. Memory stays
 * flat whatever the file size: the ring is the only buffer, and the caller never has more than
 * the ring's size unwritten (the transfer window guarantees it; a write that would overrun it
 * throws rather than overwrite bytes not yet on disk).
 *
 * Why not a worker thread any more: with BLAKE2b (~1.9 ms per MiB) hashing beside TLS held the
 * receiving thread back, so a worker did the hashing and writing. SHA-256 costs a third of that,
 * and the worker's own V8 isolate cost ~9.6 MB of RSS (measured: the client core alone 76.3 MB,
 * with the idle worker 86.0), against a receiver's 100 MB (issue 15; the receiver peaked at
 * 93-107 MB with it).
 */
export class FileSink {
  private readonly ring: Buffer;
  /** Bytes copied into the ring (file offset of the next byte). */
  private posted = 0;
  /** Bytes copied but not yet handed on (batched, see POST_BYTES). */
  private unposted = 0;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private written = 0;
  private fd: number | null = null;
  private hash: Hash | null = null;
  /** Every file operation runs after the previous one (the order a worker's queue gave). */
  private chain: Promise<void> = Promise.resolve();
  private failure: ChatError | null = null;
  private terminated = false;
  /** Called with the new end of the partial file after each write (set by the session using the sink). */
  onWritten: (offset: number) => void = () => undefined;
  /** Called once with E_NO_SPACE, E_PATH_REFUSED or E_INTERNAL. */
  onError: (error: ChatError) => void = () => undefined;

  /** @param ringBytes buffer size: at least the transfer window */
  constructor(ringBytes: number) {
    this.ring = Buffer.allocUnsafe(ringBytes);
  }

  /** End of the bytes known to be on disk. */
  get writtenBytes(): number {
    return this.written;
  }

  /** The ring's size: at most this many bytes can wait for the disk. */
  get capacityBytes(): number {
    return this.ring.length;
  }

  /** Bytes handed on but not yet on disk. */
  get pendingBytes(): number {
    return this.posted - this.written;
  }

  /**
   * Opens (creating if needed) the partial file, re-hashes the bytes already in it, and
   * resolves with their count: the offset to resume from. A file longer than `maxBytes`
   * is emptied first.
   */
  async open(path: string, maxBytes: number): Promise<number> {
    this.flush();
    let offset = 0;
    await this.run(async () => {
      await this.closeFile();
      const fd = await call<number>((done) => fs.open(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600, done));
      this.fd = fd;
      let size = (await call<fs.Stats>((done) => fs.fstat(fd, done))).size;
      if (size > maxBytes) {
        // Longer than the whole file can be: not ours to resume from.
        await call<void>((done) => fs.ftruncate(fd, 0, done));
        size = 0;
      }
      // Re-read what is already there: the hash covers the bytes on disk, so a partial file
      // damaged between sessions is caught at the end (E_HASH_MISMATCH).
      this.hash = newFileHash();
      await hashRange(fd, 0, size, this.hash);
      offset = size;
    });
    this.posted = offset;
    this.written = offset;
    return offset;
  }

  /**
   * Queues bytes to append. They are copied into the ring, so the caller may reuse `chunk`.
   * Throws E_INTERNAL if that would overrun bytes not yet on disk.
   */
  write(chunk: Uint8Array): void {
    const length = chunk.length;
    if (length === 0) return;
    if (this.pendingBytes + length > this.ring.length) {
      throw new ChatError('E_INTERNAL', `file ring overrun: ${this.pendingBytes} + ${length} > ${this.ring.length} bytes`);
    }
    const start = this.posted % this.ring.length;
    const first = Math.min(length, this.ring.length - start);
    this.ring.set(first === length ? chunk : chunk.subarray(0, first), start);
    if (first < length) this.ring.set(chunk.subarray(first), 0);
    this.posted += length;
    this.unposted += length;
    if (this.unposted >= POST_BYTES) {
      this.flush();
    } else if (this.flushTimer === null) {
      // A short tail (a slow link, the last bytes) still reaches the disk promptly.
      this.flushTimer = setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    }
  }

  /** Hashes every copied byte and queues its write now (also when the reader pauses: nothing waits for the timer). */
  flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.unposted === 0) return;
    const start = (this.posted - this.unposted) % this.ring.length;
    const length = this.unposted;
    const end = this.posted;
    this.unposted = 0;
    const first = Math.min(length, this.ring.length - start);
    const pieces = first < length ? [this.ring.subarray(start, start + first), this.ring.subarray(0, length - first)] : [this.ring.subarray(start, start + length)];
    void this.run(async () => {
      const { fd, hash } = this;
      if (fd === null || hash === null) throw new Error('write before open');
      let at = end - length;
      for (const piece of pieces) {
        // Hashed here, in file order, before the ring can be refilled: these bytes count as
        // pending (not written) until their write below returns.
        hash.update(piece);
        await writeAll(fd, piece, at);
        at += piece.length;
      }
      this.written = end;
      this.onWritten(end);
    }).catch(() => undefined); // reported through onError
  }

  /** After every queued write: fsync, close, and resolve with the hash of the whole file (hex) and its length. */
  async finish(): Promise<{ hash: string; bytes: number }> {
    this.flush();
    let result = { hash: '', bytes: 0 };
    await this.run(async () => {
      const { fd, hash } = this;
      if (fd === null || hash === null) throw new Error('finish before open');
      await call<void>((done) => fs.fsync(fd, done));
      result = { hash: hash.digest('hex'), bytes: this.written };
      await this.closeFile();
    });
    return result;
  }

  /** Closes the file (keeps it), e.g. when a session breaks. */
  async close(): Promise<void> {
    this.flush();
    await this.run(() => this.closeFile()).catch(() => undefined);
  }

  /** Stops: later requests fail with E_CLOSED, the file is closed after the write in progress. Bytes not yet handed on are dropped. */
  async terminate(): Promise<void> {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.terminated) return;
    this.terminated = true;
    await this.chain;
    await this.closeFile().catch(() => undefined);
  }

  /** Runs `operation` after every earlier one; the first failure fails it and everything after. */
  private run(operation: () => Promise<void>): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.failure !== null) throw this.failure;
      if (this.terminated) throw new ChatError('E_CLOSED', 'the partial file was closed');
      try {
        await operation();
      } catch (error) {
        throw this.fail(error);
      }
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  private fail(error: unknown): ChatError {
    if (error instanceof ChatError && (error === this.failure || error.code === 'E_CLOSED')) return error;
    const failure = fileError(error);
    this.failure = failure;
    void this.closeFile().catch(() => undefined);
    this.onError(failure);
    return failure;
  }

  private async closeFile(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    this.hash = null;
    if (fd !== null) await call<void>((done) => fs.close(fd, done));
  }
}

/** A Node callback API call as a promise (the callback forms skip FileHandle's per-call cost). */
function call<T>(start: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value))));
}

async function writeAll(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await call<number>((cb) => fs.write(fd, bytes, done, bytes.length - done, position + done, cb));
}

/** Hashes bytes [start, end) of an open file into `into`, 1 MiB at a time. */
async function hashRange(fd: number, start: number, end: number, into: Hash): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, Math.max(1, end - start)));
  for (let at = start; at < end; ) {
    const got = await call<number>((cb) => fs.read(fd, buffer, 0, Math.min(buffer.length, end - at), at, cb));
    if (got === 0) throw new ChatError('E_INTERNAL', 'the partial file is shorter than it was');
    into.update(buffer.subarray(0, got));
    at += got;
  }
}

/** A failed file operation as the ChatError it is reported with. */
function fileError(error: unknown): ChatError {
  if (error instanceof ChatError) return error;
  return new ChatError(fileErrorCode(error), error instanceof Error ? error.message : String(error));
}

/**
 * The `algorithm` hash (hex) of bytes [start, end) of a file, computed in a worker thread so a
 * large file never stalls the chat: a transfer's (FILE_HASH_ALGORITHM, file-hash.ts) or a room
 * file's.
 */
export async function hashFile(path: string, algorithm: HashAlgorithm, range: { start?: number; end: number }, signal?: AbortSignal): Promise<string> {
  const worker = new FileWorker();
  const onAbort = (): void => void worker.terminate();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted === true) throw new ChatError('E_CANCELLED');
    return await worker.hash({ op: 'hash', path, start: range.start ?? 0, end: range.end, algorithm });
  } catch (error) {
    if (signal?.aborted === true) throw new ChatError('E_CANCELLED');
    if (error instanceof ChatError && error.code === 'E_PATH_REFUSED') throw new ChatError('E_FILE_UNREADABLE', error.message);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await worker.terminate();
  }
}
