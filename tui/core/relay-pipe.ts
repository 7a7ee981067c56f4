import type net from 'node:net';
import { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { RAW_PIPE_PREFIX } from '../../shared/codec.js';
import { ChatError, isErrorCode } from '../../shared/errors.js';
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

/** The relay's answer is `ready` or `error CODE`: anything longer is not a relay. */
const MAX_ANSWER_BYTES = 64;

export interface OpenRawPipeOptions {
  ticket: string;
  /** No answer within this: E_TIMEOUT (the peer never joined). */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * The raw relay pipe (relay/raw-pipe-front.ts): on `tcp`, a fresh plain TCP connection to the
 * relay's port (through the proxy when one is set), sends `SCPIPE/1 <ticket>` and waits for
 * `ready`; the socket then carries the peers' own mutual TLS 1.3 with no TLS layer of the
 * relay's around it, so each byte is encrypted once, by the peers, and Node runs that TLS on
 * the socket itself rather than over a JS stream. Nothing but the single-use ticket goes out
 * before the peers' handshake, and that handshake is what authenticates (docs/transfer.md,
 * "The raw relay pipe").
 *
 * Resolves with the socket (paused, any bytes after `ready` put back), or with null when the
 * relay closed without a word (a relay from before raw pipes: its TLS refused the line, and
 * the ticket is still unused). Rejects with the relay's code (E_BAD_TICKET, E_PIPE_TIMEOUT,
 * E_RATE...), E_TIMEOUT, E_CLOSED or E_PROTOCOL; the socket is destroyed then.
 */
export function openRawPipe(tcp: net.Socket, options: OpenRawPipeOptions): Promise<net.Socket | null> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new ChatError('E_TIMEOUT', `the relay pipe was not ready within ${options.timeoutMs} ms`)), options.timeoutMs);
    const onAbort = (): void => fail(new ChatError('E_CLOSED', 'the relay pipe was cancelled'));
    const stop = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      tcp.off('data', onData);
      tcp.off('close', onClose);
    };
    function fail(error: ChatError): void {
      stop();
      tcp.destroy();
      reject(error);
    }
    const onClose = (): void => {
      if (buffered.length > 0) return fail(new ChatError('E_CLOSED', 'the relay closed the pipe'));
      stop();
      resolve(null);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(0x0a);
      if (end === -1) {
        if (buffered.length > MAX_ANSWER_BYTES) fail(new ChatError('E_PROTOCOL', 'the relay answered the pipe request with something else'));
        return;
      }
      const line = buffered.subarray(0, end).toString('latin1');
      if (line === 'ready') {
        stop();
        tcp.pause();
        const rest = buffered.subarray(end + 1);
        if (rest.length > 0) tcp.unshift(rest);
        resolve(tcp);
        return;
      }
      const code = /^error (E_[A-Z_]{1,40})$/.exec(line)?.[1];
      if (code !== undefined && isErrorCode(code)) return fail(new ChatError(code, `relay pipe: ${code}`));
      fail(new ChatError('E_PROTOCOL', 'the relay answered the pipe request with something else'));
    };
    if (options.signal?.aborted === true) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    tcp.on('error', () => undefined);
    tcp.on('data', onData);
    tcp.once('close', onClose);
    tcp.setNoDelay(true);
    tcp.write(`${RAW_PIPE_PREFIX}${options.ticket}\n`);
  });
}
