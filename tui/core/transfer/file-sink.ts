import { Worker } from 'node:worker_threads';
import { ChatError } from '../../../shared/errors.js';
import type { WorkerReply, WorkerRequest } from './file-worker-protocol.js';

const WORKER_URL = new URL('./file-worker.js', import.meta.url);
/**
 * The worker keeps almost nothing on its heap (file bytes live in the shared ring or in one
 * 1 MiB read buffer), so small V8 generations: the defaults let a thread's heap grow by tens
 * of MB, which counts against a receiver's memory.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

/**
 * Received bytes go to the worker in batches of at least this much: TLS hands data over in
 * 16 KiB records, and one message, one write() and one progress step per record cost more
 * than the copy itself (measured: postMessage alone took ~10% of the receiving thread). At
 * 256 KiB a 1 GB profile still showed ~0.45 s in postMessage on each side (issue 15); 1 MiB,
 * the acknowledgement step, makes that a quarter and keeps four batches in the 4 MiB ring.
 */
const POST_BYTES = 1024 * 1024;
/** A smaller batch waits at most this long (ms) before going to the worker. */
const FLUSH_DELAY_MS = 5;

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: ChatError) => void };

/** One file worker thread and an ordered request/reply queue over it. */
class FileWorker {
  private readonly worker = new Worker(WORKER_URL, { resourceLimits: WORKER_LIMITS });
  private readonly waiting: Pending[] = [];
  private failure: ChatError | null = null;
  private terminated = false;
  /** Called for each `written` reply. */
  onWritten: (offset: number) => void = () => undefined;
  /** Called once, for the first error. */
  onError: (error: ChatError) => void = () => undefined;

  constructor() {
    this.worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    this.worker.on('error', (error) => this.fail(new ChatError('E_INTERNAL', `file worker failed: ${error.message}`)));
    this.worker.on('exit', () => {
      if (!this.terminated) this.fail(new ChatError('E_INTERNAL', 'file worker exited'));
    });
  }

  /** Fire and forget (writes): replies come through `onWritten`. */
  post(request: WorkerRequest, transfer: ArrayBuffer[] = []): void {
    if (this.failure === null && !this.terminated) this.worker.postMessage(request, transfer);
  }

  /** A request whose reply is awaited; replies arrive in request order. */
  ask(request: WorkerRequest): Promise<WorkerReply> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.terminated) return Promise.reject(new ChatError('E_CLOSED', 'file worker stopped'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.worker.postMessage(request);
    });
  }

  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    for (const pending of this.waiting.splice(0)) pending.reject(new ChatError('E_CLOSED', 'file worker stopped'));
    await this.worker.terminate();
  }

  private onReply(reply: WorkerReply): void {
    if (reply.op === 'written') {
      this.onWritten(reply.offset);
      return;
    }
    if (reply.op === 'error') {
      this.fail(new ChatError(reply.code, reply.message));
      return;
    }
    this.waiting.shift()?.resolve(reply);
  }

  private fail(error: ChatError): void {
    if (this.failure !== null || this.terminated) return;
    this.failure = error;
    for (const pending of this.waiting.splice(0)) pending.reject(error);
    this.onError(error);
  }
}

/**
 * The receiver's partial file: appends and hashes in a worker thread, reporting each write
 * as it lands on disk. Bytes travel to the worker through a fixed ring of shared memory, so
 * memory stays flat whatever the file size: the ring is the only buffer, and the caller
 * never has more than the ring's size unwritten (the transfer window guarantees it; a write
 * that would overrun it throws rather than overwrite bytes not yet on disk).
 */
export class FileSink {
  private readonly worker = new FileWorker();
  private readonly ring: Uint8Array;
  /** Bytes copied into the ring (file offset of the next byte). */
  private posted = 0;
  /** Bytes copied but not yet handed to the worker (batched, see POST_BYTES). */
  private unposted = 0;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private written = 0;
  /** Called with the new end of the partial file after each write (set by the session using the sink). */
  onWritten: (offset: number) => void = () => undefined;
  /** Called once with E_NO_SPACE, E_PATH_REFUSED or E_INTERNAL. */
  onError: (error: ChatError) => void = () => undefined;

  /** @param ringBytes shared buffer size: at least the transfer window */
  constructor(ringBytes: number) {
    const shared = new SharedArrayBuffer(ringBytes);
    this.ring = new Uint8Array(shared);
    this.worker.post({ op: 'ring', buffer: shared });
    this.worker.onWritten = (offset) => {
      this.written = offset;
      this.onWritten(offset);
    };
    this.worker.onError = (error) => this.onError(error);
  }

  /** End of the bytes known to be on disk. */
  get writtenBytes(): number {
    return this.written;
  }

  /** The ring's size: at most this many bytes can wait for the disk. */
  get capacityBytes(): number {
    return this.ring.length;
  }

  /** Bytes handed to the worker but not yet on disk. */
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
    const reply = await this.worker.ask({ op: 'open', path, maxBytes });
    if (reply.op !== 'opened') throw new ChatError('E_INTERNAL', 'unexpected file worker reply');
    this.posted = reply.offset;
    this.written = reply.offset;
    return reply.offset;
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

  /** Hands every copied byte to the worker now (also when the reader pauses: the worker must not wait for the timer). */
  flush(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.unposted === 0) return;
    const start = (this.posted - this.unposted) % this.ring.length;
    this.worker.post({ op: 'write', start, length: this.unposted });
    this.unposted = 0;
  }

  /** After every queued write: fsync, close, and resolve with the hash of the whole file (hex) and its length. */
  async finish(): Promise<{ hash: string; bytes: number }> {
    this.flush();
    const reply = await this.worker.ask({ op: 'finish' });
    if (reply.op !== 'finished') throw new ChatError('E_INTERNAL', 'unexpected file worker reply');
    return { hash: reply.hash, bytes: reply.offset };
  }

  /** Closes the file (keeps it), e.g. when a session breaks. */
  async close(): Promise<void> {
    this.flush();
    await this.worker.ask({ op: 'close' }).catch(() => undefined);
  }

  /** Stops the worker; any open file is closed by the OS. Bytes not yet handed over are dropped. */
  terminate(): Promise<void> {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    return this.worker.terminate();
  }
}

/**
 * BLAKE2b-512 (hex) of bytes [start, end) of a file, computed in a worker thread so a large
 * file never stalls the chat. Node's `blake2b512` is the same function as libsodium's
 * `crypto_generichash` with a 64-byte output and no key (test/transfer-hash.test.ts checks).
 */
export async function hashFile(path: string, range: { start?: number; end: number }, signal?: AbortSignal): Promise<string> {
  const worker = new FileWorker();
  const onAbort = (): void => void worker.terminate();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted === true) throw new ChatError('E_CANCELLED');
    const reply = await worker.ask({ op: 'hash', path, start: range.start ?? 0, end: range.end });
    if (reply.op !== 'hashed') throw new ChatError('E_INTERNAL', 'unexpected file worker reply');
    return reply.hash;
  } catch (error) {
    if (signal?.aborted === true) throw new ChatError('E_CANCELLED');
    if (error instanceof ChatError && error.code === 'E_PATH_REFUSED') throw new ChatError('E_FILE_UNREADABLE', error.message);
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await worker.terminate();
  }
}
