/**
 * `npm run test:cluster`: a real redis-server, three real relays sharing it, real clients.
 * Needs redis-server (Debian: redis-server); .ci/run installs it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { main } from '../../relay/cli.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Limits } from '../../shared/limits.js';
import type { RelayMessage } from '../../shared/messages.js';
import type { RunningRelay } from '../../relay/server.js';
import { WireClient } from '../helpers/wire-client.js';
import { blake, getBytes, upload } from '../helpers/room-files.js';
import { testRelay } from '../helpers/relay.js';
import { openPipe, readBytes, ticketFor } from '../helpers/pipes.js';
import { testClientOptions } from '../helpers/clients.js';
import { Recorder } from '../helpers/recorder.js';
import { sha256OfFile, loopbackOptions, writeTestFile } from '../helpers/transfer-helpers.js';
import { ChatClient } from '../../tui/core/client.js';
import { startCluster, type Cluster } from './cluster-fixture.js';

type Ctx = {
  /** Its temp folder, redis-server, certificate and files folder; the relays here run in this process. */
  cluster: Cluster;
  relays: RunningRelay[];
  clients: WireClient[];
};

const cluster = suite<Ctx>('three relays on one Redis');

async function startRelays(ctx: Ctx, count = 3): Promise<void> {
  ctx.cluster = await startCluster({ prefix: 'securechat-cluster-', relays: 0 });
  ctx.relays = [];
  ctx.clients = [];
  for (let i = 1; i <= count; i++) ctx.relays.push(await startClusterRelay(ctx, `r${i}`));
}

async function startClusterRelay(ctx: Ctx, relayId: string, limits: Partial<Limits> = {}): Promise<RunningRelay> {
  // Every relay has the same (self-signed) certificate: in a cluster the data folder holds only that, so they share one.
  return testRelay(ctx.cluster.certificateDir, {
    filesDir: ctx.cluster.filesDir,
    cluster: { redisUrl: ctx.cluster.redis.url, relayId },
    limits: { presenceGraceMs: 2_000, messagesPerSecond: 1_000, messageBurst: 1_000, ...limits },
  });
}

cluster.before.each(async (ctx) => startRelays(ctx));

cluster.after.each(async (ctx) => {
  for (const client of ctx.clients) client.close();
  for (const relay of ctx.relays) await relay.close().catch(() => undefined);
  await ctx.cluster.stop();
});

async function session(ctx: Ctx, relay: number, user: string, register = true): Promise<WireClient> {
  const client = await WireClient.session(ctx.relays[relay].port, user, 'correct horse', register);
  ctx.clients.push(client);
  return client;
}

function messagesIn(client: WireClient, room: string): Array<Extract<RelayMessage, { t: 'message' }>> {
  return client.received.filter((m): m is Extract<RelayMessage, { t: 'message' }> => m.t === 'message' && m.room === room);
}

function tokenOf(client: WireClient): string {
  const session = client.received.find((m) => m.t === 'session');
  return session?.t === 'session' ? session.token : '';
}

cluster('a room spans relays: one conversation, same order, dense seqs, nothing lost or twice', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  const cat = await session(ctx, 2, 'cat');
  await ann.request({ t: 'create', id: 'c', room: 'span' });
  const rooms = await cat.request({ t: 'rooms', id: 'l' });
  assert.ok(rooms.t === 'rooms' && rooms.rooms.some((room) => room.name === 'span' && room.members === 1), 'a room made on r1 is listed on r3');
  assert.is((await bob.request({ t: 'join', id: 'j', room: 'SPAN' })).t, 'joined');
  assert.is((await cat.request({ t: 'join', id: 'j', room: 'span' })).t, 'joined');
  const users = await ann.request({ t: 'users', id: 'u' });
  assert.ok(users.t === 'users');
  if (users.t === 'users') assert.equal(users.users, ['ann', 'bob', 'cat']);

  const perUser = 40;
  const senders = [ann, bob, cat];
  const acks = await Promise.all(
    senders.map((client, who) => Promise.all(Array.from({ length: perUser }, (_, i) => client.request({ t: 'say', id: `m${who}-${i}`, text: `${who}:${i}` })))),
  );
  const seqs = acks.flat().map((ack) => (ack.t === 'ack' ? ack.seq : -1)).sort((a, b) => a - b);
  assert.equal(seqs, Array.from({ length: perUser * 3 }, (_, i) => i + 1), 'dense sequence ids 1..120');
  // Each member gets every message of the others, once, in seq order.
  for (const [who, client] of senders.entries()) {
    const expected = perUser * 2;
    const deadline = Date.now() + 10_000;
    while (messagesIn(client, 'span').length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const got = messagesIn(client, 'span');
    assert.is(got.length, expected, `member ${who} got each message of the others once`);
    const order = got.map((m) => m.seq);
    assert.equal(order, [...order].sort((a, b) => a - b), `member ${who} saw them in seq order`);
    assert.is(new Set(order).size, order.length);
  }
});

cluster('a whisper reaches a user on another relay; E_NOT_IN_ROOM across relays too', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  const arrived = ann.waitFor((m) => m.t === 'whisper' && m.from === 'bob');
  const ok = await bob.request({ t: 'whisper', id: 'w', to: 'ann', body: 'c2VhbGVk' });
  assert.is(ok.t, 'ok');
  const whisper = await arrived;
  assert.ok(whisper.t === 'whisper' && whisper.body === 'c2VhbGVk');
  await ann.request({ t: 'create', id: 'c', room: 'elsewhere' });
  const refused = await bob.request({ t: 'whisper', id: 'w2', to: 'ann', body: 'eA' });
  assert.ok(refused.t === 'error' && refused.code === 'E_NOT_IN_ROOM');
});

cluster('/away on r1 is heard on r2, listed in users and joined on r3; cleared everywhere', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  await ann.request({ t: 'create', id: 'c', room: 'den' });
  await bob.request({ t: 'join', id: 'j', room: 'den' });
  assert.is((await ann.request({ t: 'away', id: 'a', text: 'lunch' })).t, 'ok');
  const heard = await bob.waitFor((m) => m.t === 'away');
  assert.equal(heard, { t: 'away', room: 'den', user: 'ann', text: 'lunch' });
  const users = await bob.request({ t: 'users', id: 'u' });
  assert.ok(users.t === 'users' && users.away?.ann === 'lunch', JSON.stringify(users));
  const cat = await session(ctx, 2, 'cat');
  const joined = await cat.request({ t: 'join', id: 'j', room: 'den' });
  assert.ok(joined.t === 'joined' && joined.away?.ann === 'lunch', JSON.stringify(joined));
  await ann.request({ t: 'away', id: 'b' });
  await cat.waitFor((m) => m.t === 'away' && m.text === undefined);
  const after = await bob.request({ t: 'users', id: 'v' });
  assert.ok(after.t === 'users' && after.away === undefined, JSON.stringify(after));
});

cluster('logging in on another relay replaces the session there (E_REPLACED)', async (ctx) => {
  const first = await session(ctx, 0, 'ann');
  const bye = first.next('bye', 10_000);
  await session(ctx, 2, 'ann', false);
  const message = await bye;
  assert.is(message.code, 'E_REPLACED');
});

cluster('history and resume on another relay: the missed messages, silently', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  await ann.request({ t: 'create', id: 'c', room: 'keep' });
  await bob.request({ t: 'join', id: 'j', room: 'keep' });
  const ack = await ann.request({ t: 'say', id: 'a0', text: 'before' });
  const since = ack.t === 'ack' ? ack.seq : 0;
  const token = tokenOf(ann);
  ann.close();
  await ann.whenClosed();
  for (let i = 0; i < 5; i++) await bob.request({ t: 'say', id: `b${i}`, text: `missed ${i}` });

  const back = await WireClient.open(ctx.relays[2].port);
  ctx.clients.push(back);
  await back.hello();
  const joined = back.next('joined');
  const resumed = await back.request({ t: 'resume', id: 'r', user: 'ann', token, proof: await back.resumeProof('ann'), room: 'keep', since });
  assert.ok(resumed.t === 'session' && resumed.resumed);
  const history = await joined;
  assert.equal(history.history.map((m) => m.text), ['missed 0', 'missed 1', 'missed 2', 'missed 3', 'missed 4']);
  // Waited for before sending: the ack comes only after the relays have sent the message on.
  const after = back.waitFor((m) => m.t === 'message' && m.id === 'after');
  await bob.request({ t: 'say', id: 'after', text: 'after' });
  await after;
  // Past r1's presence grace (2 s here): r1 must see ann is back on r3 and announce nothing.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  assert.equal(bob.received.filter((m) => m.t === 'presence' && m.room === 'keep' && m.user === 'ann'), [], 'no leave, no join: a resume within the grace is silent');
});

cluster('kill -9 of redis-server during traffic: sends fail fast, relays recover, nothing acknowledged is lost', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  await ann.request({ t: 'create', id: 'c', room: 'crash' });
  await bob.request({ t: 'join', id: 'j', room: 'crash' });
  const acked = new Set<string>();
  const failed: string[] = [];
  let n = 0;
  const send = async (client: WireClient, tag: string): Promise<void> => {
    const id = `${tag}${n++}`;
    const reply = await client.request({ t: 'say', id, text: id }).catch(() => undefined);
    if (reply?.t === 'ack') acked.add(id);
    else failed.push(reply?.t === 'error' ? reply.code : 'timeout');
  };
  for (let i = 0; i < 100; i++) await Promise.all([send(ann, 'a'), send(bob, 'b')]);
  // AOF everysec: Redis write()s the AOF before it replies, except while a background fsync
  // runs long (a busy disk): then it may hold the write back for up to 2 s (docs/storage.md).
  await new Promise((r) => setTimeout(r, 2_500));
  await ctx.cluster.redis.kill9();
  const started = Date.now();
  await Promise.all([send(ann, 'a'), send(bob, 'b')]);
  assert.ok(Date.now() - started < 5_000, 'sends fail fast while Redis is down');
  assert.ok(failed.length >= 1);
  await ctx.cluster.redis.restart();
  // The relays reconnect by themselves; a retried send then goes through.
  const deadline = Date.now() + 15_000;
  let back = false;
  while (!back && Date.now() < deadline) {
    const reply = await ann.request({ t: 'say', id: `retry${n++}`, text: 'back' }).catch(() => undefined);
    back = reply?.t === 'ack';
    if (!back) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(back, 'the relay recovered when Redis came back');
  const page = await bob.request({ t: 'history', id: 'h', limit: 500 });
  assert.ok(page.t === 'history');
  if (page.t !== 'history') return;
  const stored = new Set(page.messages.map((m) => m.id));
  const lost = [...acked].filter((id) => !stored.has(id));
  assert.equal(lost, [], 'every acknowledged message is in the log');
});

cluster('room files: uploaded through one relay, listed and downloaded through another (one folder, one index)', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  await ann.request({ t: 'create', id: 'c', room: 'share' });
  await bob.request({ t: 'join', id: 'j', room: 'share' });
  const data = Buffer.from('the same bytes on every relay\n'.repeat(1000));
  const fileId = await upload(ann, ctx.relays[0].port, 'notes.txt', data);
  const listed = await bob.request({ t: 'files', id: 'f' });
  assert.ok(listed.t === 'files' && listed.files.some((file) => file.id === fileId && file.size === data.length));
  const ticket = await bob.request({ t: 'file-download', id: 'd', fileId });
  assert.ok(ticket.t === 'file-ticket');
  if (ticket.t !== 'file-ticket') return;
  const got = await getBytes(ctx.relays[1].port, ticket.ticket);
  assert.ok(got.ready.t === 'file-ready');
  assert.is(blake(got.data), blake(data));
  // A relay starting up sweeps only its own unfinished uploads: another relay's stay.
  const partial = join(ctx.cluster.filesDir, '0123456789abcdef0123456789abcdef.r1.part');
  await writeFile(partial, 'an upload in progress on r1');
  await ctx.relays[2].close();
  ctx.relays[2] = await startClusterRelay(ctx, 'r3');
  assert.is(await readFile(partial, 'utf8'), 'an upload in progress on r1');
});

cluster('one-time tickets work on any relay: an upload ticket from r1 used on r3, a download ticket from r3 used on r2, once', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 2, 'bob');
  const data = Buffer.from('a ticket is good on every relay\n'.repeat(500));
  const fileId = await upload(ann, ctx.relays[2].port, 'anywhere.txt', data);
  const ticket = await bob.request({ t: 'file-download', id: 'd', fileId });
  assert.ok(ticket.t === 'file-ticket');
  if (ticket.t !== 'file-ticket') return;
  const got = await getBytes(ctx.relays[1].port, ticket.ticket);
  assert.is(blake(got.data), blake(data));
  const again = await getBytes(ctx.relays[0].port, ticket.ticket);
  assert.is(again.ready.t === 'error' ? again.ready.code : again.ready.t, 'E_BAD_TICKET', 'single use across relays');
});

cluster('a relay pipe whose two sides reach different relays is joined over a relay link: bytes both ways, sizes only in the logs', async (ctx) => {
  const ann = await session(ctx, 0, 'ann');
  const bob = await session(ctx, 1, 'bob');
  for (const [transfer, annRelay, bobRelay] of [['transfer-1', 2, 1], ['transfer-2', 0, 2]] as const) {
    const annTicket = await ticketFor(ann, 'bob', transfer);
    const bobTicket = await ticketFor(bob, 'ann', transfer);
    const [annPipe, bobPipe] = await Promise.all([openPipe(ctx.relays[annRelay].port, annTicket), openPipe(ctx.relays[bobRelay].port, bobTicket)]);
    ctx.clients.push(annPipe, bobPipe);
    const toBob = Buffer.alloc(2 * 1024 * 1024, 3);
    toBob.write('PIPE-MARKER-ACROSS-RELAYS');
    const atBob = readBytes(bobPipe, toBob.length);
    const atAnn = readBytes(annPipe, 4);
    annPipe.socket.write(toBob);
    bobPipe.socket.write('done');
    assert.ok((await atBob).equals(toBob), `${transfer}: ann's bytes reach bob intact`);
    assert.is((await atAnn).toString(), 'done');
  }
});

cluster('a file sent with the relay pipe between ChatClients on different relays arrives whole, path relay', async (ctx) => {
  const clients: ChatClient[] = [];
  try {
    const peer = async (user: string, relay: number) => {
      const downloads = join(ctx.cluster.dir.path, `${user}-downloads`);
      await mkdir(downloads, { recursive: true });
      const client = new ChatClient({
        ...testClientOptions({ relay: ctx.relays[relay], dir: ctx.cluster.dir }, user),
        transfers: { downloadDir: downloads, direct: false, transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 200, RETRY_DELAY_MS: 200 } } },
      });
      clients.push(client);
      const events = new Recorder(client, 60_000);
      await client.connect();
      return { client, events };
    };
    const ann = await peer('ann', 0);
    const bob = await peer('bob', 2);
    const file = await writeTestFile(ctx.cluster.dir.path, 'across.bin', 8 * 1024 * 1024);
    const sent = await ann.client.sendFile('bob', file);
    const offer = await bob.events.waitFor('transfer-offer', (e) => e.id === sent.id);
    await bob.client.acceptTransfer(offer.id);
    const [received, done] = await Promise.all([
      bob.events.waitFor('transfer-done', (e) => e.id === sent.id),
      ann.events.waitFor('transfer-done', (e) => e.id === sent.id),
    ]);
    assert.is(received.path, 'relay');
    assert.is(done.path, 'relay');
    assert.is(await sha256OfFile(received.file), await sha256OfFile(file));
    assert.equal([received.hash, done.hash], [await sha256OfFile(file), await sha256OfFile(file)]);
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  }
});

cluster('relay user add and relay audit work on the cluster\'s Redis while the relays run', async (ctx) => {
  const passwordFile = join(ctx.cluster.dir.path, 'password');
  await writeFile(passwordFile, 'a password for dora\n');
  const out: string[] = [];
  const io = { stdout: (text: string) => void out.push(text), stderr: (text: string) => void out.push(text), stdin: Readable.from([]), env: {} };
  assert.is(await main(['user', 'add', 'dora', '--redis', ctx.cluster.redis.url, '--password-file', passwordFile], io), 0, out.join(''));
  const dora = await WireClient.session(ctx.relays[2].port, 'dora', 'a password for dora', false);
  ctx.clients.push(dora);
  assert.is(await main(['audit', '--redis', ctx.cluster.redis.url, '--json'], io), 0);
  assert.ok(out.some((line) => line.includes('"account-added"') && line.includes('dora')));
});

cluster('a relay cut off from Redis longer than its lease closes its clients rather than serve a split view', async (ctx) => {
  const r4 = await startClusterRelay(ctx, 'r4', { busLeaseMs: 1_000 });
  ctx.relays.push(r4);
  const ann = await WireClient.session(r4.port, 'ann');
  ctx.clients.push(ann);
  const bye = ann.next('bye', 10_000);
  const cut = Date.now();
  await ctx.cluster.redis.kill9();
  const message = await bye;
  assert.is(message.code, 'E_SHUTDOWN');
  assert.ok(Date.now() - cut < 5_000, 'within a few seconds of the lease');
  await ctx.cluster.redis.restart();
});

cluster.run();
