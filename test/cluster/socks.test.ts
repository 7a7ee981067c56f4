/**
 * `npm run test:cluster`: a client through a SOCKS5 proxy in the cluster, with the real
 * programs: microsocks (its outgoing side bound to 127.0.0.3) → HAProxy (PROXY v2) → one of
 * three relay processes on one redis-server (cluster-fixture.ts). A second client connects
 * straight to HAProxy from 127.0.0.4; HAProxy (leastconn) spreads the connections over the
 * relays, usually putting the two on different ones; the test prints where each landed.
 *
 * The proxied client logs in (every relay connection seen from the proxy's address), chats
 * both ways, whispers, uploads a room file the other downloads (same bytes), and sends the
 * other a file peer to peer: through the relay pipe, no direct candidates offered, hash
 * checked. Its side connections (room file, pipe) may reach any relay: tickets are redeemable
 * on every relay, and pipe sides on different relays are joined by a relay link.
 *
 * Skipped, with a line saying so, when haproxy, redis-server or microsocks is not installed.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findHaproxy } from '../../relay/cluster/haproxy-process.js';
import { redisServerAvailable } from '../../relay/cluster/redis-process.js';
import type { Limits } from '../../shared/limits.js';
import { ChatClient, type ChatClientOptions } from '../../tui/core/client.js';
import type { ChatEventOf } from '../../tui/core/events.js';
import { plainErrors } from '../helpers/core-helpers.js';
import { Recorder } from '../helpers/recorder.js';
import { microsocksMissing, startMicrosocks, type RunningSocksProxy } from '../helpers/socks-proxy.js';
import { recordSignals } from '../helpers/transfer-signals.js';
import { sha256OfFile, loopbackOptions, writeTestFile } from '../helpers/transfer-helpers.js';
import { clusterClientOptions, startCluster, type Cluster } from './cluster-fixture.js';

/**
 * Longer than a transfer's own deadline for connecting (60 s, then E_TRANSFER_TIMEOUT), so a
 * transfer that cannot connect ends with its own code rather than with this wait.
 */
const WAIT_MS = 90_000;
const ROOM = 'socks';
/** microsocks binds its outgoing side here (-b): HAProxy, and through its PROXY header the relay, must see this. */
const PROXY_OUT = '127.0.0.3';
/** The direct client's own address. */
const DIRECT_FROM = '127.0.0.4';
/**
 * A short presence grace; the first side of a relay pipe waits 15 s (not 30) for the second,
 * so a pipe whose sides never meet fails the test sooner.
 */
const RELAY_LIMITS: Partial<Limits> = { presenceGraceMs: 2_000, pipeWaitMs: 15_000 };

interface Peer {
  client: ChatClient;
  rec: Recorder;
  downloads: string;
}

type Ctx = {
  cluster: Cluster;
  proxy: RunningSocksProxy | undefined;
  clients: ChatClient[];
};

const spec = suite<Ctx>('a SOCKS5 client in the cluster: microsocks → HAProxy → three relay processes on one Redis');
const haproxyBinary = await findHaproxy();
const missing = [
  haproxyBinary === undefined ? 'haproxy' : undefined,
  redisServerAvailable() ? undefined : 'redis-server',
  (await microsocksMissing()) === null ? undefined : 'microsocks',
].filter((name) => name !== undefined);
if (missing.length > 0) console.log(`socks cluster test skipped: it needs ${missing.join(', ')} (Debian: apt-get install ${missing.join(' ')})`);

spec.before.each(async (ctx) => {
  ctx.clients = [];
  ctx.proxy = undefined;
  ctx.cluster = await startCluster({ prefix: 'securechat-socks-', limits: RELAY_LIMITS, haproxy: haproxyBinary });
  ctx.proxy = await startMicrosocks({ bindAddress: PROXY_OUT });
});

spec.after.each(async (ctx) => {
  // Never throw from here: uvu would swallow the test's own failure.
  await Promise.all(ctx.clients.map((client) => client.close().catch(() => {})));
  await ctx.proxy?.stop().catch(() => {});
  await ctx.cluster?.stop();
});

function peer(ctx: Ctx, user: string, options: Partial<ChatClientOptions>): Peer {
  const downloads = join(ctx.cluster.dir.path, `${user}-downloads`);
  const client = new ChatClient({
    ...clusterClientOptions(ctx.cluster, user, options),
    transfers: {
      downloadDir: downloads,
      // Direct allowed and loopback candidates on: only the proxy may turn them off.
      transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 300, RETRY_DELAY_MS: 200 } },
    },
  });
  ctx.clients.push(client);
  return { client, rec: new Recorder(client, WAIT_MS), downloads };
}

/** The transfer's end on `side`: its `transfer-done`, or its `transfer-failed` (the test then says why). */
function transferEnd(side: Peer, id: string): Promise<ChatEventOf<'transfer-done'> | ChatEventOf<'transfer-failed'>> {
  return side.rec.waitForEvent((e) => (e.type === 'transfer-done' || e.type === 'transfer-failed') && e.id === id, 'transfer-done or transfer-failed') as Promise<
    ChatEventOf<'transfer-done'> | ChatEventOf<'transfer-failed'>
  >;
}

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  if (missing.length > 0) return spec.skip(name, () => undefined);
  spec(name, async (ctx) =>
    plainErrors(handler)(ctx).catch(async (error: unknown) => {
      console.log(ctx.cluster.logs.slice(-60).join('\n'));
      console.log(`every relay and HAProxy line: ${await ctx.cluster.saveLogs()}`);
      throw error;
    }),
  );
}

it('through SOCKS5 and HAProxy: logs in, chats both ways, whispers, shares a room file, sends a file through the relay', async (ctx) => {
  const socks = `socks5h://127.0.0.1:${ctx.proxy!.port}`;
  const ann = peer(ctx, 'ann', { proxy: socks });
  const bob = peer(ctx, 'bob', { localAddress: DIRECT_FROM });
  const annSignals = recordSignals(ann.client);
  await mkdir(bob.downloads, { recursive: true });

  // Login: ann's connection reaches a relay from the proxy's address, named by HAProxy's PROXY header.
  await ann.client.connect();
  const connected = await ann.rec.waitFor('connected');
  assert.is(connected.proxy, socks);
  const annRelay = ctx.cluster.relayLogging(`login: ann from ${PROXY_OUT}`);
  assert.ok(annRelay !== undefined, `a relay logged ann in from ${PROXY_OUT}:\n${ctx.cluster.logs.join('\n')}`);
  await bob.client.connect();
  const bobRelay = ctx.cluster.relayLogging(`login: bob from ${DIRECT_FROM}`);
  assert.ok(bobRelay !== undefined, `a relay logged bob in from ${DIRECT_FROM}`);
  console.log(`socks cluster test: ann (through SOCKS5) on ${annRelay}, bob (direct) on ${bobRelay}`);

  // Room messages both ways.
  await ann.client.create(ROOM);
  await bob.client.join(ROOM);
  await ann.rec.waitFor('presence', (e) => e.user === 'bob' && e.event === 'join');
  await ann.client.say('hello through the proxy');
  await bob.rec.waitFor('message', (e) => e.room === ROOM && e.from === 'ann' && e.text === 'hello through the proxy');
  await bob.client.say('hello back');
  await ann.rec.waitFor('message', (e) => e.room === ROOM && e.from === 'bob' && e.text === 'hello back');

  // A whisper each way (sealed end to end; the relays only pass it on).
  await ann.client.whisper('bob', 'psst, from behind the proxy');
  const whisper = await bob.rec.waitFor('whisper', (e) => e.from === 'ann');
  assert.is(whisper.text, 'psst, from behind the proxy');
  await bob.client.whisper('ann', 'psst back');
  assert.is((await ann.rec.waitFor('whisper', (e) => e.from === 'bob')).text, 'psst back');

  // A room file: uploaded by ann (its own connection, through the proxy), downloaded by bob.
  const roomFile = await writeTestFile(ctx.cluster.dir.path, 'room.bin', 256 * 1024);
  const uploaded = await ann.client.uploadFile(roomFile);
  const listed = await bob.client.listFiles();
  assert.ok(listed.files.some((file) => file.id === uploaded.fileId && file.from === 'ann' && file.size === uploaded.size), JSON.stringify(listed));
  const downloaded = await bob.client.downloadFile(uploaded.fileId, bob.downloads);
  assert.ok((await readFile(downloaded.path)).equals(await readFile(roomFile)), 'bob downloaded the bytes ann uploaded');

  // A file peer to peer: through the relay pipe, no direct candidate offered.
  const file = await writeTestFile(ctx.cluster.dir.path, 'through-proxy.bin', 3 * 1024 * 1024);
  const offeredAt = ctx.cluster.logs.length;
  const sent = await ann.client.sendFile('bob', file);
  const offer = await bob.rec.waitFor('transfer-offer', (e) => e.id === sent.id);
  await bob.client.acceptTransfer(offer.id);
  const ends = await Promise.all([transferEnd(bob, sent.id), transferEnd(ann, sent.id)]).catch((error: Error) => error);
  // Where the pipe connections went.
  const connections = ctx.cluster.logs.slice(offeredAt).filter((line) => line.startsWith('[haproxy] '));
  assert.ok(
    !(ends instanceof Error) && ends.every((end) => end.type === 'transfer-done'),
    `the peer transfer ann -> bob completed (ann on ${annRelay}, bob on ${bobRelay}): ` +
      `${ends instanceof Error ? ends.message : JSON.stringify(ends)}\nconnections since the offer (HAProxy logs each when it ends):\n${connections.join('\n')}`,
  );
  if (ends instanceof Error) return;
  const [received, annDone] = ends;
  const pipes = ctx.cluster.logs.filter((line) => line.includes(`pipe ${sent.id}`));
  if (received.type !== 'transfer-done' || annDone.type !== 'transfer-done') return;
  assert.is(received.path, 'relay');
  assert.is(annDone.path, 'relay');
  assert.is(await sha256OfFile(received.file), await sha256OfFile(file));
  assert.is(received.hash, await sha256OfFile(file));
  const annStates = ann.rec.of('transfer-state').filter((e) => e.id === sent.id);
  assert.ok(annStates.length > 0 && annStates.every((e) => e.relayOnly === 'proxy'), JSON.stringify(annStates));
  const candidates = annSignals.filter((m) => m.t === 'file-candidates');
  assert.ok(candidates.length >= 1, 'the sender still says it has no candidates');
  for (const message of candidates) assert.equal(message.t === 'file-candidates' && message.candidates, [], 'no direct candidate offered');
  console.log(`socks cluster test: relay pipe lines: ${pipes.join(' | ')}`);
});

spec.run();
