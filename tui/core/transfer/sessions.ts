import type { Hash } from 'node:crypto';
import fs from 'node:fs/promises';
import { FRAME_HEADER_BYTES } from '../../../shared/codec.js';
import { ChatError, type ErrorCode } from '../../../shared/errors.js';
import type { TransferConstants } from './constants.js';
import type { AbortCode, ChannelMessage } from './wire.js';
import type { FileSink } from './file-sink.js';
import { newFileHash } from './file-hash.js';
import { FramedChannel } from './framed-channel.js';

/**
 * One session = one connection's worth of a transfer. The receiver opens with `resume` (the
 * bytes already in its partial file), the sender streams data frames from there within a
 * window of acknowledgements, then `end` with the whole file's hash; the receiver checks it
 * against its own hash of the file on disk, renames, `done`.
 *
 *   sender                         receiver
 *     |  <------ resume {offset} ----- |   (after re-hashing the partial file)
 *     |  ------- data ... data ------> |   (never more than WINDOW_BYTES unacknowledged)
 *     |  <------ ack {offset} -------- |   (every ACK_EVERY_BYTES written to disk)
 *     |  ------- end {hash} ---------> |   (size and mtime unchanged since the offer)
 *     |  <------ done | abort -------- |   (SHA-256 of the file on disk vs `hash`)
 *
 * The sender hashes while it sends (the transfer's SHA-256, file-hash.ts, on this thread: the
 * work the offer used to cost up front); after a resume at offset N it first hashes bytes
 * [0, N) of its file again, so `hash` always covers the whole file whatever the sessions were.
 * The receiver's file worker hashes the partial file the same way (re-reading what a previous
 * session left), so the two hashes meet only if every byte on disk is what the sender read.
 *
 * Either side may send `abort {code}` at any time. A session that loses its connection
 * returns `lost` and the driver resumes on a new one.
 */
export type SessionResult =
  | { kind: 'complete' }
  /** The connection broke; resume on another. */
  | { kind: 'lost' }
  /** The transfer ends with this code; `fromPeer` when the other side said so. */
  | { kind: 'failed'; code: ErrorCode; fromPeer: boolean; message?: string };

export interface SenderFile {
  path: string;
  /** Bytes, as offered. */
  size: number;
  /** Modification time (ms since the epoch) when offered. */
  mtimeMs: number;
  /** The whole-file hash (file-hash.ts), hex: '' until the sender has hashed it while sending (or as an older offer carried it). */
  hash: string;
}

/**
 * The sender keeps writing while the socket holds less than this (bytes not yet handed to
 * the kernel). Real backpressure with fewer wake-ups than waiting on the 16 KiB high-water
 * mark; the acknowledgement window bounds the bytes in flight beyond the socket.
 */
const SOCKET_QUEUE_BYTES = 1024 * 1024;

/** What a receiver's ring keeps free when it pauses its socket (see ReceiverSession.pauseAboveBytes). */
const RING_HEADROOM_BYTES = 512 * 1024;

function asAbortCode(code: ErrorCode): AbortCode {
  const allowed: readonly ErrorCode[] = [
    'E_CANCELLED', 'E_TRANSFER_TIMEOUT', 'E_PEER_GONE', 'E_FILE_CHANGED', 'E_HASH_MISMATCH', 'E_NO_SPACE',
    'E_FILE_TOO_LARGE', 'E_FILE_UNREADABLE', 'E_PATH_REFUSED', 'E_PROTOCOL',
  ];
  return (allowed.includes(code) ? code : 'E_INTERNAL') as AbortCode;
}

/** Size and mtime as offered? (A missing file counts as changed.) */
export async function fileUnchanged(file: Pick<SenderFile, 'path' | 'size' | 'mtimeMs'>): Promise<boolean> {
  try {
    const stat = await fs.stat(file.path);
    return stat.isFile() && stat.size === file.size && stat.mtimeMs === file.mtimeMs;
  } catch {
    return false;
  }
}

/** Common plumbing: one result, channel handlers removed at the end. */
abstract class Session {
  private settled = false;
  private resolveResult!: (result: SessionResult) => void;
  readonly result: Promise<SessionResult>;

  constructor(
    protected readonly channel: FramedChannel,
    signal: AbortSignal,
  ) {
    this.result = new Promise((resolve) => (this.resolveResult = resolve));
    if (signal.aborted) queueMicrotask(() => this.settle({ kind: 'lost' }));
    else signal.addEventListener('abort', () => this.settle({ kind: 'lost' }), { once: true });
  }

  protected get done(): boolean {
    return this.settled;
  }

  protected settle(result: SessionResult): void {
    if (this.settled) return;
    this.settled = true;
    this.channel.setHandlers(null);
    this.onSettled(result);
    this.resolveResult(result);
  }

  protected onSettled(_result: SessionResult): void {}

  /** Tells the peer, then ends the transfer with `code`. */
  protected abort(code: ErrorCode, message?: string): void {
    if (this.settled) return;
    this.channel.send({ t: 'abort', code: asAbortCode(code) });
    this.channel.end();
    this.settle({ kind: 'failed', code, fromPeer: false, message });
  }

  protected protocolError(message: string): void {
    this.abort('E_PROTOCOL', message);
  }

  /** Set while the session finishes an abort the peer sent: the connection closing then is expected, not a break. */
  protected closingOnPurpose = false;

  /**
   * The channel closed. Input the peer got wrong (a message that does not parse, say a hash
   * of another algorithm from another version, or a frame too large) would come again on the
   * next connection, whole-file re-hashes and all: the transfer ends there (E_PROTOCOL).
   * Anything else is a break to resume from.
   */
  protected onClose(error: ChatError | null): void {
    if (this.closingOnPurpose) return;
    if (error?.code === 'E_PROTOCOL' || error?.code === 'E_FRAME_TOO_LARGE') {
      this.settle({ kind: 'failed', code: 'E_PROTOCOL', fromPeer: false, message: error.message });
    } else {
      this.settle({ kind: 'lost' });
    }
  }
}

// ---- sender ---------------------------------------------------------------------------------

export interface SenderSessionOptions {
  channel: FramedChannel;
  file: SenderFile;
  constants: TransferConstants;
  /** The receiver confirmed bytes below `offset` are written. */
  onAcked(offset: number): void;
  /** Aborting ends the session with `lost` at once (the driver closes the channel). */
  signal: AbortSignal;
  /** Re-hashes the file when the receiver reports a mismatch, to tell E_FILE_CHANGED from E_HASH_MISMATCH. */
  rehash(file: SenderFile): Promise<string>;
  /** The whole file's hash, computed while sending, just before it goes out in `end`. */
  onHashed(hash: string): void;
}

/** Bytes per read when the sender re-hashes the part of its file a resumed receiver already has. */
const REHASH_READ_BYTES = 1024 * 1024;

class SenderSession extends Session {
  private phase: 'await-resume' | 'sending' | 'await-done' = 'await-resume';
  private sent = 0;
  private acked = 0;
  private wake: (() => void) | null = null;
  /** The hash this session sent in `end` (what a receiver's mismatch is about). */
  private sentHash = '';

  constructor(private readonly options: SenderSessionOptions) {
    super(options.channel, options.signal);
    this.channel.setHandlers({
      onMessage: (message) => this.onMessage(message),
      onData: () => this.protocolError('the receiver sent file data'),
      onClose: (error) => this.onClose(error),
      onDrain: () => this.poke(),
    });
  }

  protected override onSettled(): void {
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private onMessage(message: ChannelMessage): void {
    const { size } = this.options.file;
    switch (message.t) {
      case 'resume':
        if (this.phase !== 'await-resume') return this.protocolError('resume twice');
        if (message.offset > size) return this.protocolError('resume offset beyond the end of the file');
        this.phase = 'sending';
        this.sent = message.offset;
        this.acked = message.offset;
        this.options.onAcked(message.offset);
        void this.pump().catch((error: unknown) => {
          const code = error instanceof ChatError ? error.code : 'E_FILE_UNREADABLE';
          this.abort(code, error instanceof Error ? error.message : undefined);
        });
        return;
      case 'ack':
        if (this.phase === 'await-resume') return this.protocolError('ack before resume');
        if (message.offset < this.acked || message.offset > this.sent) return this.protocolError(`ack out of range ${message.offset} acked=${this.acked} sent=${this.sent}`);
        this.acked = message.offset;
        this.options.onAcked(message.offset);
        this.poke();
        return;
      case 'done':
        if (this.phase !== 'await-done') return this.protocolError('done before end');
        this.options.onAcked(size);
        this.channel.end();
        this.settle({ kind: 'complete' });
        return;
      case 'abort':
        void this.onPeerAbort(message.code);
        return;
      case 'go':
      case 'end':
        return this.protocolError(`unexpected ${message.t}`);
    }
  }

  private async onPeerAbort(code: AbortCode): Promise<void> {
    if (this.done) return;
    this.closingOnPurpose = true;
    let reported: ErrorCode = code;
    if (code === 'E_HASH_MISMATCH') {
      // Was it the file (changed under us) or the path/disk on the other side?
      const file = this.options.file;
      const claimed = this.sentHash || file.hash;
      const unchanged = (await fileUnchanged(file)) && (await this.options.rehash(file).catch(() => '')) === claimed;
      if (!unchanged) reported = 'E_FILE_CHANGED';
    }
    this.channel.end();
    this.settle({ kind: 'failed', code: reported, fromPeer: true });
  }

  /** Resolves when the window has room and the socket is not backed up (or the session ended). */
  private async waitForRoom(nextBytes: number): Promise<void> {
    const { WINDOW_BYTES } = this.options.constants;
    while (!this.done && (this.sent + nextBytes - this.acked > WINDOW_BYTES || this.channel.queuedBytes >= SOCKET_QUEUE_BYTES)) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** Frame buffers, reused once the socket is done with them: no garbage per chunk. */
  private readonly pool: Buffer[] = [];

  private takeFrame(): Buffer {
    return this.pool.pop() ?? FramedChannel.allocateDataFrame(this.options.constants.CHUNK_BYTES);
  }

  private async readChunk(handle: fs.FileHandle, at: number): Promise<{ frame: Buffer; bytes: number; complete: boolean }> {
    const bytes = Math.min(this.options.constants.CHUNK_BYTES, this.options.file.size - at);
    const frame = this.takeFrame();
    const { bytesRead } = await handle.read(frame, FRAME_HEADER_BYTES, bytes, at);
    return { frame, bytes, complete: bytesRead === bytes };
  }

  /** Hashes bytes [0, end) of the file: what a resumed receiver already has. False if it came up short. */
  private async hashPrefix(handle: fs.FileHandle, hasher: Hash, end: number): Promise<boolean> {
    const buffer = Buffer.allocUnsafe(Math.min(REHASH_READ_BYTES, Math.max(end, 1)));
    for (let at = 0; at < end; ) {
      const want = Math.min(buffer.length, end - at);
      const { bytesRead } = await handle.read(buffer, 0, want, at);
      if (this.done || bytesRead !== want) return false;
      hasher.update(buffer.subarray(0, want));
      at += want;
    }
    return true;
  }

  private async pump(): Promise<void> {
    const { file, constants } = this.options;
    if (!(await fileUnchanged(file))) return this.abort('E_FILE_CHANGED');
    const hasher = newFileHash();
    const handle = await fs.open(file.path, 'r').catch(() => {
      throw new ChatError('E_FILE_UNREADABLE');
    });
    // One read ahead: the disk works while the previous chunk is encrypted and sent.
    let next: Promise<{ frame: Buffer; bytes: number; complete: boolean }> | null = null;
    try {
      if (this.sent > 0 && !(await this.hashPrefix(handle, hasher, this.sent))) {
        if (!this.done) this.abort('E_FILE_CHANGED');
        return;
      }
      let sinceStat = 0;
      next = this.sent < file.size ? this.readChunk(handle, this.sent) : null;
      while (next !== null) {
        const chunk = await next;
        if (this.done) return;
        // Shorter than offered: truncated while we read.
        if (!chunk.complete) return this.abort('E_FILE_CHANGED');
        const after = this.sent + chunk.bytes;
        next = after < file.size ? this.readChunk(handle, after) : null;
        hasher.update(chunk.frame.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + chunk.bytes));
        await this.waitForRoom(chunk.bytes);
        if (this.done) return;
        this.channel.sendDataFrame(chunk.frame, chunk.bytes, () => this.pool.push(chunk.frame));
        this.sent = after;
        sinceStat += chunk.bytes;
        if (sinceStat >= constants.STAT_EVERY_BYTES) {
          sinceStat = 0;
          if (!(await fileUnchanged(file))) return this.abort('E_FILE_CHANGED');
        }
      }
      if (this.done) return;
      if (!(await fileUnchanged(file))) return this.abort('E_FILE_CHANGED');
      if (this.done) return;
      this.phase = 'await-done';
      this.sentHash = hasher.digest('hex');
      this.options.onHashed(this.sentHash);
      this.channel.send({ t: 'end', hash: this.sentHash });
    } finally {
      // A read still in flight (we stopped early) must finish before the handle closes.
      await next?.catch(() => undefined);
      await handle.close().catch(() => undefined);
    }
  }
}

/** Runs the sender's side of one session on an authenticated channel. */
export function runSenderSession(options: SenderSessionOptions): Promise<SessionResult> {
  return new SenderSession(options).result;
}

// ---- receiver -------------------------------------------------------------------------------

export interface ReceiverSessionOptions {
  channel: FramedChannel;
  /** The transfer's sink; the session sets its callbacks while it runs. */
  sink: FileSink;
  partPath: string;
  /** Bytes, as offered. */
  size: number;
  /** The whole-file hash if the offer carried one, else '': the sender's `end` gives it. */
  expectedHash: string;
  constants: TransferConstants;
  /** The hash the file on disk matched, before `finalize` (the transfer reports it). */
  onVerified(hash: string): void;
  /** Bytes below `offset` are on disk. */
  onWritten(offset: number): void;
  /** Moves the verified partial file into place. Throws a ChatError to refuse. */
  finalize(): Promise<void>;
  signal: AbortSignal;
}

class ReceiverSession extends Session {
  private phase: 'opening' | 'receiving' | 'verifying' = 'opening';
  private received = 0;
  private lastAck = 0;
  private paused = false;
  private endSeen = false;
  /** The whole-file hash the sender gave in `end` (or the offer's). */
  private claimedHash = '';

  constructor(private readonly options: ReceiverSessionOptions) {
    super(options.channel, options.signal);
    const { sink } = options;
    sink.onWritten = (offset) => this.onWritten(offset);
    sink.onError = (error) => this.abort(error.code, error.message);
    this.channel.setHandlers({
      onMessage: (message) => this.onMessage(message),
      onData: (payload) => this.onData(payload),
      onClose: (error) => this.onClose(error),
    });
    void this.open();
  }

  protected override onSettled(): void {
    this.options.sink.onWritten = () => undefined;
    this.options.sink.onError = () => undefined;
    if (this.paused) this.channel.resume();
  }

  private async open(): Promise<void> {
    let offset: number;
    try {
      offset = await this.options.sink.open(this.options.partPath, this.options.size);
    } catch (error) {
      const code = error instanceof ChatError ? error.code : 'E_INTERNAL';
      return this.abort(code, error instanceof Error ? error.message : undefined);
    }
    if (this.done) return;
    this.phase = 'receiving';
    this.received = offset;
    this.lastAck = offset;
    this.options.onWritten(offset);
    this.channel.send({ t: 'resume', offset });
  }

  private onMessage(message: ChannelMessage): void {
    switch (message.t) {
      case 'end':
        if (this.phase !== 'receiving' || this.endSeen) return this.protocolError('unexpected end');
        if (this.received !== this.options.size) return this.protocolError('end before the last byte');
        if (message.hash === undefined && this.options.expectedHash === '') return this.protocolError('end without the file hash');
        this.endSeen = true;
        this.claimedHash = message.hash ?? this.options.expectedHash;
        this.maybeVerify();
        return;
      case 'abort':
        this.channel.end();
        this.settle({ kind: 'failed', code: message.code, fromPeer: true });
        return;
      default:
        return this.protocolError(`unexpected ${message.t}`);
    }
  }

  private onData(payload: Buffer): void {
    const { size, constants, sink } = this.options;
    if (this.phase !== 'receiving' || this.endSeen) return this.protocolError('data outside the session');
    if (this.received + payload.length > size) return this.protocolError('more data than the file has');
    if (this.received + payload.length - this.lastAck > constants.WINDOW_BYTES) return this.protocolError('the sender overran the window');
    try {
      sink.write(payload);
    } catch (error) {
      return this.abort('E_INTERNAL', error instanceof Error ? error.message : undefined);
    }
    this.received += payload.length;
    // The ring (RING_BYTES, constants.ts) can be smaller than the window: stop reading while
    // it is nearly full; the sender's bytes then wait in the kernel's socket buffers.
    if (!this.paused && sink.pendingBytes > this.pauseAboveBytes()) {
      this.paused = true;
      this.channel.pause();
      sink.flush();
    }
  }

  /**
   * Bytes waiting for the disk above which the socket is paused. After pause() the TLS layer
   * still hands over what it had already read from TCP (one socket read, 64 KiB, plus a
   * record), so the ring keeps RING_HEADROOM_BYTES free for that; a ring of a whole window
   * cannot fill (the window bounds what is unacknowledged) and never pauses.
   */
  private pauseAboveBytes(): number {
    const { sink, constants } = this.options;
    const ring = sink.capacityBytes;
    return ring >= constants.WINDOW_BYTES ? ring : ring - Math.min(RING_HEADROOM_BYTES, ring / 2);
  }

  private onWritten(offset: number): void {
    // While opening, replies for the previous session's last writes can still arrive.
    if (this.done || this.phase === 'opening') return;
    const { size, constants, sink } = this.options;
    this.options.onWritten(offset);
    if (offset - this.lastAck >= constants.ACK_EVERY_BYTES || offset === size) {
      this.lastAck = offset;
      this.channel.send({ t: 'ack', offset });
    }
    if (this.paused && sink.pendingBytes <= this.pauseAboveBytes() / 2) {
      this.paused = false;
      this.channel.resume();
    }
    this.maybeVerify();
  }

  private maybeVerify(): void {
    if (!this.endSeen || this.phase !== 'receiving' || this.options.sink.writtenBytes !== this.options.size) return;
    this.phase = 'verifying';
    void this.verify();
  }

  private async verify(): Promise<void> {
    const { sink, expectedHash } = this.options;
    try {
      const { hash } = await sink.finish();
      if (this.done) return;
      // An offer's hash (older senders) must hold too: the sender may not change its mind.
      if (hash !== this.claimedHash || (expectedHash !== '' && hash !== expectedHash)) return this.abort('E_HASH_MISMATCH');
      this.options.onVerified(hash);
      await this.options.finalize();
    } catch (error) {
      const code = error instanceof ChatError ? error.code : 'E_INTERNAL';
      return this.abort(code, error instanceof Error ? error.message : undefined);
    }
    if (this.done) return;
    this.channel.send({ t: 'done' });
    this.channel.end();
    this.settle({ kind: 'complete' });
  }
}

/** Runs the receiver's side of one session on an authenticated channel. */
export function runReceiverSession(options: ReceiverSessionOptions): Promise<SessionResult> {
  return new ReceiverSession(options).result;
}
