import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../shared/errors.js';
import { createSelfSignedCertificate, type RelayCertificate } from '../../../relay/certs.js';
import { clientAddressOf, clientEndpointOf, createProxyFront, parseTrustedProxies, type ClientEndpoint, type FrontPeer, type ProxyFrontOptions } from '../../../relay/proxy-front.js';
import { localHeader, proxyHeaderFor, rawHeader } from '../../helpers/proxy-v2.js';
import { makeTempDir } from '../../helpers/temp.js';

const HEADER_TIMEOUT_MS = 250;

let certificate: RelayCertificate;
const cleanups: Array<() => Promise<void> | void> = [];

test.before(async () => {
  certificate = await createSelfSignedCertificate();
});

test.after.each(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A queue of events that tests await one at a time. */
class Events<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(item: T) => void> = [];
  readonly seen: T[] = [];
  push(item: T): void {
    this.seen.push(item);
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  }
  next(): Promise<T> {
    const item = this.items.shift();
    return item !== undefined ? Promise.resolve(item) : new Promise((resolve) => this.waiters.push(resolve));
  }
}

interface SecureSeen {
  address: string | undefined;
  endpoint: ClientEndpoint | undefined;
}

/**
 * A tls.Server that answers each client with the address it sees, behind a proxy front
 * listening on 127.0.0.1:0 that trusts 127.0.0.1 only (unless told otherwise).
 */
async function startFront(options: Partial<ProxyFrontOptions> = {}) {
  // A short handshake timeout turns a lost ClientHello into a failure rather than a hang.
  const tlsServer = createTlsServer({ key: certificate.key, cert: certificate.cert, minVersion: 'TLSv1.3', handshakeTimeout: 2_000 });
  const secure = new Events<SecureSeen>();
  const refused = new Events<{ error: ChatError; peer: FrontPeer }>();
  const healthChecks = new Events<FrontPeer>();
  const logLines: string[] = [];
  let tlsConnections = 0;
  tlsServer.on('connection', () => tlsConnections++);
  tlsServer.on('tlsClientError', (_error, socket) => socket.destroy()); // as the relay does
  tlsServer.on('secureConnection', (socket: TLSSocket) => {
    const seen = { address: clientAddressOf(socket), endpoint: clientEndpointOf(socket) };
    secure.push(seen);
    socket.end(`you are ${seen.address}:${seen.endpoint?.port}`);
  });
  const front = createProxyFront(tlsServer, {
    trustedProxies: ['127.0.0.1'],
    headerTimeoutMs: HEADER_TIMEOUT_MS,
    log: (line) => logLines.push(line),
    onRefused: (error, peer) => refused.push({ error, peer }),
    onHealthCheck: (peer) => healthChecks.push(peer),
    ...options,
  });
  const port = await listen(front);
  cleanups.push(() => closeServer(front));
  return { front, port, secure, refused, healthChecks, logLines, tlsConnections: () => tlsConnections };
}

async function listen(server: Server, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = once(server, 'close');
  server.close();
  await closed;
}

/** A raw TCP connection from `localAddress`, tracked for clean-up, once connected. */
async function rawConnect(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  const socket = rawSocket(port, localAddress);
  await once(socket, 'connect');
  return socket;
}

/** The same without waiting for the connect: a refused one may be reset before it is seen. */
function rawSocket(port: number, localAddress: string): Socket {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {}); // refusals reset the connection; the tests look at 'close'
  cleanups.push(() => void socket.destroy());
  return socket;
}

/** Resolves on 'close' whatever came before it (`once` would reject on a reset's 'error'). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed && !socket.readable ? resolve() : socket.once('close', () => resolve())));
}

/** Runs TLS over `socket` and returns what the server answered. */
async function tlsAnswer(socket: Socket): Promise<string> {
  const tls = tlsConnect({ socket, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  cleanups.push(() => void tls.destroy());
  let text = '';
  tls.setEncoding('utf8');
  tls.on('data', (chunk: string) => (text += chunk));
  await new Promise<void>((resolve, reject) => {
    tls.once('end', resolve);
    tls.once('error', reject);
    tls.once('close', () => reject(new Error('the relay closed the connection without answering')));
  });
  return text;
}

/**
 * A minimal PROXY v2 sender, as HAProxy behaves: it accepts the client, connects to the relay
 * from 127.0.0.1 and writes the header and the client's first bytes (the ClientHello) in one
 * write, so the front receives them in the same chunk and must hand the leftover to TLS.
 */
async function startMiniProxy(frontPort: number): Promise<number> {
  const proxy = createNetServer((client) => {
    client.on('error', () => {});
    const upstream = netConnect({ port: frontPort, host: '127.0.0.1', localAddress: '127.0.0.1' });
    upstream.on('error', () => {});
    // A proxy closes a side once the other is gone (piping alone may leave one half paused).
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.once('data', (first: Buffer) => {
      upstream.write(Buffer.concat([proxyHeaderFor(client.remoteAddress!, client.remotePort!, client.localAddress!, client.localPort!), first]));
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  const port = await listen(proxy);
  cleanups.push(() => closeServer(proxy));
  return port;
}

test('a PROXY header and the ClientHello in one chunk: TLS completes and the relay sees the real client', async () => {
  const relay = await startFront();
  const proxyPort = await startMiniProxy(relay.port);
  const client = await rawConnect(proxyPort, '127.0.0.5');
  const localPort = client.localPort;
  assert.is(await tlsAnswer(client), `you are 127.0.0.5:${localPort}`);
  const [seen] = relay.secure.seen;
  assert.is(seen.address, '127.0.0.5');
  assert.equal(seen.endpoint, { address: '127.0.0.5', port: localPort, forwarded: true });
  assert.equal(relay.logLines, []);
});

test('a header written on its own, then TLS on the same socket; an IPv6 client address', async () => {
  const relay = await startFront();
  const socket = await rawConnect(relay.port);
  socket.write(proxyHeaderFor('2001:db8::42', 50123, '2001:db8::1', 7443));
  assert.is(await tlsAnswer(socket), 'you are 2001:db8::42:50123');
  assert.equal(relay.secure.seen[0].endpoint, { address: '2001:db8::42', port: 50123, forwarded: true });
});

test('PROXY with AF_UNSPEC: the proxy\'s own address is used, marked not forwarded', async () => {
  const relay = await startFront();
  const socket = await rawConnect(relay.port);
  socket.write(rawHeader({ familyAndTransport: 0x00 }));
  const localPort = socket.localPort;
  assert.is(await tlsAnswer(socket), `you are 127.0.0.1:${localPort}`);
  assert.equal(relay.secure.seen[0].endpoint, { address: '127.0.0.1', port: localPort, forwarded: false });
});

test('no header: the connection is cut at the deadline', async () => {
  const relay = await startFront();
  const started = Date.now();
  const socket = await rawConnect(relay.port);
  const localPort = socket.localPort;
  const [{ error, peer }] = await Promise.all([relay.refused.next(), closed(socket)]);
  assert.is(error.code, 'E_PROXY_TIMEOUT');
  assert.is(error.details.receivedBytes, 0);
  assert.equal(peer, { address: '127.0.0.1', port: localPort });
  assert.ok(Date.now() - started >= HEADER_TIMEOUT_MS - 20, `cut after ${Date.now() - started} ms`);
  assert.is(relay.logLines.length, 1);
  assert.is(relay.tlsConnections(), 0);
});

test('half a header, then silence: cut at the deadline too', async () => {
  const relay = await startFront();
  const socket = await rawConnect(relay.port);
  socket.write(proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2).subarray(0, 20));
  const [{ error }] = await Promise.all([relay.refused.next(), closed(socket)]);
  assert.is(error.code, 'E_PROXY_TIMEOUT');
  assert.is(error.details.receivedBytes, 20);
});

test('a source that is not a trusted proxy is reset at once, before any byte is read, with one log line', async () => {
  const relay = await startFront();
  const socket = rawSocket(relay.port, '127.0.0.2');
  socket.write(proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2));
  const [{ error, peer }] = await Promise.all([relay.refused.next(), closed(socket)]);
  assert.is(error.code, 'E_PROXY_UNTRUSTED');
  assert.is(peer.address, '127.0.0.2');
  assert.is(relay.logLines.length, 1);
  assert.match(relay.logLines[0], /127\.0\.0\.2/);
  assert.is(relay.tlsConnections(), 0);
});

test('garbage, a TLS ClientHello without header and a v1 header are refused with their fault', async () => {
  const relay = await startFront();
  const garbage = await rawConnect(relay.port);
  garbage.write('GET / HTTP/1.1\r\n\r\n');
  const first = await relay.refused.next();
  assert.is(first.error.code, 'E_PROXY_HEADER');
  assert.is(first.error.details.fault, 'bad-signature');

  const direct = tlsConnect({ port: relay.port, host: '127.0.0.1', rejectUnauthorized: false });
  direct.on('error', () => {});
  cleanups.push(() => void direct.destroy());
  const second = await relay.refused.next();
  assert.is(second.error.details.fault, 'bad-signature');

  const v1 = await rawConnect(relay.port);
  v1.write('PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n');
  const third = await relay.refused.next();
  assert.is(third.error.details.fault, 'v1');
  assert.is(relay.tlsConnections(), 0);
});

test('a header over the size cap is refused from its first 16 bytes', async () => {
  const relay = await startFront({ maxHeaderBytes: 64 });
  const socket = await rawConnect(relay.port);
  socket.write(rawHeader({ familyAndTransport: 0x11, length: 4096 }));
  const { error } = await relay.refused.next();
  assert.is(error.details.fault, 'too-large');
});

test('a connection that ends inside the header is refused as truncated', async () => {
  const relay = await startFront();
  const socket = await rawConnect(relay.port);
  socket.end(proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2).subarray(0, 10));
  const { error } = await relay.refused.next();
  assert.is(error.code, 'E_PROXY_HEADER');
  assert.is(error.details.fault, 'truncated');
});

test('LOCAL (health check) is closed cleanly, and so is a connect that sends nothing; no log line', async () => {
  const relay = await startFront();
  const local = await rawConnect(relay.port);
  local.write(localHeader());
  local.resume();
  const [peer] = await Promise.all([relay.healthChecks.next(), once(local, 'end')]);
  assert.equal(peer, { address: '127.0.0.1', port: local.localPort });

  const plain = await rawConnect(relay.port);
  plain.resume();
  plain.end();
  await relay.healthChecks.next();
  assert.equal(relay.logLines, []);
  assert.equal(relay.refused.seen, []);
  assert.is(relay.tlsConnections(), 0);
});

test('trusted proxies given as CIDR blocks, several in one comma list', async () => {
  const relay = await startFront({ trustedProxies: ['10.0.0.0/8, 127.0.0.0/30'] });
  const ok = await rawConnect(relay.port, '127.0.0.3');
  ok.write(proxyHeaderFor('198.51.100.9', 9, '127.0.0.1', 1));
  assert.is(await tlsAnswer(ok), 'you are 198.51.100.9:9');
  assert.is(relay.secure.seen[0].address, '198.51.100.9');
  const outside = rawSocket(relay.port, '127.0.0.4');
  const [{ error }] = await Promise.all([relay.refused.next(), closed(outside)]);
  assert.is(error.code, 'E_PROXY_UNTRUSTED');
});

test('a dual-stack listener sees the proxy as ::ffff:127.0.0.1, which matches a trusted 127.0.0.1', async () => {
  const relay = await startFront();
  // Listen again on all addresses (IPv4 peers then appear IPv4-mapped).
  await closeServer(relay.front);
  const port = await listen(relay.front, '::');
  const socket = await rawConnect(port);
  socket.write(proxyHeaderFor('192.0.2.77', 7, '192.0.2.1', 1));
  assert.is(await tlsAnswer(socket), 'you are 192.0.2.77:7');
  assert.equal(relay.refused.seen, []);
});

test('parseTrustedProxies: addresses, CIDR, comma lists; invalid or empty lists are E_USAGE', () => {
  const trusted = parseTrustedProxies(['127.0.0.1', '::ffff:10.1.2.3,fd00::/8', ' 192.168.0.0/16 ', '2001:DB8::1']);
  assert.equal(trusted.entries, ['127.0.0.1', '10.1.2.3', 'fd00::/8', '192.168.0.0/16', '2001:db8::1']);
  for (const yes of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.2.3', 'fd12::5', '192.168.200.1', '2001:db8:0::1']) assert.ok(trusted.has(yes), yes);
  for (const no of ['127.0.0.2', '10.1.2.4', 'fe80::1', '', 'localhost', '2001:db8::2']) assert.not.ok(trusted.has(no), no);
  for (const bad of [[], [''], ['localhost'], ['10.0.0.0/33'], ['::/129'], ['10.0.0.0/8/1'], ['10.0.0.0/x'], ['1.2.3']]) {
    try {
      parseTrustedProxies(bad);
      assert.unreachable(JSON.stringify(bad));
    } catch (error) {
      assert.instance(error, ChatError);
      assert.is((error as ChatError).code, 'E_USAGE', JSON.stringify(bad));
    }
  }
});

test('clientAddressOf falls back to remoteAddress for sockets that did not come through a front', async () => {
  const server = createNetServer();
  const port = await listen(server);
  cleanups.push(() => closeServer(server));
  const accepted = once(server, 'connection');
  await rawConnect(port, '127.0.0.6');
  const [socket] = (await accepted) as [Socket];
  assert.is(clientAddressOf(socket), '127.0.0.6');
  assert.is(clientEndpointOf(socket), undefined);
});

const haproxyPath = ['/usr/sbin/haproxy', ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'haproxy'))].find((path) => existsSync(path));
if (haproxyPath === undefined) console.log('relay-proxy-front: haproxy not installed, the real-HAProxy test is skipped (apt-get install haproxy)');

(haproxyPath ? test : test.skip)('a real HAProxy (mode tcp, send-proxy-v2, LOCAL health checks every 200 ms) in front: the relay sees the client address, checks cost no log line', async () => {
  const relay = await startFront();
  const haproxyPort = await freePort();
  const dir = await makeTempDir('securechat-haproxy-');
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'haproxy.cfg');
  await writeFile(
    config,
    [
      'global',
      '    maxconn 64',
      'defaults',
      '    mode tcp',
      '    timeout connect 2s',
      '    timeout client 10s',
      '    timeout server 10s',
      'frontend chat',
      `    bind 127.0.0.1:${haproxyPort}`,
      '    default_backend relays',
      'backend relays',
      `    server relay1 127.0.0.1:${relay.port} send-proxy-v2 check inter 200ms`,
      '',
    ].join('\n'),
  );
  const haproxy = spawn(haproxyPath!, ['-db', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  haproxy.stderr!.on('data', (chunk) => (stderr += chunk));
  cleanups.push(() => stopByPid(haproxy));
  const exited = once(haproxy, 'exit').then(([code]) => {
    throw new Error(`haproxy exited (${code}): ${stderr}`);
  });
  await Promise.race([listening(haproxyPort), exited]);

  const client = await rawConnect(haproxyPort, '127.0.0.7');
  const localPort = client.localPort;
  assert.is(await tlsAnswer(client), `you are 127.0.0.7:${localPort}`);
  assert.equal(relay.secure.seen[0].endpoint, { address: '127.0.0.7', port: localPort, forwarded: true });
  assert.equal(relay.refused.seen, [], relay.logLines.join('\n'));
});

/** Resolves once something accepts TCP connections on 127.0.0.1:port (HAProxy has bound). */
async function listening(port: number, deadlineMs = 5_000): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  for (;;) {
    const probe = netConnect({ port, host: '127.0.0.1' });
    try {
      await once(probe, 'connect');
      probe.destroy();
      return;
    } catch (error) {
      probe.destroy();
      if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > giveUpAt) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

async function freePort(): Promise<number> {
  const probe = createNetServer();
  const port = await listen(probe);
  await closeServer(probe);
  return port;
}

async function stopByPid(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  await exited;
}

test.run();
