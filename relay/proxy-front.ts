/**
 * The relay's edge when it runs behind HAProxy (`--proxy-protocol`): a plain TCP listener that
 * reads the PROXY v2 header, then hands the socket to the relay's (not listening) `tls.Server`
 * with `tlsServer.emit('connection', socket)`. TLS stays end to end: the proxy forwards bytes,
 * the relay terminates TLS, so the exporter-bound login proof still holds.
 *
 * Per connection, in order:
 *   1. the TCP peer must be a trusted proxy, else the socket is reset at once (one log line):
 *      anyone who reaches the port directly cannot forge a client address;
 *   2. the header must arrive within `headerTimeoutMs` and fit in `maxHeaderBytes`;
 *   3. PROXY: the bytes after the header (the ClientHello) are put back with `unshift`, the real
 *      client address is recorded for `clientAddressOf`, and TLS takes the socket over;
 *      LOCAL (a HAProxy health check) is answered by a clean close, as is a trusted connect
 *      that sends nothing and closes (a plain TCP health check), without a log line, since
 *      checks come every few seconds. HAProxy 2.6 resets its check connection right after the
 *      16-byte LOCAL header, often before Node can read the peer's address: such an already
 *      dead socket is dropped silently too.
 *
 * Why `unshift` is enough: Node's TLSSocket, when it takes over a net.Socket, first feeds the
 * socket's buffered bytes to TLS (`initRead` in lib/_tls_wrap.js) before reading from the handle.
 * The socket is paused before the handoff so no byte is emitted in between.
 */
import { BlockList, Socket, createServer, isIP, isIPv4, type Server } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { ChatError } from '../shared/errors.js';
import { DEFAULT_LIMITS } from '../shared/limits.js';
import { ProxyHeaderReader, canonicalAddress, type ProxyHeader, type ProxyHeaderParse } from './proxy-header.js';

/** The client behind a connection, as the relay should count, limit and log it. */
export interface ClientEndpoint {
  /** Canonical address (IPv4-mapped IPv6 written as IPv4). */
  address: string;
  port: number;
  /** true: from a PROXY header; false: the TCP peer itself (PROXY with AF_UNSPEC). */
  forwarded: boolean;
}

/** The TCP peer of a connection that reached the front (a proxy, or someone refused). */
export interface FrontPeer {
  address: string;
  port: number;
}

/** The proxies whose PROXY headers are believed. */
export interface TrustedProxies {
  /** Whether `address` (any spelling; IPv4-mapped IPv6 counts as IPv4) is trusted. */
  has(address: string): boolean;
  /** The entries as given, canonical, for the start-up log. */
  readonly entries: readonly string[];
}

export interface ProxyFrontOptions {
  /** Trusted proxy addresses: exact IPs or CIDR blocks (`10.0.0.0/8`, `fd00::/8`), or a parsed list. */
  trustedProxies: TrustedProxies | readonly string[];
  /** Deadline for the whole header after the TCP connect, in ms. Default `DEFAULT_LIMITS.proxyHeaderTimeoutMs`. */
  headerTimeoutMs?: number;
  /** Size cap of the header in bytes. Default `DEFAULT_LIMITS.proxyHeaderMaxBytes`. */
  maxHeaderBytes?: number;
  /** One line per refused connection. Default: stderr. */
  log?: (line: string) => void;
  /**
   * Called once per refused connection, after it was reset. `error.code` is
   * `E_PROXY_UNTRUSTED`, `E_PROXY_TIMEOUT` or `E_PROXY_HEADER` (with `details.fault`).
   */
  onRefused?: (error: ChatError, peer: FrontPeer) => void;
  /** Called once per health check (LOCAL header, or a trusted connect that sent nothing). */
  onHealthCheck?: (peer: FrontPeer) => void;
}

/** Clients of sockets handed to TLS by a front, keyed by the net.Socket. */
const clients = new WeakMap<Socket, ClientEndpoint>();

/**
 * The client endpoint of a socket handed over by a proxy front: the net.Socket itself or the
 * TLSSocket that the tls.Server made of it (looked up through its `_parent`, the net.Socket
 * Node's TLSSocket keeps). `undefined` for any other socket.
 */
export function clientEndpointOf(socket: Socket): ClientEndpoint | undefined {
  const parent = (socket as Socket & { _parent?: unknown })._parent;
  return clients.get(socket) ?? (parent instanceof Socket ? clients.get(parent) : undefined);
}

/**
 * Use instead of `socket.remoteAddress`: the real client's address for a socket that came
 * through a proxy front (its TLSSocket or raw socket), else `socket.remoteAddress` unchanged,
 * so the same code serves a relay with and without `--proxy-protocol`.
 */
export function clientAddressOf(socket: Socket): string | undefined {
  return clientEndpointOf(socket)?.address ?? socket.remoteAddress;
}

/**
 * Parses trusted proxy entries: exact IPv4/IPv6 addresses or CIDR blocks; an entry may hold
 * several, comma-separated (`--trusted-proxy 10.0.0.2,10.0.0.3`).
 * @throws ChatError `E_USAGE` for an entry that is neither, or for an empty list.
 */
export function parseTrustedProxies(entries: readonly string[]): TrustedProxies {
  const list = new BlockList();
  const canonical: string[] = [];
  for (const entry of entries.flatMap((e) => e.split(',')).map((e) => e.trim()).filter((e) => e !== '')) {
    const [rawAddress, prefixText, extra] = entry.split('/');
    const address = canonicalAddress(rawAddress);
    const family = isIP(address);
    if (family === 0 || extra !== undefined) throw usage(entry);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefixText === undefined) {
      list.addAddress(address, type);
      canonical.push(address);
      continue;
    }
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) throw usage(entry);
    list.addSubnet(address, prefix, type);
    canonical.push(`${address}/${prefix}`);
  }
  if (canonical.length === 0) throw new ChatError('E_USAGE', 'a PROXY protocol listener needs at least one trusted proxy address (--trusted-proxy)');
  return {
    entries: canonical,
    has(address: string): boolean {
      const peer = canonicalAddress(address);
      const family = isIP(peer);
      return family !== 0 && list.check(peer, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

function usage(entry: string): ChatError {
  return new ChatError('E_USAGE', `trusted proxy "${entry}" is not an IP address or CIDR block (e.g. 10.0.0.2, 10.0.0.0/24, fd00::/8)`);
}

/**
 * Creates the plain TCP listener that sits in front of `tlsServer` (which must not listen
 * itself). The caller listens on the returned server, closes it on shutdown, and reads each
 * TLS connection's client with `clientAddressOf` / `clientEndpointOf`.
 * @throws ChatError `E_USAGE` when the trusted proxy list is invalid or empty.
 */
export function createProxyFront(tlsServer: TlsServer | Server, options: ProxyFrontOptions): Server {
  const trusted = isTrustedProxies(options.trustedProxies) ? options.trustedProxies : parseTrustedProxies(options.trustedProxies);
  const headerTimeoutMs = options.headerTimeoutMs ?? DEFAULT_LIMITS.proxyHeaderTimeoutMs;
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_LIMITS.proxyHeaderMaxBytes;
  const log = options.log ?? ((line: string) => console.error(line));

  return createServer((socket) => {
    if (socket.remoteAddress === undefined) {
      // The peer reset before we could ask who it was (getpeername fails): nothing left to
      // serve or to check. HAProxy's health checks do exactly this (LOCAL header, then RST),
      // every few seconds, so this is silent.
      socket.destroy();
      return;
    }
    const peer: FrontPeer = { address: canonicalAddress(socket.remoteAddress), port: socket.remotePort ?? 0 };
    if (!trusted.has(peer.address)) {
      socket.resetAndDestroy();
      logRefusal(new ChatError('E_PROXY_UNTRUSTED', `${describe(peer)} is not a trusted proxy`), peer);
      return;
    }
    readHeader(socket, peer);
  });

  /** Reads the header under the deadline; one teardown path (`finish`) for every outcome. */
  function readHeader(socket: Socket, peer: FrontPeer): void {
    const reader = new ProxyHeaderReader(maxHeaderBytes);
    let receivedBytes = 0;
    const timer = setTimeout(() => fail(new ChatError('E_PROXY_TIMEOUT', undefined, { timeoutMs: headerTimeoutMs, receivedBytes })), headerTimeoutMs);
    timer.unref(); // the socket keeps the process alive while it is open, not this timer

    const onData = (chunk: Buffer) => {
      receivedBytes += chunk.length;
      settle(reader.push(chunk));
    };
    // A trusted connect that sends nothing and closes (or resets) is a plain TCP health check.
    const onEnd = () => (receivedBytes === 0 ? healthCheck() : settle(reader.end()));
    const onError = () => (receivedBytes === 0 ? healthCheck() : settle(reader.end()));
    const onClose = () => finish();
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);

    function finish(): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
    }

    function fail(error: ChatError): void {
      finish();
      socket.resetAndDestroy();
      logRefusal(error, peer);
    }

    function healthCheck(): void {
      finish();
      // An error listener stays: the peer may reset while our FIN is under way.
      socket.on('error', () => socket.destroy());
      socket.destroySoon();
      options.onHealthCheck?.(peer);
    }

    function settle(result: ProxyHeaderParse): void {
      if (result.status === 'incomplete') return;
      if (result.status === 'refused') return fail(result.error);
      if (result.header.command === 'local') return healthCheck();
      finish();
      socket.pause();
      if (result.rest.length > 0) socket.unshift(result.rest);
      clients.set(socket, clientOf(result.header, peer));
      tlsServer.emit('connection', socket);
    }
  }

  function logRefusal(error: ChatError, peer: FrontPeer): void {
    const fault = error.details.fault === undefined ? '' : ` (${String(error.details.fault)})`;
    log(`proxy front: refused ${describe(peer)}: ${error.code}${fault}`);
    options.onRefused?.(error, peer);
  }
}

function clientOf(header: Exclude<ProxyHeader, { command: 'local' }>, peer: FrontPeer): ClientEndpoint {
  // AF_UNSPEC: "the receiver is free to ... use the real endpoint addresses" (spec 2.2).
  if (header.family === 'unspec') return { address: peer.address, port: peer.port, forwarded: false };
  return { address: header.source.address, port: header.source.port, forwarded: true };
}

function describe(peer: FrontPeer): string {
  return isIPv4(peer.address) || peer.address === '' ? `${peer.address}:${peer.port}` : `[${peer.address}]:${peer.port}`;
}

function isTrustedProxies(value: TrustedProxies | readonly string[]): value is TrustedProxies {
  return !Array.isArray(value);
}
