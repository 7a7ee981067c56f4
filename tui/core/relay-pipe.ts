import { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { FRAME_HEADER_BYTES, FrameKind, decodeControlPayload, encodeControl } from '../../shared/codec.js';
import { ChatError } from '../../shared/errors.js';
import { PROTOCOL_VERSION, parseRelayMessage, type RelayMessage } from '../../shared/messages.js';
import { relayError } from './connection.js';

/**
 * The client side of a relay pipe on its own (already verified) TLS connection:
 * `hello` -> `welcome`, `pipe {ticket}` -> `pipe-ready`, then the connection carries raw
 * bytes to and from the peer. Frames are read one by one and reading stops right after
 * `pipe-ready`, so bytes of the peer that came in the same TCP segment are not taken for
 * frames: they are handed on first in the returned stream.
 */
export interface OpenPipeOptions {
  ticket: string;
  /** Sent in hello. */
  clientName: string;
  /** Longest control frame accepted before the pipe is ready, bytes. */
  maxFrameBytes: number;
  /** No pipe-ready within this: E_TIMEOUT (the peer never joined). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Reads whole frames from a byte buffer, one at a time, never past the frame asked for.
 * Pure: exported for tests.
 */
export class FrameSplitter {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** The next whole frame, or null while more bytes are needed. Throws E_PROTOCOL / E_FRAME_TOO_LARGE. */
  next(): { kind: number; payload: Buffer } | null {
    if (this.buffer.length < FRAME_HEADER_BYTES) return null;
    const length = this.buffer.readUInt32BE(0);
    if (length < 1) throw new ChatError('E_PROTOCOL', 'frame length 0');
    if (length > this.maxFrameBytes) throw new ChatError('E_FRAME_TOO_LARGE', `frame of ${length} bytes before the pipe was ready`);
    if (this.buffer.length < 4 + length) return null;
    const kind = this.buffer[4];
    const payload = this.buffer.subarray(FRAME_HEADER_BYTES, 4 + length);
    this.buffer = this.buffer.subarray(4 + length);
    return { kind, payload };
  }

  /** Bytes after the last frame taken. */
  rest(): Buffer {
    return this.buffer;
  }
}

/**
 * A Duplex over the relay connection once it is a raw pipe. A JS stream on purpose: the
 * peers' TLS then runs in a JS stream wrapper over it, and the bytes read ahead (`head`)
 * come first, which a native re-wrap of the TLS socket's handle would lose.
 */
export class PipeStream extends Duplex {
  private reading = false;

  constructor(
    private readonly socket: tls.TLSSocket,
    head: Buffer,
  ) {
    super({ allowHalfOpen: false });
    if (head.length > 0) this.push(head);
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.pause();
  }

  override _read(): void {
    this.reading = true;
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.destroyed) return callback(new ChatError('E_CLOSED', 'the relay pipe is closed'));
    this.socket.write(chunk, (error) => callback(error ?? null));
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }

  /** Whether anything has read from the pipe yet (tests). */
  get started(): boolean {
    return this.reading;
  }
}

/**
 * Runs the pipe handshake on `socket` (a fresh, verified TLS connection to the relay) and
 * resolves with the raw pipe. Rejects with the relay's error code, E_TIMEOUT, E_CLOSED,
 * E_PROTOCOL; the socket is destroyed then.
 */
export function openPipe(socket: tls.TLSSocket, options: OpenPipeOptions): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const splitter = new FrameSplitter(options.maxFrameBytes);
    let phase: 'welcome' | 'ready' = 'welcome';
    const pipeId = 'pipe1';
    const timer = setTimeout(() => fail(new ChatError('E_TIMEOUT', `the relay pipe was not ready within ${options.timeoutMs} ms`)), options.timeoutMs);
    const onAbort = (): void => fail(new ChatError('E_CLOSED', 'the relay pipe was cancelled'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    function fail(error: ChatError): void {
      cleanup();
      socket.destroy();
      reject(error);
    }
    const onClose = (): void => fail(new ChatError('E_CLOSED', 'the relay closed the pipe connection'));
    const onError = (error: Error): void => fail(new ChatError('E_CLOSED', `the pipe connection broke: ${error.message}`));
    const handle = (message: RelayMessage): boolean => {
      if (message.t === 'bye') throw relayError(message.code, message.message);
      if (message.t === 'error') throw relayError(message.code, message.message);
      if (phase === 'welcome' && message.t === 'welcome') {
        phase = 'ready';
        socket.write(encodeControl({ t: 'pipe', id: pipeId, ticket: options.ticket }));
        return false;
      }
      if (phase === 'ready' && message.t === 'pipe-ready' && message.re === pipeId) return true;
      // Anything else before the pipe is ready (a ping answer...) is ignored.
      return false;
    };
    function onData(chunk: Buffer): void {
      splitter.push(chunk);
      try {
        for (let frame = splitter.next(); frame !== null; frame = splitter.next()) {
          if (frame.kind !== FrameKind.control) throw new ChatError('E_PROTOCOL', 'data before the pipe was ready');
          const parsed = parseRelayMessage(decodeControlPayload(frame.payload));
          if (!parsed.ok) throw new ChatError('E_PROTOCOL', `the relay sent an invalid message (${parsed.error})`);
          if (handle(parsed.value)) {
            socket.pause();
            cleanup();
            resolve(new PipeStream(socket, splitter.rest()));
            return;
          }
        }
      } catch (error) {
        fail(error instanceof ChatError ? error : new ChatError('E_PROTOCOL', String(error)));
      }
    }
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', onError);
    if (options.signal?.aborted) return onAbort();
    socket.write(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, client: options.clientName }));
  });
}
