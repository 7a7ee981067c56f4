import type { TLSSocket } from 'node:tls';
import { FRAME_HEADER_BYTES, FrameKind, decodeControlPayload, encodeControl } from '../../../shared/codec.js';
import { ChatError } from '../../../shared/errors.js';
import { readIntoBuffer } from '../../../shared/socket-read-buffer.js';
import { type ChannelMessage, parseChannelMessage } from './wire.js';

export interface ChannelHandlers {
  onMessage(message: ChannelMessage): void;
  /**
   * File bytes, in order: a data frame's payload, possibly in several slices as it arrived.
   * Valid only during the call (copy to keep).
   */
  onData(payload: Buffer): void;
  /** The channel ended; `error` is set when it broke rather than closed on purpose. */
  onClose(error: ChatError | null): void;
  /** The socket's write buffer drained. */
  onDrain?(): void;
}

/** Control messages are small JSON objects; anything bigger is not ours. */
export const MAX_CONTROL_BYTES = 4096;

/**
 * Decrypted bytes are read into one buffer of this size per connection (shared/socket-read-buffer.ts):
 * a few TLS records' worth, so one callback takes what one read of the socket produced.
 */
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Streaming decoder for the data channel's frames (shared/codec.ts layout). Unlike the
 * control connection's FrameDecoder it never gathers a data frame: payload bytes are handed
 * on as slices of the chunks they arrived in, so a file moves from the socket to the disk
 * ring with one copy. Control frames (small) are gathered and parsed whole.
 */
export class ChannelDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private kind: number = FrameKind.control;
  /** Payload bytes still expected for the current frame; -1 while reading a header. */
  private remaining = -1;
  private control: Buffer | null = null;
  private controlFill = 0;

  constructor(
    private readonly maxPayloadBytes: number,
    private readonly onControl: (payload: Buffer) => void,
    private readonly onData: (slice: Buffer) => void,
  ) {}

  /** Throws ChatError E_FRAME_TOO_LARGE or E_PROTOCOL; the decoder is unusable afterwards. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining === -1) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill === FRAME_HEADER_BYTES) this.startFrame();
        continue;
      }
      const take = Math.min(this.remaining, chunk.length - at);
      if (this.kind === FrameKind.data) {
        if (take > 0) this.onData(chunk.subarray(at, at + take));
      } else {
        chunk.copy(this.control!, this.controlFill, at, at + take);
        this.controlFill += take;
      }
      at += take;
      this.remaining -= take;
      if (this.remaining === 0) this.endFrame();
    }
  }

  private startFrame(): void {
    this.headerFill = 0;
    const length = this.header.readUInt32BE(0);
    this.kind = this.header[4];
    if (length < 1) throw new ChatError('E_PROTOCOL', 'frame length 0');
    const payload = length - 1;
    if (this.kind === FrameKind.data) {
      if (payload > this.maxPayloadBytes) throw new ChatError('E_FRAME_TOO_LARGE', `data frame of ${payload} bytes`);
    } else if (this.kind === FrameKind.control) {
      if (payload > MAX_CONTROL_BYTES) throw new ChatError('E_FRAME_TOO_LARGE', `control frame of ${payload} bytes`);
      this.control = Buffer.allocUnsafe(payload);
      this.controlFill = 0;
    } else {
      throw new ChatError('E_PROTOCOL', `unknown frame kind ${this.kind}`);
    }
    this.remaining = payload;
    if (payload === 0) this.endFrame();
  }

  private endFrame(): void {
    this.remaining = -1;
    if (this.kind === FrameKind.control) {
      const payload = this.control!;
      this.control = null;
      this.onControl(payload);
    }
  }
}

/**
 * Frames over an authenticated TLS socket (shared/codec.ts framing): control frames carry a
 * validated {@link ChannelMessage}, data frames carry file bytes. Messages that arrive before
 * anyone listens are held (the `go` can race the session set-up); invalid input closes the
 * channel with E_PROTOCOL or E_FRAME_TOO_LARGE.
 */
export class FramedChannel {
  private readonly decoder: ChannelDecoder;
  private handlers: ChannelHandlers | null = null;
  private held: ChannelMessage[] = [];
  private closed = false;
  private closeError: ChatError | null = null;

  /**
   * @param maxPayloadBytes largest data payload accepted (the chunk size); bigger frames close the channel
   */
  constructor(
    readonly socket: TLSSocket,
    maxPayloadBytes: number,
  ) {
    this.decoder = new ChannelDecoder(
      maxPayloadBytes,
      (payload) => this.onControlFrame(payload),
      (slice) => this.onDataSlice(slice),
    );
    // One reused buffer for what TLS decrypts; 'data' (a new Buffer per record) only where this Node cannot.
    const reused = readIntoBuffer(socket, Buffer.allocUnsafe(READ_BUFFER_BYTES), (bytes, buffer) => this.onChunk(buffer.subarray(0, bytes)));
    if (reused) socket.resume();
    else socket.on('data', (chunk: Buffer) => this.onChunk(chunk));
    socket.on('drain', () => this.handlers?.onDrain?.());
    socket.on('error', (error: Error) => {
      this.closeError ??= error instanceof ChatError ? error : new ChatError('E_CLOSED', `data connection error: ${error.message}`);
    });
    socket.on('close', () => this.finish(this.closeError ?? new ChatError('E_CLOSED')));
    socket.on('end', () => socket.end());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True while the socket's buffer is over its high-water mark: wait for `onDrain`. */
  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Bytes queued in the socket and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  setHandlers(handlers: ChannelHandlers | null): void {
    this.handlers = handlers;
    if (handlers === null) return;
    const held = this.held;
    this.held = [];
    for (const message of held) {
      if (this.handlers !== handlers) {
        this.held.push(message);
        continue;
      }
      handlers.onMessage(message);
    }
    if (this.closed && this.handlers === handlers) handlers.onClose(this.closeError);
  }

  /** Sends a control message; returns false when the caller should wait for drain. */
  send(message: ChannelMessage): boolean {
    if (this.closed) return false;
    return this.socket.write(encodeControl(message));
  }

  /** Allocates a data frame with room for `payloadBytes` after the header; fill `frame.subarray(FRAME_HEADER_BYTES)`. */
  static allocateDataFrame(payloadBytes: number): Buffer {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes);
    frame.writeUInt32BE(payloadBytes + 1, 0);
    frame[4] = FrameKind.data;
    return frame;
  }

  /**
   * Sends a frame made by {@link FramedChannel.allocateDataFrame} with `payloadBytes` filled.
   * `onFlushed` runs once the socket is done with the buffer (it may be reused then).
   */
  sendDataFrame(frame: Buffer, payloadBytes: number, onFlushed?: () => void): boolean {
    if (this.closed) return false;
    const exact = frame.subarray(0, FRAME_HEADER_BYTES + payloadBytes);
    exact.writeUInt32BE(payloadBytes + 1, 0);
    return this.socket.write(exact, onFlushed === undefined ? undefined : () => onFlushed());
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Flushes what is queued, then closes (for the last message of a session). */
  end(): void {
    this.socket.end();
  }

  /** Closes at once. */
  destroy(error?: ChatError): void {
    if (error !== undefined) this.closeError ??= error;
    this.socket.destroy();
    this.finish(this.closeError ?? null);
  }

  private onChunk(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.destroy(error instanceof ChatError ? error : new ChatError('E_INTERNAL', String(error)));
    }
  }

  private onControlFrame(payload: Buffer): void {
    if (this.closed) return;
    const message = parseChannelMessage(decodeControlPayload(payload)); // throws E_PROTOCOL into onChunk
    const handlers = this.handlers;
    if (handlers !== null) {
      handlers.onMessage(message);
      return;
    }
    // Only the leader's `go` and a receiver's `resume` can come before a session listens.
    if (this.held.length >= 16) throw new ChatError('E_PROTOCOL', 'too many messages before the session started');
    this.held.push(message);
  }

  private onDataSlice(slice: Buffer): void {
    if (this.closed) return;
    // File bytes only ever follow `resume`, inside a session: never hold them.
    if (this.handlers === null) throw new ChatError('E_PROTOCOL', 'data before the session started');
    this.handlers.onData(slice);
  }

  private finish(error: ChatError | null): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.handlers?.onClose(error);
  }
}
