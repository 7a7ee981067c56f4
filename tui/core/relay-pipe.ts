import { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { ChatError } from '../../shared/errors.js';
import { openSideLink } from './side-link.js';

/**
 * The client side of a relay pipe on its own side link (side-link.ts): `hello` -> `welcome`,
 * `pipe {ticket}` -> `pipe-ready`, then the connection carries raw bytes to and from the
 * peer; bytes of the peer that came in the same TCP segment as `pipe-ready` come first in
 * the returned stream.
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
 * Runs the pipe handshake on `socket` (a fresh, verified TLS connection to the relay: a side
 * link, side-link.ts) and resolves with the raw pipe. Rejects with the relay's error code,
 * E_TIMEOUT, E_CLOSED, E_PROTOCOL; the socket is destroyed then.
 */
export async function openPipe(socket: tls.TLSSocket, options: OpenPipeOptions): Promise<Duplex> {
  const link = await openSideLink(socket, { t: 'pipe', ticket: options.ticket, ready: 'pipe-ready' }, { ...options, what: 'relay pipe' });
  return new PipeStream(socket, link.head);
}
