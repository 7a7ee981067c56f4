import type tls from 'node:tls';
import { FrameDecoder, FrameKind, decodeControlPayload, encodeControl } from '../../shared/codec.js';
import { ChatError, asChatError } from '../../shared/errors.js';
import { PROTOCOL_VERSION, parseRelayMessage, type RelayMessage, type RelayMessageOf } from '../../shared/messages.js';
import { relayError, type ChatConnection } from './connection.js';
import type { TrustOptions } from './trust.js';

/**
 * The side link: every connection to the relay besides the chat connection (a relay pipe for
 * a file transfer, one room file up or down). One way to dial it (pinned to the certificate
 * the chat connection verified: the same relay, checked the same way, never a second trust
 * prompt) and one handshake on it: `hello` -> `welcome`, the request with its ticket ->
 * the ready answer; after that the connection carries raw bytes. Frames are read one at a
 * time with the shared FrameDecoder, and reading stops right after the ready answer, so
 * bytes that came in the same TCP segment are not taken for frames: they are handed on as
 * `head`.
 */

/** Dials a side link pinned to `fingerprint` (the chat connection's); `what` names it in errors. */
export async function dialSideLink(
  dial: (trust: TrustOptions, signal?: AbortSignal) => Promise<ChatConnection>,
  fingerprint: string | null,
  what: string,
  signal?: AbortSignal,
): Promise<ChatConnection> {
  if (fingerprint === null) throw new ChatError('E_CLOSED', 'not connected to the relay');
  const conn = await dial({ fingerprint }, signal);
  if (conn.fingerprint !== fingerprint) {
    conn.destroy();
    throw new ChatError('E_FINGERPRINT_MISMATCH', `the ${what} connection presented another certificate than the chat connection`);
  }
  return conn;
}

export interface ReadControlOptions {
  /** Longest control frame accepted, bytes. */
  maxFrameBytes: number;
  /** No answer within this: E_TIMEOUT. */
  timeoutMs: number;
  /** Names the link in errors ("relay pipe", "file"). */
  what: string;
  /** Aborting fails the read with E_CLOSED (and destroys the socket). */
  signal?: AbortSignal;
}

/**
 * Reads control frames from `socket` until `step` returns a value; the relay's `error` or `bye`
 * fails with its code. On success the socket is paused and left to the caller with the decoder
 * holding the bytes after the last frame; on failure it is destroyed.
 */
export function readControl<T>(socket: tls.TLSSocket, decoder: FrameDecoder, options: ReadControlOptions, step: (m: RelayMessage) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { what, timeoutMs, signal } = options;
    const timer = setTimeout(() => fail(new ChatError('E_TIMEOUT', `the relay did not answer on the ${what} connection within ${timeoutMs} ms`)), timeoutMs);
    const onAbort = (): void => fail(new ChatError('E_CLOSED', `the ${what} connection was cancelled`));
    const onClose = (): void => fail(new ChatError('E_CLOSED', `the relay closed the ${what} connection`));
    const onError = (error: Error): void => fail(new ChatError('E_CLOSED', `the ${what} connection broke: ${error.message}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    function fail(error: ChatError): void {
      cleanup();
      socket.destroy();
      reject(error);
    }
    function onData(chunk: Buffer): void {
      try {
        decoder.append(chunk);
        for (let frame = decoder.next(); frame !== null; frame = decoder.next()) {
          if (frame.kind !== FrameKind.control) throw new ChatError('E_PROTOCOL', `data frame on the ${what} connection before it was ready`);
          const parsed = parseRelayMessage(decodeControlPayload(frame.payload));
          if (!parsed.ok) throw new ChatError('E_PROTOCOL', `the relay sent an invalid message (${parsed.error})`);
          const m = parsed.value;
          if (m.t === 'error' || m.t === 'bye') throw relayError(m.code, m.message);
          const value = step(m);
          if (value !== undefined) {
            socket.pause();
            cleanup();
            resolve(value);
            return;
          }
        }
      } catch (error) {
        fail(asChatError(error, 'E_PROTOCOL'));
      }
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', onError);
    if (signal?.aborted) onAbort();
  });
}

/** What a side link asks for after `welcome`, and the answer that makes it ready. */
export type SideRequest = { t: 'pipe'; ticket: string; ready: 'pipe-ready' } | { t: 'file-put' | 'file-get'; ticket: string; ready: 'file-ready' };

export interface SideLink<R extends 'pipe-ready' | 'file-ready'> {
  ready: RelayMessageOf<R>;
  socket: tls.TLSSocket;
  /** Raw bytes that came after the ready answer. */
  head: Buffer;
}

/**
 * Runs the handshake on `socket` (a fresh side link): hello, welcome, the request with its
 * ticket, the ready answer. Rejects with the relay's code, E_TIMEOUT, E_CLOSED, E_PROTOCOL;
 * the socket is destroyed then.
 */
export async function openSideLink<Q extends SideRequest>(
  socket: tls.TLSSocket,
  request: Q,
  options: ReadControlOptions & { clientName: string },
): Promise<SideLink<Q['ready']>> {
  const decoder = new FrameDecoder(options.maxFrameBytes);
  const id = request.t === 'pipe' ? 'pipe1' : 'file1';
  let asked = false;
  const reading = readControl(socket, decoder, options, (m) => {
    if (m.t === 'welcome' && !asked) {
      asked = true;
      socket.write(encodeControl({ t: request.t, id, ticket: request.ticket }));
      return undefined;
    }
    // Anything else before the link is ready (a ping answer...) is ignored.
    return m.t === request.ready && 're' in m && m.re === id ? (m as RelayMessageOf<Q['ready']>) : undefined;
  });
  if (!socket.destroyed) socket.write(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, client: options.clientName }));
  const ready = await reading;
  return { ready, socket, head: decoder.rest() };
}
