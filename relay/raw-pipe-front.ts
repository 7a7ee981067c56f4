/**
 * The raw relay pipe on the relay's one port, told apart from TLS by its first byte.
 *
 * A relay pipe only ever carries the peers' own mutual TLS 1.3 (tui/core/transfer/
 * secure-channel.ts), so wrapping it in a second TLS layer to the relay costs both clients and
 * the relay a decrypt and an encrypt per byte and protects nothing the inner layer does not
 * (docs/transfer.md, "The raw relay pipe"). A client that holds a pipe ticket (asked for on
 * its verified chat connection) therefore opens a plain TCP connection to the same port and
 * sends one line:
 *
 *   `SCPIPE/1 <ticket>\n`      (ticket: base64url, as the relay issued it)
 *
 * The relay answers `ready\n` once the partner is there (raw bytes both ways from then on) or
 * `error <CODE>\n` and closes. A TLS ClientHello always starts with 0x16 (handshake record),
 * 'S' never does, so every other first byte goes to TLS exactly as before (behind the PROXY
 * protocol front too: the header is read first, then this).
 *
 * Hostile input: the line must arrive within `handshakeTimeoutMs`, fit in
 * {@link RAW_PIPE_MAX_LINE_BYTES} and match exactly; anything else gets `error E_PROTOCOL`.
 */
import type { TurnQueue } from './turn-queue.js';
import type { Server, Socket } from 'node:net';
import { RAW_PIPE_PREFIX } from '../shared/codec.js';
import { ChatError, type ErrorCode } from '../shared/errors.js';
import { RAW_PIPE_MAX_LINE_BYTES } from '../shared/limits.js';

const FIRST_BYTE = RAW_PIPE_PREFIX.charCodeAt(0);
/** A ticket as bus.ts's newTicket makes it (24 random bytes, base64url), with room to grow. */
const TICKET_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export interface RawPipeRequest {
  socket: Socket;
  ticket: string;
  /** Bytes that came after the line: there must be none (the client waits for `ready`). */
  rest: Buffer;
}

export interface FirstByteFrontOptions {
  /** Takes TLS connections (the relay's tls.Server, which does not listen itself). */
  tlsServer: Server;
  /** TLS handshakes start one per event-loop turn (relay/turn-queue.ts). */
  arrivals: TurnQueue;
  /** A well-formed raw pipe line arrived. */
  onRawPipe(request: RawPipeRequest): void;
  /** The whole line must arrive within this, ms. */
  timeoutMs: number;
  log(line: string): void;
}

/** Answers a raw pipe with an error code and closes it. */
export function refuseRawPipe(socket: Socket, code: ErrorCode): void {
  if (socket.destroyed) return;
  socket.end(`error ${code}\n`);
  setTimeout(() => socket.destroy(), 1_000).unref();
}

/**
 * Looks at the first byte of each connection handed to it (`route`), then gives the socket to
 * TLS or reads the raw pipe line. The socket is paused around each hand-over so no byte is
 * lost (the same `unshift` proxy-front.ts relies on).
 */
export function routeByFirstByte(socket: Socket, options: FirstByteFrontOptions): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('error', () => undefined);
  const timer = setTimeout(() => {
    stop();
    refuseRawPipe(socket, 'E_PROTOCOL');
  }, options.timeoutMs);
  timer.unref();
  const stop = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', stop);
    socket.pause();
  };
  const onData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (buffered[0] !== FIRST_BYTE) {
      stop();
      socket.unshift(buffered);
      options.arrivals.run(() => {
        if (!socket.destroyed) options.tlsServer.emit('connection', socket);
      });
      return;
    }
    const end = buffered.indexOf(0x0a);
    if (end === -1) {
      if (buffered.length > RAW_PIPE_MAX_LINE_BYTES) {
        stop();
        refuseRawPipe(socket, 'E_PROTOCOL');
      }
      return;
    }
    stop();
    const line = end <= RAW_PIPE_MAX_LINE_BYTES ? buffered.subarray(0, end).toString('latin1') : '';
    const ticket = line.startsWith(RAW_PIPE_PREFIX) ? line.slice(RAW_PIPE_PREFIX.length) : '';
    if (!TICKET_PATTERN.test(ticket)) {
      options.log(`raw pipe from ${socket.remoteAddress ?? 'unknown'}: malformed request line`);
      refuseRawPipe(socket, 'E_PROTOCOL');
      return;
    }
    options.onRawPipe({ socket, ticket, rest: buffered.subarray(end + 1) });
  };
  socket.on('data', onData);
  socket.once('close', stop);
  // The PROXY front hands sockets over paused (the header's rest put back): read on.
  socket.resume();
}

/** The code to answer a failed raw pipe with: the relay's own code, else E_INTERNAL. */
export function rawPipeErrorCode(error: unknown): ErrorCode {
  return error instanceof ChatError ? error.code : 'E_INTERNAL';
}
