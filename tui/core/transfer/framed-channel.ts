import type { TLSSocket } from 'node:tls';
import { FRAME_HEADER_BYTES, FrameDecoder, FrameKind, decodeControlPayload, encodeControl } from '../../../shared/codec.js';
import { ChatError } from '../../../shared/errors.js';
import { type ChannelMessage, parseChannelMessage } from '../../../shared/transfer/wire.js';

export interface ChannelHandlers {
  onMessage(message: ChannelMessage): void;
  /** A data frame's payload: file bytes, in order. Valid only during the call (copy to keep). */
  onData(payload: Buffer): void;
  /** The channel ended; `error` is set when it broke rather than closed on purpose. */
  onClose(error: ChatError | null): void;
  /** The socket's write buffer drained. */
  onDrain?(): void;
}

/**
 * Frames over an authenticated TLS socket (shared/codec.ts framing): control frames carry a
 * validated {@link ChannelMessage}, data frames carry file bytes. Messages that arrive before
 * anyone listens are held (the `go` can race the session set-up); invalid input closes the
 * channel with E_PROTOCOL or E_FRAME_TOO_LARGE.
 */
export class FramedChannel {
  private readonly decoder: FrameDecoder;
  private handlers: ChannelHandlers | null = null;
  private held: Array<{ kind: 'message'; message: ChannelMessage } | { kind: 'data'; payload: Buffer }> = [];
  private closed = false;
  private closeError: ChatError | null = null;

  /**
   * @param maxPayloadBytes largest data payload accepted (the chunk size); bigger frames close the channel
   */
  constructor(
    readonly socket: TLSSocket,
    maxPayloadBytes: number,
  ) {
    // +1: the codec's length counts the kind byte; control frames are far smaller.
    this.decoder = new FrameDecoder(maxPayloadBytes + 1);
    socket.on('data', (chunk: Buffer) => this.onChunk(chunk));
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
    for (const item of held) {
      if (this.handlers !== handlers) {
        this.held.push(item);
        continue;
      }
      if (item.kind === 'message') handlers.onMessage(item.message);
      else handlers.onData(item.payload);
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

  /** Sends a frame made by {@link FramedChannel.allocateDataFrame}, trimmed to `payloadBytes` actually filled. */
  sendDataFrame(frame: Buffer, payloadBytes: number): boolean {
    if (this.closed) return false;
    const exact = frame.subarray(0, FRAME_HEADER_BYTES + payloadBytes);
    exact.writeUInt32BE(payloadBytes + 1, 0);
    return this.socket.write(exact);
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
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.destroy(error instanceof ChatError ? error : new ChatError('E_PROTOCOL'));
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      if (frame.kind === FrameKind.data) {
        this.deliver({ kind: 'data', payload: frame.payload });
        continue;
      }
      let message: ChannelMessage;
      try {
        message = parseChannelMessage(decodeControlPayload(frame.payload));
      } catch (error) {
        this.destroy(error instanceof ChatError ? error : new ChatError('E_PROTOCOL'));
        return;
      }
      this.deliver({ kind: 'message', message });
    }
  }

  private deliver(item: { kind: 'message'; message: ChannelMessage } | { kind: 'data'; payload: Buffer }): void {
    const handlers = this.handlers;
    if (handlers === null) {
      // Only the leader's `go` and a receiver's `resume` can come before a session listens;
      // file bytes cannot (they follow `resume`). Bound it anyway.
      if (this.held.length >= 16 || item.kind === 'data') {
        this.destroy(new ChatError('E_PROTOCOL', 'data before the session started'));
        return;
      }
      this.held.push(item);
      return;
    }
    if (item.kind === 'message') handlers.onMessage(item.message);
    else handlers.onData(item.payload);
  }

  private finish(error: ChatError | null): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.handlers?.onClose(error);
  }
}
