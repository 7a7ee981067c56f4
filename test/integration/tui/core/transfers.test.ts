/**
 * File transfers between two real ChatClients through a real relay (TLS, LevelDB, signals
 * sealed with the whisper keys, relay pipes on their own verified connections), with real
 * files in temp folders, on loopback. Waits are bounded by a failure timeout, never asserted on.
 */
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RunningRelay } from '../../../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../../../tui/core/client.js';
import type { ChatEvent, ChatEventOf } from '../../../../tui/core/events.js';
import { runJsonMode } from '../../../../tui/json-mode.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { testRelay } from '../../../helpers/relay.js';
import { tempDir } from '../../../helpers/temp.js';
import { sha256OfFile, exists, loopbackOptions, writeTestFile } from '../../../helpers/transfer-helpers.js';
import { Recorder } from '../../../helpers/recorder.js';
import { sendAndAccept, testClientOptions } from '../../../helpers/clients.js';
import { failure } from '../../../helpers/errors.js';

const PASSWORD = 'correct horse battery';
const WAIT_MS = 60_000;
const MB = 1024 * 1024;


/**
 * A TCP forwarder in front of the relay. Connections opened after `markChat()` are relay
 * pipes; `cutPipesAfter(bytes)` destroys them once that many pipe bytes went through (a
 * network failure in the middle of a transfer, as both peers see it).
 */
class CuttingProxy {
  readonly server: net.Server;
  private counting = false;
  private pipeBytes = 0;
  private cutAt = Infinity;
  cuts = 0;
  private readonly pipes = new Set<net.Socket>();
  private readonly all = new Set<net.Socket>();

  constructor(private readonly target: number) {
    this.server = net.createServer((client) => this.onConnection(client));
  }

  async start(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Everything connected so far is a chat connection; later ones are pipes. */
  markChat(): void {
    this.counting = true;
  }

  cutPipesAfter(bytes: number): void {
    this.cutAt = bytes;
  }

  private onConnection(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    const isPipe = this.counting;
    for (const socket of [client, upstream]) {
      this.all.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.all.delete(socket);
        this.pipes.delete(socket);
      });
      if (isPipe) this.pipes.add(socket);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (isPipe) {
      client.on('data', (chunk: Buffer) => {
        this.pipeBytes += chunk.length;
        if (this.pipeBytes >= this.cutAt) {
          this.cutAt = Infinity;
          this.cuts += 1;
          for (const socket of [...this.pipes]) socket.destroy();
        }
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const socket of this.all) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

type Ctx = {
  dir: { path: string; remove: () => Promise<void> };
  relay: RunningRelay;
  clients: ChatClient[];
  proxy: CuttingProxy | null;
};

const spec = suite<Ctx>('file transfers between ChatClients through a real relay');

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  spec(name, plainErrors(handler));
}

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-core-transfers-');
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'));
  ctx.clients = [];
  ctx.proxy = null;
});

spec.after.each(async (ctx) => {
  await Promise.all(ctx.clients.map((c) => c.close().catch(() => {})));
  await ctx.proxy?.close();
  await ctx.relay?.close().catch((e) => console.error('closing the relay failed:', e));
  await ctx.dir.remove().catch(() => {});
});

async function online(ctx: Ctx, user: string, options: Partial<ChatClientOptions> = {}): Promise<{ client: ChatClient; rec: Recorder; downloads: string }> {
  const downloads = path.join(ctx.dir.path, `${user}-downloads`);
  await fs.mkdir(downloads, { recursive: true });
  const { transfers, ...rest } = options;
  const client = new ChatClient({
    ...testClientOptions(ctx, user),
    ...rest,
    transfers: {
      downloadDir: downloads,
      ...transfers,
      transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 500, RETRY_DELAY_MS: 200 }, ...transfers?.transfer },
    },
  });
  ctx.clients.push(client);
  const rec = new Recorder(client, WAIT_MS);
  await client.connect();
  return { client, rec, downloads };
}

it('50 MB direct: offer, /accept, done on both sides with the right SHA-256 hash', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const file = await writeTestFile(ctx.dir.path, 'big.bin', 50 * MB);
  const expected = await sha256OfFile(file);
  const { sent, offer, received, annDone } = await sendAndAccept(ann, bob, file);
  // Offered without a hash (hashed while sent); transfer-done carries the checked one.
  assert.is(sent.hash, '');
  assert.equal([offer.from, offer.name, offer.size, offer.hash], ['ann', 'big.bin', 50 * MB, '']);
  assert.is(received.file, path.join(bob.downloads, 'big.bin'));
  assert.is(await sha256OfFile(received.file), expected);
  assert.is(received.hash, expected);
  assert.is(annDone.hash, expected);
  assert.ok(received.path === 'lan' || received.path === 'direct', `path ${received.path}`);
  // Progress was reported, throttled, and /transfers lists the result.
  assert.ok(bob.rec.of('transfer-progress').length >= 1);
  const listed = ann.client.listTransfers();
  assert.equal([listed[0].id, listed[0].state, listed[0].bytes], [sent.id, 'completed', 50 * MB]);
  assert.ok(ann.rec.of('transfers').length === 1);
});

it('50 MB with direct forced off (both sides): through the relay pipe, right hash', async (ctx) => {
  const ann = await online(ctx, 'ann', { transfers: { direct: false } });
  const bob = await online(ctx, 'bob', { transfers: { direct: false } });
  const file = await writeTestFile(ctx.dir.path, 'relayed.bin', 50 * MB);
  const expected = await sha256OfFile(file);
  const { received, annDone } = await sendAndAccept(ann, bob, file);
  assert.is(received.path, 'relay');
  assert.is(annDone.path, 'relay');
  assert.is(await sha256OfFile(received.file), expected);
});

it('reject: the sender gets E_REJECTED; /accept of an unknown id is E_NO_SUCH_TRANSFER', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const file = await writeTestFile(ctx.dir.path, 'unwanted.txt', 4096);
  const sent = await ann.client.sendFile('bob', file);
  const offer = await bob.rec.waitFor('transfer-offer');
  await bob.client.run(`/reject ${offer.id}`);
  const failed = await ann.rec.waitFor('transfer-failed', (e) => e.id === sent.id);
  assert.equal([failed.state, failed.code, failed.direction], ['rejected', 'E_REJECTED', 'out']);
  await bob.client.run('/accept AAAAAAAAAAAA');
  const error = bob.rec.of('error').pop();
  assert.equal([error?.code, error?.command], ['E_NO_SUCH_TRANSFER', 'accept']);
  assert.not.ok(await exists(path.join(bob.downloads, 'unwanted.txt')));
});

it('/send checks locally: E_NOT_IN_ROOM for a user elsewhere, E_SELF, E_FILE_UNREADABLE', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const file = await writeTestFile(ctx.dir.path, 'x.bin', 10);
  assert.is(await failure(ann.client.sendFile('bob', path.join(ctx.dir.path, 'missing.bin'))), 'E_FILE_UNREADABLE');
  assert.is(await failure(ann.client.sendFile('ann', file)), 'E_SELF');
  await bob.client.create('elsewhere');
  // ann's room list no longer has bob once the presence arrives.
  await ann.rec.waitFor('presence', (e) => e.user === 'bob' && e.event === 'leave');
  assert.is(await failure(ann.client.sendFile('bob', file)), 'E_NOT_IN_ROOM');
});

it('cancel by the receiver in the middle: E_CANCELLED on both sides, the partial file removed', async (ctx) => {
  const ann = await online(ctx, 'ann', { transfers: { direct: false } });
  const bob = await online(ctx, 'bob', { transfers: { direct: false } });
  const file = await writeTestFile(ctx.dir.path, 'cancelled.bin', 50 * MB);
  const sent = await ann.client.sendFile('bob', file);
  const offer = await bob.rec.waitFor('transfer-offer');
  await bob.client.acceptTransfer(offer.id);
  // As soon as the transfer runs (or straight away if it is quick), cancel.
  await bob.rec.waitFor('transfer-state', (e) => e.id === sent.id && (e.state === 'transferring' || e.state === 'completed'));
  await bob.client.run(`/cancel ${offer.id}`);
  const bobEnd = await bob.rec.waitForEvent((e) => (e.type === 'transfer-failed' || e.type === 'transfer-done') && e.id === sent.id);
  if (bobEnd.type !== 'transfer-failed') {
    // The whole file went through before the cancel: nothing left to check.
    return;
  }
  assert.equal([bobEnd.state, bobEnd.code], ['cancelled', 'E_CANCELLED']);
  const annEnd = await ann.rec.waitFor('transfer-failed', (e) => e.id === sent.id);
  assert.equal([annEnd.state, annEnd.code], ['cancelled', 'E_CANCELLED']);
  const left = await fs.readdir(bob.downloads);
  assert.equal(left, [], 'no partial file kept');
});

it('a relay pipe cut in the middle resumes on a new pipe and ends with the right hash', async (ctx) => {
  ctx.proxy = new CuttingProxy(ctx.relay.port);
  const port = await ctx.proxy.start();
  const ann = await online(ctx, 'ann', { port, transfers: { direct: false } });
  const bob = await online(ctx, 'bob', { port, transfers: { direct: false } });
  ctx.proxy.markChat();
  ctx.proxy.cutPipesAfter(12 * MB);
  const file = await writeTestFile(ctx.dir.path, 'resumed.bin', 40 * MB);
  const expected = await sha256OfFile(file);
  const { sent, received } = await sendAndAccept(ann, bob, file);
  assert.is(ctx.proxy.cuts, 1, 'the pipe was cut once');
  assert.is(await sha256OfFile(received.file), expected);
  assert.is(received.path, 'relay');
  const listed = bob.client.transfers.list().find((t) => t.id === sent.id);
  assert.ok((listed?.sessions ?? 0) >= 2, `sessions ${listed?.sessions}`);
  // The chat connections were never touched.
  assert.is(ann.rec.of('disconnected').length, 0);
});

it('a direct data connection dropped in the middle resumes from the last acknowledged byte, right hash', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const file = await writeTestFile(ctx.dir.path, 'dropped.bin', 50 * MB);
  const expected = await sha256OfFile(file);
  const sent = await ann.client.sendFile('bob', file);
  const offer = await bob.rec.waitFor('transfer-offer');
  // The first progress report comes with the first acknowledgement (about 1 MB in): drop there.
  let dropped = false;
  const stop = bob.client.on('transfer-progress', (event) => {
    if (dropped || event.id !== sent.id || event.bytes >= event.total) return;
    dropped = true;
    stop();
    bob.client.transfers.get(sent.id)?.reconnect();
  });
  await bob.client.acceptTransfer(offer.id);
  const received = await bob.rec.waitFor('transfer-done', (e) => e.id === sent.id);
  assert.ok(dropped, 'the connection was dropped mid-way');
  assert.is(await sha256OfFile(received.file), expected);
  const listed = bob.client.transfers.list().find((t) => t.id === sent.id);
  assert.ok((listed?.sessions ?? 0) >= 2, `sessions ${listed?.sessions}`);
  assert.ok(bob.rec.of('transfer-state').some((e) => e.id === sent.id && e.state === 'reconnecting'), 'it went through reconnecting');
});

it('JSON mode: "/send bob FILE" then end of input waits for the transfer, prints its events, exits 0', async (ctx) => {
  const bob = await online(ctx, 'bob');
  const file = await writeTestFile(ctx.dir.path, 'from-a-script.bin', 2 * MB);
  const input = new PassThrough();
  const output = new PassThrough();
  const lines: string[] = [];
  let buffered = '';
  output.setEncoding('utf8');
  output.on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  const running = runJsonMode({
    client: {
      host: '127.0.0.1',
      port: ctx.relay.port,
      user: 'ann',
      password: PASSWORD,
      register: true,
      trust: { fingerprint: ctx.relay.fingerprint },
      configDir: path.join(ctx.dir.path, 'ann-config'),
      dataDir: path.join(ctx.dir.path, 'ann-data'),
      transfers: { transfer: loopbackOptions() },
    },
    input,
    output,
  });
  input.end(`/send bob ${file}\n`);
  const offer = await bob.rec.waitFor('transfer-offer');
  await bob.client.acceptTransfer(offer.id);
  const status = await running;
  const events = lines.map((line) => JSON.parse(line) as ChatEvent);
  assert.is(status, 0, JSON.stringify(events.filter((e) => e.type === 'error')));
  const done = events.find((e): e is ChatEventOf<'transfer-done'> => e.type === 'transfer-done');
  assert.ok(done, 'transfer-done printed');
  assert.equal([done!.id, done!.direction, done!.peer], [offer.id, 'out', 'bob']);
  const received = await bob.rec.waitFor('transfer-done');
  assert.is(await sha256OfFile(received.file), await sha256OfFile(file));
  assert.is(received.hash, done!.hash);
});

spec.run();
