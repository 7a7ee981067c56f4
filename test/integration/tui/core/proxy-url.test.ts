/**
 * The --proxy setting: URL parsing (pure), how it is shown, how library failures map to
 * codes, and the CLI taking it from --proxy or SECURECHAT_PROXY (a real process).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, readdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../shared/errors.js';
import { ChatClient } from '../../../../tui/core/client.js';
import { proxyError } from '../../../../tui/core/dial.js';
import { formatProxy, parseProxyUrl, proxyFromCli } from '../../../../tui/core/proxy.js';
import { plainSuite } from '../../../helpers/core-helpers.js';
import { failure } from '../../../helpers/errors.js';
import { tempDir } from '../../../helpers/temp.js';

const CLI = fileURLToPath(new URL('../../../../tui/cli.js', import.meta.url));
const it = plainSuite(suite('--proxy: parsing, showing, error codes, CLI'));

function usageError(input: string): ChatError {
  try {
    parseProxyUrl(input);
  } catch (error) {
    assert.instance(error, ChatError);
    assert.is((error as ChatError).code, 'E_USAGE', input);
    return error as ChatError;
  }
  throw new Error(`"${input}" was accepted`);
}

it('socks5h and socks5, with and without credentials, IPv6, a bare HOST:PORT (socks5h)', async () => {
  assert.equal(parseProxyUrl('socks5h://127.0.0.1:9050'), { host: '127.0.0.1', port: 9050, remoteDns: true });
  assert.equal(parseProxyUrl('SOCKS5://Proxy.Example:1080'), { host: 'proxy.example', port: 1080, remoteDns: false });
  assert.equal(parseProxyUrl('socks5h://[::1]:1080/'), { host: '::1', port: 1080, remoteDns: true });
  assert.equal(parseProxyUrl('localhost:9050'), { host: 'localhost', port: 9050, remoteDns: true });
  assert.equal(parseProxyUrl('  socks5://me%40corp:p%3Ass@10.0.0.1:1080 '), {
    host: '10.0.0.1',
    port: 1080,
    remoteDns: false,
    userId: 'me@corp',
    password: 'p:ss',
  });
});

it('refuses other schemes, a missing or bad port, paths, queries, bad credentials; never echoes a password', async () => {
  for (const input of [
    '',
    'http://h:8080',
    'socks4://h:1080',
    'socks://h:1080',
    'socks5://h',
    'socks5h://h:0',
    'socks5h://h:65536',
    'socks5h://h:port',
    'socks5h://:1080',
    'socks5h://h:1080/path',
    'socks5h://h:1080?x=1',
    'socks5h://h:1080#f',
    'socks5h://[nothex]:1080',
    'socks5h://user@h:1080',
    `socks5h://u:${'x'.repeat(256)}@h:1080`,
    'socks5h://u:%zz@h:1080',
  ]) {
    usageError(input);
  }
  assert.not.match(usageError('http://u:hunter22@h:1').message, 'hunter22');
  assert.not.match(usageError('socks5h://u:hunter22@h').message, 'hunter22');
});

it('formatProxy keeps the user and drops the password; proxyFromCli: the flag wins, the env var is read, "" turns it off', async () => {
  assert.is(formatProxy(parseProxyUrl('socks5://me%40corp:secret@[::1]:1080')), 'socks5://me%40corp@[::1]:1080');
  assert.is(formatProxy(parseProxyUrl('h:9050')), 'socks5h://h:9050');
  const env = { SECURECHAT_PROXY: 'socks5h://env:1' };
  assert.is(proxyFromCli(undefined, env)?.host, 'env');
  assert.is(proxyFromCli('socks5h://flag:2', env)?.host, 'flag');
  assert.is(proxyFromCli('', env), undefined);
  assert.is(proxyFromCli(undefined, {}), undefined);
});

it('library failures map to E_PROXY_AUTH, E_PROXY_REFUSED and E_PROXY, with a hint', async () => {
  const proxy = parseProxyUrl('socks5h://u:pw@127.0.0.1:1080');
  const cases: Array<[string, string]> = [
    ['Socks5 Authentication failed', 'E_PROXY_AUTH'],
    ['Received invalid Socks5 initial handshake (no accepted authentication type)', 'E_PROXY_AUTH'],
    ['Socks5 proxy rejected connection - ConnectionRefused', 'E_PROXY_REFUSED'],
    ['Socks5 proxy rejected connection - HostUnreachable', 'E_PROXY_REFUSED'],
    ['Proxy connection timed out', 'E_PROXY'],
    ['connect ECONNREFUSED 127.0.0.1:1080', 'E_PROXY'],
    ['Received invalid Socks5 initial handshake (invalid socks version)', 'E_PROXY'],
    ['Socket closed', 'E_PROXY'],
  ];
  for (const [message, code] of cases) {
    const error = proxyError(new Error(message), proxy, 'relay.example:7443');
    assert.is(error.code, code, message);
    assert.type(error.details.hint, 'string');
    assert.is(error.details.proxy, 'socks5h://u@127.0.0.1:1080');
    assert.not.match(error.message, ':pw@');
  }
});

/** Runs `securechat --json ...` to the end; resolves with its exit status and the JSON events it printed. */
async function runCli(args: string[], env: Record<string, string>): Promise<{ status: number | null; events: Array<Record<string, unknown>> }> {
  const dir = await tempDir('securechat-proxy-cli-');
  try {
    const proc = spawn(process.execPath, [CLI, '--json', ...args], {
      env: {
        ...process.env,
        SECURECHAT_PROXY: '',
        SECURECHAT_PASSWORD: 'correct horse battery',
        SECURECHAT_CONFIG_DIR: path.join(dir.path, 'config'),
        SECURECHAT_DATA_DIR: path.join(dir.path, 'data'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.stderr.resume();
    const [status] = (await once(proc, 'exit')) as [number | null];
    const events = out
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    return { status, events };
  } finally {
    await dir.remove();
  }
}

async function closedLoopbackPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

it('CLI: a bad --proxy is E_USAGE (status 2); SECURECHAT_PROXY is used, and an unreachable proxy is E_PROXY (status 1)', async () => {
  const bad = await runCli(['--user', 'ann', '--proxy', 'http://127.0.0.1:8080'], {});
  assert.is(bad.status, 2);
  assert.is(bad.events[0]?.code, 'E_USAGE');

  const port = await closedLoopbackPort();
  const unreachable = await runCli(['--user', 'ann', '--server', '127.0.0.1:7443', '--tofu'], { SECURECHAT_PROXY: `socks5h://127.0.0.1:${port}` });
  assert.is(unreachable.status, 1);
  const error = unreachable.events.find((e) => e.type === 'error');
  assert.is(error?.code, 'E_PROXY', JSON.stringify(unreachable.events));
});

/** A "proxy" that accepts TCP connections and never answers (a stuck Tor circuit, a black hole). */
async function silentProxy(): Promise<{ port: number; reached(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  let connections = 0;
  server.on('connection', () => (connections += 1));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Resolves on the next connection the proxy accepts. */
    reached: async () => {
      const before = connections;
      while (connections === before) await once(server, 'connection');
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

it('a proxy that never answers: E_PROXY after proxyConnectTimeoutMs; close() while waiting ends the attempt with E_CLOSED', async () => {
  const silent = await silentProxy();
  const dir = await tempDir('securechat-proxy-silent-');
  try {
    const options = {
      host: '127.0.0.1',
      port: 7443,
      user: 'ann',
      password: 'correct horse battery',
      trust: { tofu: true },
      configDir: path.join(dir.path, 'config'),
      dataDir: path.join(dir.path, 'data'),
      proxy: `socks5h://127.0.0.1:${silent.port}`,
      limits: { proxyConnectTimeoutMs: 300 },
    };
    const timedOut = new ChatClient(options);
    assert.is(await failure(timedOut.connect()), 'E_PROXY');
    await timedOut.close();

    const closed = new ChatClient({ ...options, limits: { proxyConnectTimeoutMs: 60_000 } });
    const reached = silent.reached();
    const connecting = failure(closed.connect());
    await reached;
    await closed.close();
    assert.is(await connecting, 'E_CLOSED');
  } finally {
    await silent.close();
    await dir.remove();
  }
});

/** Every .ts file under `dir`, recursively. */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => path.join(e.parentPath, e.name));
}

it('the proxy cannot be bypassed: the client opens sockets only in dial.ts (relay) and data-connections.ts (peers, off with a proxy)', async () => {
  const root = fileURLToPath(new URL('../../../../..', import.meta.url));
  const found: string[] = [];
  const dialling = /(?<![\w.])(net\.connect|net\.createConnection|tls\.connect|SocksClient\.create\w*|dialRelay)\(/g;
  for (const file of await sources(path.join(root, 'tui'))) {
    const text = await readFile(file, 'utf8');
    for (const match of text.matchAll(dialling)) {
      const line = text.slice(0, match.index).split('\n').length;
      const code = text.split('\n')[line - 1].trim();
      // Comments, and method definitions such as data-connections.ts's `dialRelay(id)` (it asks the link, i.e. the client).
      if (code.startsWith('*') || code.startsWith('//') || /^(private\s+)?\w+\([^)]*\)\s*:\s*[\w<>| ]+\{$/.test(code)) continue;
      found.push(`${path.relative(root, file)} ${match[1]}${code.startsWith('export') ? ' (definition)' : ''}`);
    }
  }
  assert.equal(found.sort(), [
    // The relay: one dial (direct or SOCKS5), TLS over the socket it returns, one caller in the client.
    'tui/core/client.ts dialRelay',
    'tui/core/connection.ts dialRelay (definition)',
    'tui/core/connection.ts tls.connect',
    'tui/core/dial.ts SocksClient.createConnection',
    // dial.ts: straight to the relay, or to the proxy (the socket the SOCKS5 library then uses).
    'tui/core/dial.ts net.connect',
    'tui/core/dial.ts net.connect',
    // Direct transfer connections to the peer: never made with a proxy (direct is forced off).
    'tui/core/transfer/data-connections.ts net.connect',
    // The peer's TLS over a stream that is already open (relay pipe or direct socket).
    'tui/core/transfer/secure-channel.ts tls.connect',
  ]);
});

it.run();
