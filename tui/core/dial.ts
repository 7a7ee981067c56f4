import dns from 'node:dns/promises';
import net from 'node:net';
import { SocksClient, type SocksClientError } from 'socks';
import { ChatError } from '../../shared/errors.js';
import { formatServerAddress, type ServerAddress } from './address.js';
import { formatProxy, type ProxySettings } from './proxy.js';

/**
 * The one place the client opens a TCP connection to the relay: straight, or through a SOCKS5
 * proxy. Every relay connection (chat, reconnects, relay pipes, room-file links) is dialled by
 * connection.ts's dialRelay, which calls this and nothing else, so a proxy cannot be bypassed.
 */
export interface TcpDialOptions extends ServerAddress {
  proxy?: ProxySettings;
  /** Straight connections only: connect from this local address (default: the system picks). */
  localAddress?: string;
  /** The proxy handshake (or the TCP connect) must finish within this, ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Resolves with a connected TCP socket to the relay (through the proxy when one is set). */
export function openTcp(options: TcpDialOptions): Promise<net.Socket> {
  options.signal?.throwIfAborted();
  return options.proxy === undefined ? openDirect(options) : openThroughProxy(options, options.proxy);
}

/** `opening`, or E_CLOSED as soon as `signal` aborts; `cancel` then drops the half-open socket. */
function withAbort<T extends net.Socket>(opening: Promise<T>, signal: AbortSignal | undefined, cancel: () => void): Promise<T> {
  if (signal === undefined) return opening;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cancel();
      reject(new ChatError('E_CLOSED', 'connecting was cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    opening.then(
      (socket) => {
        signal.removeEventListener('abort', onAbort);
        // Cancelled meanwhile: the socket nobody will use is closed.
        if (signal.aborted) socket.destroy();
        else resolve(socket);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function openDirect(options: TcpDialOptions): Promise<net.Socket> {
  const server = formatServerAddress(options);
  const socket = net.connect({ host: options.host, port: options.port, ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}) });
  const opening = new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => fail(new ChatError('E_HANDSHAKE_TIMEOUT', `no TCP connection to ${server} within ${options.timeoutMs} ms`)), options.timeoutMs);
    // A cancelled dial destroys the socket: its timer must not keep the process up.
    socket.once('close', () => clearTimeout(timer));
    function fail(error: ChatError): void {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    }
    socket.once('error', (error: NodeJS.ErrnoException) => {
      fail(new ChatError('E_CONNECT', `could not connect to the relay: ${error.message}${connectHint(error.code, server)}`, { cause: error.code ?? '' }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
  return withAbort(opening, options.signal, () => socket.destroy());
}

/**
 * Opens a SOCKS5 CONNECT to the relay. With socks5h the proxy gets the relay's name; with
 * socks5 the name is resolved here first (the proxy then sees only an address).
 */
async function openThroughProxy(options: TcpDialOptions, proxy: ProxySettings): Promise<net.Socket> {
  let destinationHost = options.host;
  if (!proxy.remoteDns && net.isIP(options.host) === 0) {
    try {
      destinationHost = (await dns.lookup(options.host)).address;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      throw new ChatError('E_CONNECT', `could not resolve ${options.host}: ${(error as Error).message} (with socks5h:// the proxy resolves it instead)`, { cause: code });
    }
  }
  options.signal?.throwIfAborted();
  // Our own socket to the proxy, handed to the library: a cancelled dial can then drop it at
  // once (the library's own socket would linger until its timeout).
  const toProxy = net.connect({ host: proxy.host, port: proxy.port });
  toProxy.setNoDelay(true);
  const opening = SocksClient.createConnection({
    command: 'connect',
    destination: { host: destinationHost, port: options.port },
    proxy: { host: proxy.host, port: proxy.port, type: 5, ...(proxy.userId !== undefined ? { userId: proxy.userId, password: proxy.password } : {}) },
    timeout: options.timeoutMs,
    existing_socket: toProxy,
  }).then(
    (established) => established.socket,
    (error: unknown) => {
      throw proxyError(error, proxy, formatServerAddress(options));
    },
  );
  return withAbort(opening, options.signal, () => toProxy.destroy());
}

/** Library messages (socks/build/common/constants.js ERRORS) that mean the proxy answered. */
const AUTH_FAILED = /^(Socks5 Authentication failed|Received invalid Socks5 initial handshake \(no accepted authentication type\))/;
const REFUSED = /^Socks5 proxy rejected connection/;
const TIMED_OUT = /^Proxy connection timed out/;
const PROTOCOL = /^(Received invalid Socks5|Negotiation error|Socket closed)/;

/**
 * Turns a failure of the SOCKS5 library into a ChatError with a stable code and a hint:
 * E_PROXY_AUTH (the proxy refused the user name/password, or wants authentication),
 * E_PROXY_REFUSED (the proxy answered but would not reach the relay), E_PROXY (the proxy
 * could not be reached, timed out, or does not speak SOCKS5). Exported for tests.
 */
export function proxyError(error: unknown, proxy: ProxySettings, server: string): ChatError {
  if (error instanceof ChatError) return error;
  const message = (error as SocksClientError | undefined)?.message ?? String(error);
  const shown = formatProxy(proxy);
  const make = (code: 'E_PROXY' | 'E_PROXY_AUTH' | 'E_PROXY_REFUSED', what: string, hint: string): ChatError =>
    new ChatError(code, `${what} (${message}); ${hint}`, { proxy: shown, server, cause: message, hint });
  if (AUTH_FAILED.test(message)) {
    return make('E_PROXY_AUTH', `the proxy ${shown} refused the login`, 'check the user name and password in --proxy (socks5h://USER:PASS@HOST:PORT)');
  }
  if (REFUSED.test(message)) {
    return make(
      'E_PROXY_REFUSED',
      `the proxy ${shown} would not connect to the relay ${server}`,
      'the relay may be down or not allowed by the proxy; check --server (with socks5:// the name is resolved here, socks5h:// lets the proxy do it)',
    );
  }
  const reason = TIMED_OUT.test(message) ? 'timed out' : PROTOCOL.test(message) ? 'did not answer as a SOCKS5 proxy' : 'could not be reached';
  return make('E_PROXY', `the proxy ${shown} ${reason}`, 'check that the proxy runs and that --proxy (or SECURECHAT_PROXY) names it, e.g. socks5h://127.0.0.1:9050 for Tor');
}

/** What to check when a TCP connect to the relay fails, by the socket's error code ('' when none helps). */
export function connectHint(code: string | undefined, server: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return `; is a relay running there, and on that port? (relay serve prints the address it listens on; check --server ${server})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return `; is the address right and the port open on the relay's firewall? (--server ${server})`;
    default:
      return '';
  }
}
