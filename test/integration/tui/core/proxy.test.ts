/**
 * A ChatClient through a real SOCKS5 proxy (Debian's microsocks, started by the test on a
 * free loopback port, its outgoing side bound to 127.0.0.3) to a real relay: every
 * connection of the proxied client reaches the relay from the proxy's address, file
 * transfers go through the relay pipe with no direct candidates offered, and proxy failures
 * come back with stable codes. Skipped, with the reason printed, where microsocks is missing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningRelay } from '../../../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../../../tui/core/client.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { sendAndAccept, testClientOptions } from '../../../helpers/clients.js';
import { failure } from '../../../helpers/errors.js';
import { Recorder } from '../../../helpers/recorder.js';
import { testRelay } from '../../../helpers/relay.js';
import { tempDir } from '../../../helpers/temp.js';
import { recordSignals } from '../../../helpers/transfer-signals.js';
import { microsocksMissing, startMicrosocks, type RunningSocksProxy } from '../../../helpers/socks-proxy.js';
import { sha256OfFile, loopbackOptions, writeTestFile } from '../../../helpers/transfer-helpers.js';

const WAIT_MS = 60_000;
/** microsocks binds its outgoing side here (-b): the relay must see this, not 127.0.0.1. */
const PROXY_OUT = '127.0.0.3';

interface Ctx {
  dir: { path: string; remove: () => Promise<void> };
  relay: RunningRelay;
  /** Client address of every connection the relay accepted, in order. */
  seen: string[];
  relayLog: string[];
  proxies: RunningSocksProxy[];
  clients: ChatClient[];
}

const spec = suite<Ctx>('ChatClient through a SOCKS5 proxy (microsocks) to a real relay');
const missing = await microsocksMissing();
if (missing !== null) console.log(`core-proxy: skipped: ${missing}`);

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  if (missing !== null) spec.skip(name, () => undefined);
  else spec(name, plainErrors(handler));
}

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-core-proxy-');
  ctx.seen = [];
  ctx.relayLog = [];
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), {
    onConnection: (address) => ctx.seen.push(address),
    log: (line) => ctx.relayLog.push(line),
  });
  ctx.proxies = [];
  ctx.clients = [];
});

spec.after.each(async (ctx) => {
  await Promise.all(ctx.clients.map((c) => c.close().catch(() => {})));
  await Promise.all(ctx.proxies.map((p) => p.stop()));
  await ctx.relay?.close().catch((e) => console.error('closing the relay failed:', e));
  await ctx.dir.remove().catch(() => {});
});

function clientFor(ctx: Ctx, user: string, options: Partial<ChatClientOptions> = {}): { client: ChatClient; rec: Recorder; downloads: string } {
  const downloads = path.join(ctx.dir.path, `${user}-downloads`);
  const client = new ChatClient({
    ...testClientOptions(ctx, user),
    ...options,
    transfers: {
      downloadDir: downloads,
      // Direct allowed and loopback candidates on: only the proxy may turn them off.
      transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 300, RETRY_DELAY_MS: 200 } },
    },
  });
  ctx.clients.push(client);
  return { client, rec: new Recorder(client, WAIT_MS), downloads };
}

it('logs in, chats, sends a file (relay pipe, no direct candidates), uploads a room file and reconnects, all from the proxy address', async (ctx) => {
  const proxy = await startMicrosocks({ bindAddress: PROXY_OUT });
  ctx.proxies.push(proxy);
  const ann = clientFor(ctx, 'ann', { proxy: `socks5h://127.0.0.1:${proxy.port}` });
  const bob = clientFor(ctx, 'bob');
  const annSignals = recordSignals(ann.client);
  await fs.mkdir(bob.downloads, { recursive: true });

  await ann.client.connect();
  const connected = await ann.rec.waitFor('connected');
  assert.is(connected.proxy, `socks5h://127.0.0.1:${proxy.port}`);
  assert.equal(ctx.seen, [PROXY_OUT], 'the chat connection came from the proxy');
  assert.ok(ctx.relayLog.includes(`login: ann from ${PROXY_OUT}`), ctx.relayLog.join('\n'));
  await bob.client.connect();
  assert.ok(ctx.relayLog.includes('login: bob from 127.0.0.1'));

  // Chat both ways.
  await ann.client.say('hello through the proxy');
  await bob.rec.waitFor('message', (e) => e.text === 'hello through the proxy');
  await bob.client.say('hello back');
  await ann.rec.waitFor('message', (e) => e.text === 'hello back');

  // A file from the proxied client: through the relay pipe, no candidates offered.
  await ann.rec.waitFor('presence', (e) => e.user === 'bob' && e.event === 'join');
  const file = await writeTestFile(ctx.dir.path, 'through-proxy.bin', 3 * 1024 * 1024);
  const before = ctx.seen.length;
  const { sent, received, annDone } = await sendAndAccept(ann, bob, file);
  assert.is(received.path, 'relay');
  assert.is(annDone.path, 'relay');
  // Offered without a hash (hashed while sent): the file arrived as the sender hashed it in
  // `end`, and the receiver checked it against that hash.
  const expected = await sha256OfFile(file);
  assert.is(annDone.hash, expected, "the sender's hash is the file's");
  assert.is(received.hash, expected, 'the receiver checked the same hash');
  assert.is(await sha256OfFile(received.file), expected);
  const annStates = ann.rec.of('transfer-state').filter((e) => e.id === sent.id);
  assert.ok(annStates.length > 0 && annStates.every((e) => e.relayOnly === 'proxy'), JSON.stringify(annStates));
  assert.ok(bob.rec.of('transfer-state').every((e) => e.relayOnly === undefined), 'bob has no proxy');
  const candidates = annSignals.filter((m) => m.t === 'file-candidates');
  assert.ok(candidates.length >= 1, 'the sender still says it has no candidates');
  for (const message of candidates) assert.equal(message.t === 'file-candidates' && message.candidates, [], 'no direct candidate offered');
  // ann's relay pipe came through the proxy; bob's straight from 127.0.0.1.
  const pipes = ctx.seen.slice(before);
  assert.equal([...new Set(pipes)].sort(), ['127.0.0.1', PROXY_OUT], `pipe connections from ${pipes.join(', ')}`);

  // A room file upload: its own connection, through the proxy too.
  const upload = await writeTestFile(ctx.dir.path, 'room.bin', 64 * 1024);
  const seenBeforeUpload = ctx.seen.length;
  await ann.client.uploadFile(upload);
  assert.equal(ctx.seen.slice(seenBeforeUpload), [PROXY_OUT]);

  // A lost connection: the reconnect goes through the proxy again.
  const seenBeforeReconnect = ctx.seen.length;
  const mark = ann.rec.mark();
  (ann.client as unknown as { conn: { socket: import('node:tls').TLSSocket } }).conn.socket.destroy();
  await ann.rec.waitFor('disconnected', () => true, mark);
  const again = await ann.rec.waitFor('connected', () => true, mark);
  assert.is(again.proxy, `socks5h://127.0.0.1:${proxy.port}`);
  assert.equal(ctx.seen.slice(seenBeforeReconnect), [PROXY_OUT]);
  const annLogins = ctx.relayLog.filter((line) => /^(login|resumed): ann from /.test(line));
  assert.ok(annLogins.length === 2 && annLogins.every((line) => line.endsWith(` from ${PROXY_OUT}`)), annLogins.join('\n'));
});

it('socks5:// (name resolved by the client) and user/password authentication (RFC 1929) reach the relay', async (ctx) => {
  const proxy = await startMicrosocks({ bindAddress: PROXY_OUT, user: 'tor-user', password: 'p@ss:word' });
  ctx.proxies.push(proxy);
  const ann = clientFor(ctx, 'ann', { host: 'localhost', proxy: `socks5://tor-user:${encodeURIComponent('p@ss:word')}@127.0.0.1:${proxy.port}` });
  await ann.client.connect();
  const connected = await ann.rec.waitFor('connected');
  assert.is(connected.proxy, `socks5://tor-user@127.0.0.1:${proxy.port}`, 'shown without the password');
  assert.equal(ctx.seen, [PROXY_OUT]);
});

it('proxy failures: unreachable (E_PROXY), wrong or missing password (E_PROXY_AUTH), relay unreachable through it (E_PROXY_REFUSED)', async (ctx) => {
  const proxy = await startMicrosocks({ user: 'u', password: 'right-password' });
  ctx.proxies.push(proxy);
  const stopped = await startMicrosocks();
  await stopped.stop();

  const unreachable = clientFor(ctx, 'ann', { proxy: `socks5h://127.0.0.1:${stopped.port}` });
  assert.is(await failure(unreachable.client.connect()), 'E_PROXY');

  const wrong = clientFor(ctx, 'bob', { proxy: `socks5h://u:wrong@127.0.0.1:${proxy.port}` });
  assert.is(await failure(wrong.client.connect()), 'E_PROXY_AUTH');
  const none = clientFor(ctx, 'cat', { proxy: `socks5h://127.0.0.1:${proxy.port}` });
  assert.is(await failure(none.client.connect()), 'E_PROXY_AUTH');

  // The proxy works, but nothing listens where the relay should be.
  const closedPort = stopped.port;
  const refused = clientFor(ctx, 'dan', { port: closedPort, proxy: `socks5h://u:right-password@127.0.0.1:${proxy.port}` });
  assert.is(await failure(refused.client.connect()), 'E_PROXY_REFUSED');
  assert.equal(ctx.seen, [], 'nothing reached the relay');
});

spec.run();
