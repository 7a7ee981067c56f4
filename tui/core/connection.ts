import net from 'node:net';
import tls from 'node:tls';
import { ChatError, isErrorCode } from '../../shared/errors.js';
import { FrameDecoder, FrameKind, decodeControlPayload, encodeControl, encodeFrame } from '../../shared/codec.js';
import { DEFAULT_LIMITS, type Limits } from '../../shared/limits.js';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../../shared/messages.js';
import { formatServerAddress, type ServerAddress } from './address.js';
import { openTcp } from './dial.js';
import type { ProxySettings } from './proxy.js';
import { KnownRelays, verifyRelay, type TrustDecision, type TrustOptions } from './trust.js';

/**
 * One TLS connection to the relay: dial, verify the relay before sending a byte, then frame
 * and validate traffic. No login, no reconnect: that is the client's job (client.ts).
 */
export interface DialOptions extends ServerAddress {
  trust: TrustOptions;
  knownRelays: KnownRelays;
  /** Uses maxFrameBytes, handshakeTimeoutMs and, with a proxy, proxyConnectTimeoutMs (default 30 s). */
  limits: Pick<Limits, 'maxFrameBytes' | 'handshakeTimeoutMs'> & Partial<Pick<Limits, 'proxyConnectTimeoutMs'>>;
  /** Reach the relay through this SOCKS5 proxy (dial.ts); absent: straight. */
  proxy?: ProxySettings;
  /** Straight connections: the local address to connect from (dial.ts). */
  localAddress?: string;
  signal?: AbortSignal;
}

export interface ConnectionHandlers {
  /** A validated control message from the relay. */
  onMessage(message: RelayMessage): void;
  /** A data frame (relay pipe traffic); ignored when absent. */
  onData?(payload: Buffer): void;
  /** Called exactly once when the connection is gone, with the reason. */
  onClose(reason: ChatError): void;
}

/** Turns a socket error into a ChatError with a stable code. */
export function socketError(error: unknown, phase: 'connect' | 'tls' | 'open'): ChatError {
  if (error instanceof ChatError) return error;
  const err = error as NodeJS.ErrnoException;
  const code = err?.code ?? '';
  const message = err?.message ?? String(error);
  if (phase === 'connect' && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|EADDRNOTAVAIL)$/.test(code)) {
    return new ChatError('E_CONNECT', `could not connect to the relay: ${message}`, { cause: code });
  }
  if (phase !== 'open' || /^ERR_SSL|^ERR_TLS/.test(code)) {
    return new ChatError('E_TLS', `the TLS connection failed: ${message}`, { cause: code });
  }
  return new ChatError('E_CLOSED', `the connection to the relay broke: ${message}`, { cause: code });
}

export class ChatConnection {
  private readonly decoder: FrameDecoder;
  private handlers: ConnectionHandlers | null = null;
  private closeReason: ChatError | null = null;
  private closedFlag = false;

  constructor(
    /** The TLS socket; exposed so tests and benchmarks can cut it like a network failure would. */
    readonly socket: tls.TLSSocket,
    readonly server: string,
    readonly trust: TrustDecision,
    maxFrameBytes: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    socket.on('close', () => this.finish());
    socket.on('error', (error) => this.noteReason(socketError(error, 'open')));
  }

  get fingerprint(): string {
    return this.trust.fingerprint;
  }

  get closed(): boolean {
    return this.closedFlag || this.socket.destroyed;
  }

  /** Bytes written but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Starts reading. Frames are held by the socket until then. */
  start(handlers: ConnectionHandlers): void {
    this.handlers = handlers;
    if (this.closedFlag) {
      handlers.onClose(this.closeReason ?? new ChatError('E_CLOSED', 'the relay closed the connection'));
      return;
    }
    this.socket.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  send(message: ClientMessage): void {
    if (this.closed) throw new ChatError('E_CLOSED', 'not connected to the relay');
    this.socket.write(encodeControl(message));
  }

  sendData(payload: Uint8Array): void {
    if (this.closed) throw new ChatError('E_CLOSED', 'not connected to the relay');
    this.socket.write(encodeFrame(FrameKind.data, payload));
  }

  /** Remembers why the relay is about to close (from its `bye`), so onClose reports that. */
  noteReason(reason: ChatError): void {
    if (!this.closeReason) this.closeReason = reason;
  }

  /** Ends politely (flushes what was written). */
  end(reason?: ChatError): void {
    if (reason) this.noteReason(reason);
    this.socket.end();
    // A relay that never closes its side must not keep us around.
    setTimeout(() => this.socket.destroy(), 2_000).unref();
  }

  /** Drops the connection at once. */
  destroy(reason?: ChatError): void {
    if (reason) this.noteReason(reason);
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    if (this.closedFlag) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      return this.destroy(error instanceof ChatError ? error : new ChatError('E_PROTOCOL', String(error)));
    }
    for (const frame of frames) {
      if (this.socket.destroyed) return;
      if (frame.kind === FrameKind.data) {
        this.handlers?.onData?.(frame.payload);
        continue;
      }
      let parsed;
      try {
        parsed = parseRelayMessage(decodeControlPayload(frame.payload));
      } catch (error) {
        return this.destroy(error instanceof ChatError ? error : new ChatError('E_PROTOCOL', String(error)));
      }
      if (!parsed.ok) return this.destroy(new ChatError('E_PROTOCOL', `the relay sent an invalid message (${parsed.error})`));
      this.handlers?.onMessage(parsed.value);
    }
  }

  private finish(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    const reason = this.closeReason ?? new ChatError('E_CLOSED', 'the relay closed the connection');
    this.handlers?.onClose(reason);
  }
}

/** Maps a relay `bye` or `error` code onto our catalogue (unknown codes keep their text in details). */
export function relayError(code: string, message: string, extra: Record<string, unknown> = {}): ChatError {
  if (isErrorCode(code)) return new ChatError(code, message, extra);
  return new ChatError('E_PROTOCOL', message, { ...extra, relayCode: code });
}

/**
 * One TLS context per CA (or the system store), shared by every dial: building a context
 * parses the trust store and costs about 0.4 ms, as much as the rest of a reconnect's
 * client-side work (bench login, profiled). Contexts hold no per-connection state.
 */
const secureContexts = new Map<string | Buffer | undefined, tls.SecureContext>();
const MAX_CACHED_CONTEXTS = 16;

function secureContextFor(ca: string | Buffer | undefined): tls.SecureContext {
  let context = secureContexts.get(ca);
  if (!context) {
    if (secureContexts.size >= MAX_CACHED_CONTEXTS) secureContexts.clear();
    context = tls.createSecureContext({ minVersion: 'TLSv1.3', ca });
    secureContexts.set(ca, context);
  }
  return context;
}

/**
 * Dials the relay with TLS 1.3 and verifies it (trust.ts) before anything is sent.
 * The TCP connection comes from dial.ts (straight or through the SOCKS5 proxy); TLS and the
 * checks run over it end to end, so a proxy sees ciphertext only.
 * Rejects with E_CONNECT, E_PROXY, E_PROXY_AUTH, E_PROXY_REFUSED, E_TLS,
 * E_HANDSHAKE_TIMEOUT or a trust error.
 */
export async function dialRelay(options: DialOptions): Promise<ChatConnection> {
  const server = formatServerAddress(options);
  options.signal?.throwIfAborted();
  const started = Date.now();
  // Straight: one budget for TCP and TLS together. Through a proxy: the proxy has its own
  // (a Tor circuit takes a while), then TLS gets the usual budget.
  const proxyTimeoutMs = options.limits.proxyConnectTimeoutMs ?? DEFAULT_LIMITS.proxyConnectTimeoutMs;
  const tcpTimeoutMs = options.proxy !== undefined ? proxyTimeoutMs : options.limits.handshakeTimeoutMs;
  const tcp = await openTcp({ host: options.host, port: options.port, proxy: options.proxy, localAddress: options.localAddress, timeoutMs: tcpTimeoutMs, signal: options.signal });
  if (options.signal?.aborted) {
    tcp.destroy();
    throw new ChatError('E_CLOSED', 'connecting was cancelled');
  }
  const deadline = (options.proxy !== undefined ? Date.now() : started) + options.limits.handshakeTimeoutMs;
  tcp.setNoDelay(true);
  const socket = tls.connect({
    socket: tcp,
    // SNI must not be an IP address.
    servername: net.isIP(options.host) ? undefined : options.host,
    secureContext: secureContextFor(options.trust.ca),
    // Node's own check would refuse a self-signed relay outright; ours (verifyRelay) runs in
    // secureConnect below, and nothing is written to the socket before it has passed.
    rejectUnauthorized: false,
  });

  const connected = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new ChatError('E_HANDSHAKE_TIMEOUT', `no TLS handshake with ${server} within ${options.limits.handshakeTimeoutMs} ms`)),
      Math.max(0, deadline - Date.now()),
    );
    const onAbort = () => fail(new ChatError('E_CLOSED', 'connecting was cancelled'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('secureConnect', onSecure);
      socket.off('close', onClose);
    }
    function fail(error: ChatError) {
      cleanup();
      socket.destroy();
      reject(error);
    }
    function onError(error: Error) {
      fail(socketError(error, 'tls'));
    }
    function onClose() {
      fail(new ChatError('E_TLS', `the relay at ${server} closed the connection during the TLS handshake`));
    }
    function onSecure() {
      cleanup();
      resolve(socket);
    }
    socket.once('error', onError);
    socket.once('secureConnect', onSecure);
    socket.once('close', onClose);
  });

  // Keep errors from crashing the process while we verify; ChatConnection takes over after.
  const swallow = () => {};
  connected.on('error', swallow);
  try {
    // The DER alone: getPeerCertificate() would first build an object of every field (~0.2 ms).
    const der = connected.getPeerX509Certificate()?.raw;
    if (!der || der.length === 0) throw new ChatError('E_TLS', `the relay at ${server} presented no certificate`);
    const decision = await verifyRelay(
      {
        server,
        der,
        authorized: connected.authorized,
        authorizationError: connected.authorizationError ? String(connected.authorizationError) : undefined,
      },
      options.trust,
      options.knownRelays,
    );
    if (connected.destroyed) throw new ChatError('E_CLOSED', `the relay at ${server} closed the connection`);
    options.signal?.throwIfAborted();
    const connection = new ChatConnection(connected, server, decision, options.limits.maxFrameBytes);
    connected.off('error', swallow);
    return connection;
  } catch (error) {
    connected.destroy();
    if (error instanceof ChatError) throw error;
    if ((error as Error)?.name === 'AbortError') throw new ChatError('E_CLOSED', 'connecting was cancelled');
    throw error;
  }
}
