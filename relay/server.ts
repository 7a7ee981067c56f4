import { TurnQueue } from './turn-queue.js';
import { createServer, type TLSSocket } from 'node:tls';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { ChatError } from '../shared/errors.js';
import { resolveLimits, type Limits } from '../shared/limits.js';
import { loadCertificateFiles, loadOrCreateCertificate } from './certs.js';
import { RelayConnection } from './connection.js';
import { ChatHost } from './host.js';
import { addressKey } from './login-limiter.js';
import { listenOn } from './listen.js';
import { PasswordHasher, type PasswordHasherOptions } from './passwords.js';
import { openBackends, type ClusterOptions } from './backends.js';
import { clientAddressOf, createProxyFront } from './proxy-front.js';
import { dialLink, listenForLinks, type LinkListener } from './relay-link.js';
import { type RawPipeRequest, refuseRawPipe, routeByFirstByte } from './raw-pipe-front.js';

export interface RelayOptions {
  /** Address to listen on: 127.0.0.1 by default; 0.0.0.0 (or ::) on a VPS. */
  host: string;
  /** TCP port; 0 picks a free one (the real port is in `RunningRelay.port`). */
  port: number;
  /** Folder for the LevelDB store and the generated certificate. */
  dataDir: string;
  /** Folder of room files' bytes (default `<dataDir>/files`); in a cluster, one folder all relays share. */
  filesDir?: string;
  /** Require a PROXY protocol v2 header from these proxies (addresses or CIDR blocks) and refuse everyone else. */
  trustedProxies?: readonly string[];
  /** Run as one relay of a cluster (Redis store and bus) instead of alone (LevelDB, in memory). */
  cluster?: ClusterOptions;
  /** PEM certificate and key (e.g. CA-issued); without them a self-signed one is made and kept. */
  certFile?: string;
  keyFile?: string;
  registration: 'open' | 'closed';
  limits?: Partial<Limits>;
  /** argon2id cost and worker count (tests use cheap parameters). */
  passwordHashing?: PasswordHasherOptions;
  /** One line per event worth an operator's attention; never message contents. */
  log?: (line: string) => void;
  /**
   * Called with the client address of every accepted TLS connection (chat, relay pipe, room
   * file), the one the per-address cap counts: for tests (a client behind a SOCKS5 proxy
   * must appear as the proxy) and metrics.
   */
  onConnection?: (address: string) => void;
}

export interface RunningRelay {
  host: string;
  port: number;
  /** 'sha256:' + lowercase hex of the certificate's DER (the one presented now). */
  readonly fingerprint: string;
  /** Open connections, logged in or not. */
  readonly connectionCount: number;
  /**
   * Tells clients (`farewell`, default: the relay is shutting down and they will reconnect),
   * stops accepting, waits for stored messages, closes LevelDB. `reason` is for the log.
   */
  close(reason?: string, farewell?: string): Promise<void>;
  /**
   * Reads `--cert/--key` again (a renewed CA certificate) and presents them to every new
   * connection; open ones keep theirs. Resolves with the new fingerprint; a bad pair is
   * refused (E_USAGE...) and the old one stays. Without `--cert/--key` there is nothing to reload.
   */
  reloadCertificate(): Promise<string>;
}

const SERVER_NAME = 'securechat-relay/0.1';
/** Open connections are given this long to say goodbye at shutdown. */
const SHUTDOWN_GRACE_MS = 2_000;

export async function startRelay(options: RelayOptions): Promise<RunningRelay> {
  const limits = resolveLimits(options.limits);
  const log = options.log ?? (() => {});
  let certificate =
    options.certFile && options.keyFile
      ? await loadCertificateFiles(options.certFile, options.keyFile)
      : await loadOrCreateCertificate(options.dataDir);
  const { store, bus, limiter } = await openBackends(options.dataDir, options.cluster, limits, log);
  const hasher = new PasswordHasher(options.passwordHashing);
  // One queue for the costly first steps of new connections: TLS handshakes and logins.
  const arrivals = new TurnQueue();
  const host = new ChatHost({
    arrivals,
    store,
    bus,
    hasher,
    limiter,
    limits,
    registration: options.registration,
    serverName: SERVER_NAME,
    filesDir: options.filesDir ?? join(resolve(options.dataDir), 'files'),
    dialRelay: async (relayId, side) => {
      const address = await bus.linkAddress(relayId);
      if (!address) throw new ChatError('E_RELAY_LINK', undefined, { relayId, why: 'it has not said where it takes relay links' });
      return dialLink(address, certificate, bus.relayId, side, limits.relayLinkTimeoutMs);
    },
    log,
  });
  let links: LinkListener | undefined;
  /** The bus, login limiter, hasher and store, the store last (the others may still write to it). */
  const closeBackends = async (): Promise<void> => {
    await bus.close();
    await limiter.close();
    await hasher.close();
    await store.close();
  };
  try {
    await host.init();
    // Loads the room file index and deletes expired files; an hourly timer repeats the sweep.
    await host.side.files.init();
    if (options.cluster) {
      const link = options.cluster.link ?? {};
      links = await listenForLinks({
        host: link.host ?? options.host,
        port: link.port ?? 0,
        advertise: link.advertise,
        certificate,
        timeoutMs: limits.relayLinkTimeoutMs,
        accept: (side, fromRelay) => host.side.acceptRelayLink(side, fromRelay),
        log,
      });
      await bus.advertiseLink(links.address);
      log(`relay links on ${links.address}`);
    }
  } catch (error) {
    await links?.close();
    await closeBackends();
    throw error;
  }

  const connections = new Set<RelayConnection>();
  const perAddress = new Map<string, number>();
  const hooks = {
    onRequest: (connection: RelayConnection, message: Parameters<ChatHost['handle']>[1]) => host.handle(connection, message),
    onClosed: (connection: RelayConnection) => {
      connections.delete(connection);
      const left = (perAddress.get(connection.address) ?? 1) - 1;
      if (left > 0) perAddress.set(connection.address, left);
      else perAddress.delete(connection.address);
      host.disconnected(connection);
    },
    log,
  };

  const server = createServer({
    key: certificate.key,
    cert: certificate.cert,
    minVersion: 'TLSv1.3',
    handshakeTimeout: limits.handshakeTimeoutMs,
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const address = clientAddressOf(socket) ?? 'unknown';
    options.onConnection?.(address);
    const count = perAddress.get(address) ?? 0;
    const connection = new RelayConnection(socket, limits, hooks);
    perAddress.set(address, count + 1);
    connections.add(connection);
    if (count >= limits.connectionsPerAddress) {
      connection.close('E_RATE', `more than ${limits.connectionsPerAddress} connections from one address`);
      return;
    }
    bus.take(`connect:${addressKey(address)}`, limits.connectionRatePerAddress, limits.connectionBurstPerAddress).then(
      (waitMs) => {
        if (waitMs > 0) connection.close('E_RATE', `too many new connections from one address; try again in ${Math.ceil(waitMs / 1000)} s`);
      },
      (error: unknown) => log(`cluster: connection rate check failed: ${(error as Error)?.message ?? error}`),
    );
  });
  // Failed handshakes (TLS 1.2 clients, scanners, timeouts) cost one line at most.
  server.on('tlsClientError', (error: Error & { code?: string }, socket) => {
    log(`TLS handshake from ${clientAddressOf(socket) ?? 'unknown'} failed: ${error.code ?? error.message}`);
    socket.destroy();
  });

  // Raw relay pipes share the port: they count against the same per-address cap and rate.
  const rawPipe = (request: RawPipeRequest): void => {
    const { socket } = request;
    const address = clientAddressOf(socket) ?? 'unknown';
    options.onConnection?.(address);
    const count = perAddress.get(address) ?? 0;
    perAddress.set(address, count + 1);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    });
    if (count >= limits.connectionsPerAddress) return refuseRawPipe(socket, 'E_RATE');
    bus.take(`connect:${addressKey(address)}`, limits.connectionRatePerAddress, limits.connectionBurstPerAddress).then(
      (waitMs) => (waitMs > 0 ? refuseRawPipe(socket, 'E_RATE') : host.side.joinRawPipe(request)),
      (error: unknown) => {
        log(`cluster: connection rate check failed: ${(error as Error)?.message ?? error}`);
        refuseRawPipe(socket, 'E_STORE_UNAVAILABLE');
      },
    );
  };
  // Every connection's first byte says what it is: TLS (chat, TLS pipes, room files) or a raw pipe.
  const front = createTcpServer((socket: Socket) => routeByFirstByte(socket, { tlsServer: server, arrivals, onRawPipe: rawPipe, timeoutMs: limits.handshakeTimeoutMs, log }));
  // Behind HAProxy the relay listens through the PROXY protocol front (only trusted proxies,
  // a header first); TLS still ends here, so the proxy sees ciphertext only.
  const listener = options.trustedProxies
    ? createProxyFront(front, { trustedProxies: options.trustedProxies, headerTimeoutMs: limits.proxyHeaderTimeoutMs, maxHeaderBytes: limits.proxyHeaderMaxBytes, log })
    : front;
  try {
    await listenOn(listener, options.port, options.host);
  } catch (error) {
    // Port taken or address unavailable: release the data folder so a retry can open it.
    await links?.close();
    await closeBackends();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ChatError('E_ADDRESS_IN_USE', `${options.host}:${options.port} is already in use (another relay?); pick another --port`);
    throw error;
  }
  listener.on('error', (error) => log(`listener: ${error.message}`));

  const sweepEveryMs = Math.max(50, Math.min(1_000, Math.floor(limits.idleTimeoutMs / 4)));
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const connection of connections) connection.checkDeadlines(now);
  }, sweepEveryMs);
  sweep.unref();

  const address = listener.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  const close = (reason = 'shutdown', farewell = 'the relay is shutting down; your client will reconnect'): Promise<void> => {
    closing ??= (async () => {
      log(`relay closing (${reason})`);
      clearInterval(sweep);
      const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const connection of connections) connection.close('E_SHUTDOWN', farewell);
      host.closePipes();
      await links?.close();
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while (connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await stopped;
      await host.flush();
      await closeBackends();
    })();
    return closing;
  };

  return {
    host: address.address,
    port: address.port,
    get fingerprint() {
      return certificate.fingerprint;
    },
    get connectionCount() {
      return connections.size;
    },
    close,
    async reloadCertificate() {
      if (!options.certFile || !options.keyFile) throw new ChatError('E_USAGE', 'this relay made its own certificate; there is nothing to reload (reload is for --cert/--key)');
      const renewed = await loadCertificateFiles(options.certFile, options.keyFile);
      server.setSecureContext({ key: renewed.key, cert: renewed.cert, minVersion: 'TLSv1.3' });
      certificate = renewed;
      log(`certificate reloaded from ${options.certFile}: ${renewed.fingerprint}`);
      return renewed.fingerprint;
    },
  };
}
