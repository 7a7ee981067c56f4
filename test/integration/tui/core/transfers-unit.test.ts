/**
 * The client's transfer layer without a relay: the pipe handshake reader (FrameDecoder one frame at a time,
 * openPipe against a small TLS server that speaks the relay's side of it), and the
 * TransferManager of two users joined by an in-process host (signals delivered through a
 * JSON round trip, the relay pipe by the transfer tests' byte forwarder).
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder, FrameKind, encodeControl, encodeFrame } from '../../../../shared/codec.js';
import { ChatError } from '../../../../shared/errors.js';
import type { TransferPeerMessage } from '../../../../tui/core/transfer/wire.js';
import { createSelfSignedCertificate } from '../../../../relay/certs.js';
import type { ChatEvent, ChatEventOf, ChatEventType } from '../../../../tui/core/events.js';
import { openPipe } from '../../../../tui/core/relay-pipe.js';
import { TransferManager, expandPath, defaultDownloadDir, type ClientTransferOptions } from '../../../../tui/core/transfer/manager.js';
import { WhisperCrypto, SIGNAL_PREFIX } from '../../../../tui/core/whispers.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { failure } from '../../../helpers/errors.js';
import { eventually } from '../../../helpers/wait.js';
import { PipeForwarder, sha256OfFile, exists, loopbackOptions, writeTestFile } from '../../../helpers/transfer-helpers.js';
import { makeTempDir } from '../../../helpers/temp.js';

const WAIT_MS = 20_000;

// ---- FrameDecoder.next and openPipe ---------------------------------------------------------------

const pipe = suite('relay pipe handshake');

pipe('FrameDecoder.next takes whole frames one at a time and leaves what follows', () => {
  const splitter = new FrameDecoder(1024);
  const a = encodeControl({ t: 'welcome' });
  const b = encodeControl({ t: 'pipe-ready', re: 'x' });
  const raw = Buffer.from('raw bytes of the peer');
  const all = Buffer.concat([a, b, raw]);
  splitter.append(all.subarray(0, 3));
  assert.is(splitter.next(), null);
  splitter.append(all.subarray(3, a.length + 2));
  assert.equal(JSON.parse(splitter.next()!.payload.toString()), { t: 'welcome' });
  assert.is(splitter.next(), null);
  splitter.append(all.subarray(a.length + 2));
  const second = splitter.next()!;
  assert.is(second.kind, FrameKind.control);
  assert.equal(JSON.parse(second.payload.toString()), { t: 'pipe-ready', re: 'x' });
  assert.equal(splitter.rest(), raw);
});

pipe('FrameDecoder.next refuses oversized and empty frames', () => {
  const big = new FrameDecoder(16);
  big.append(encodeControl({ t: 'x'.repeat(64) }));
  assert.throws(() => big.next(), (e: ChatError) => e.code === 'E_FRAME_TOO_LARGE');
  const empty = new FrameDecoder(16);
  empty.append(Buffer.from([0, 0, 0, 0, 1]));
  assert.throws(() => empty.next(), (e: ChatError) => e.code === 'E_PROTOCOL');
});

/** A TLS server playing the relay's side of a pipe: `script` gets each parsed control message. */
async function fakeRelay(script: (socket: tls.TLSSocket, message: Record<string, unknown>) => void): Promise<{ port: number; close(): Promise<void> }> {
  const cert = await createSelfSignedCertificate(['localhost']);
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({ cert: cert.cert, key: cert.key, minVersion: 'TLSv1.3' }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const splitter = new FrameDecoder(64 * 1024);
    socket.on('data', (chunk: Buffer) => {
      splitter.append(chunk);
      for (let frame = splitter.next(); frame !== null; frame = splitter.next()) script(socket, JSON.parse(frame.payload.toString()));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function dialFake(port: number): Promise<tls.TLSSocket> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  await once(socket, 'secureConnect');
  return socket;
}

const welcome = { t: 'welcome', v: 1, server: 'fake', registration: 'open', challenge: 'AAAA' };

pipe(
  'openPipe: hello, welcome, pipe, pipe-ready; bytes in the same write as pipe-ready come first in the stream',
  plainErrors(async () => {
    const seen: string[] = [];
    const relay = await fakeRelay((socket, message) => {
      seen.push(String(message.t));
      if (message.t === 'hello') socket.write(encodeControl(welcome));
      if (message.t === 'pipe') {
        assert.is(message.ticket, 'T1');
        // pipe-ready and the peer's first bytes in one write; then an echo pipe.
        socket.write(Buffer.concat([encodeControl({ t: 'pipe-ready', re: message.id }), Buffer.from('early|')]));
        socket.removeAllListeners('data');
        socket.on('data', (chunk: Buffer) => socket.write(chunk));
      }
    });
    try {
      const socket = await dialFake(relay.port);
      const stream = await openPipe(socket, { ticket: 'T1', clientName: 'test', maxFrameBytes: 64 * 1024, timeoutMs: 5_000 });
      assert.equal(seen, ['hello', 'pipe']);
      const received: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => received.push(chunk));
      // Bytes that look like a frame header must pass untouched too.
      stream.write(encodeFrame(FrameKind.data, Buffer.from('x')));
      stream.write('echo');
      const expected = Buffer.concat([Buffer.from('early|'), encodeFrame(FrameKind.data, Buffer.from('x')), Buffer.from('echo')]);
      await eventually(() => Buffer.concat(received).length >= expected.length, 'the echo through the pipe', WAIT_MS);
      assert.equal(Buffer.concat(received), expected);
      stream.destroy();
    } finally {
      await relay.close();
    }
  }),
);

pipe(
  'openPipe: the relay refuses the ticket (its code), times out (E_TIMEOUT), or is aborted (E_CLOSED)',
  plainErrors(async () => {
    const refusing = await fakeRelay((socket, message) => {
      if (message.t === 'hello') socket.write(encodeControl(welcome));
      if (message.t === 'pipe') socket.write(encodeControl({ t: 'error', re: message.id, code: 'E_AUTH', message: 'bad ticket' }));
    });
    let pipeAsked: () => void = () => undefined;
    const silent = await fakeRelay((socket, message) => {
      if (message.t === 'hello') socket.write(encodeControl(welcome));
      if (message.t === 'pipe') pipeAsked();
    });
    try {
      const base = { ticket: 'T', clientName: 'test', maxFrameBytes: 65536 };
      assert.is(await failure(openPipe(await dialFake(refusing.port), { ...base, timeoutMs: 5_000 })), 'E_AUTH');
      assert.is(await failure(openPipe(await dialFake(silent.port), { ...base, timeoutMs: 200 })), 'E_TIMEOUT');
      const abort = new AbortController();
      const asked = new Promise<void>((resolve) => (pipeAsked = resolve));
      const opening = openPipe(await dialFake(silent.port), { ...base, timeoutMs: 5_000, signal: abort.signal });
      opening.catch(() => undefined); // its code is checked below
      // Aborted while it waits for pipe-ready: once the relay has the request.
      await Promise.race([asked, opening]);
      abort.abort();
      assert.is(await failure(opening), 'E_CLOSED');
    } finally {
      await refusing.close();
      await silent.close();
    }
  }),
);

pipe.run();

// ---- sealed signals on the whisper layer -------------------------------------------------------

test(
  'signals travel sealed with the whisper keys; a signal is never shown as a whisper, nor a whisper taken for a signal',
  plainErrors(async () => {
    const dir = await makeTempDir('securechat-signals-');
    try {
      const events: ChatEvent[] = [];
      const errors: ChatError[] = [];
      let ann: WhisperCrypto | null = null;
      let bob: WhisperCrypto | null = null;
      const open = (user: string, other: () => WhisperCrypto | null) =>
        WhisperCrypto.open({
          dir: path.join(dir, user),
          user,
          fetchKeys: async (name) => ({ user: name, keys: await other()!.ownBundle() }),
          canFetch: () => true,
          emit: (event) => events.push(event),
          emitError: (error) => errors.push(error),
          maxTextBytes: 4096,
          maxBodyChars: 32 * 1024,
        });
      ann = await open('ann', () => bob);
      bob = await open('bob', () => ann);
      const delivered: Array<[string, unknown]> = [];
      const deliver = (from: string, value: unknown) => delivered.push([from, value]);
      const incoming = (body: string, id: string) => ({ from: 'ann', body, time: Date.now(), id });

      const signal = await ann.sealSignal('bob', { t: 'file-reject', transferId: 'AbCdEfGh12345678' });
      bob.receiveSignal(incoming(signal.body, 's1'), deliver);
      await bob.settled();
      assert.equal(delivered, [['ann', { t: 'file-reject', transferId: 'AbCdEfGh12345678' }]]);

      // The same body again: a replay.
      bob.receiveSignal(incoming(signal.body, 's1'), deliver);
      // A fresh signal passed off as a whisper, and a whisper passed off as a signal.
      bob.receive(incoming((await ann.sealSignal('bob', { t: 'x' })).body, 's2'));
      bob.receiveSignal(incoming((await ann.seal('bob', 'hello')).body, 'w1'), deliver);
      await bob.settled();
      assert.is(delivered.length, 1);
      assert.equal(events.filter((e) => e.type === 'whisper'), []);
      assert.equal(errors.map((e) => e.code), ['E_REPLAY', 'E_DECRYPT', 'E_DECRYPT']);
      assert.is(await failure(ann.seal('bob', SIGNAL_PREFIX + '{}')), 'E_USAGE');
      assert.is(await failure(ann.sealSignal('bob', { big: 'x'.repeat(9000) })), 'E_TOO_LARGE');
      await ann.flush();
      await bob.flush();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }),
);

test.run();

// ---- TransferManager between two in-process users ----------------------------------------------

class User {
  readonly events: ChatEvent[] = [];
  readonly manager: TransferManager;
  peer: User | null = null;
  room: string[] = [];
  /** Drop signals of these kinds on the way out (tests). */
  drop = new Set<string>();
  private waiters: Array<{ match: (e: ChatEvent) => boolean; resolve: (e: ChatEvent) => void }> = [];

  constructor(
    readonly name: string,
    forwarder: PipeForwarder | null,
    options: ClientTransferOptions,
  ) {
    this.manager = new TransferManager(
      {
        user: () => this.name,
        roomUsers: () => this.room,
        checkRecipient: async (to) => {
          if (to !== this.peer?.name) throw new ChatError('E_NO_SUCH_USER');
        },
        sendSignal: async (to, message: TransferPeerMessage) => {
          const target = this.peer;
          if (target === null || target.name !== to) throw new ChatError('E_NO_SUCH_USER');
          if (this.drop.has(message.t)) return;
          const copy: unknown = JSON.parse(JSON.stringify(message));
          setImmediate(() => target.manager.handleSignal(this.name, copy));
        },
        openPipe: (transferId: string, _peer: string, signal: AbortSignal): Promise<Duplex> => {
          if (forwarder === null) return Promise.reject(new ChatError('E_CLOSED', 'no relay'));
          return forwarder.dial(transferId, signal);
        },
        observedAddress: () => undefined,
        emit: (event) => {
          this.events.push(event);
          for (const waiter of [...this.waiters]) {
            if (waiter.match(event)) {
              this.waiters.splice(this.waiters.indexOf(waiter), 1);
              waiter.resolve(event);
            }
          }
        },
      },
      options,
    );
  }

  of<T extends ChatEventType>(type: T): ChatEventOf<T>[] {
    return this.events.filter((e): e is ChatEventOf<T> => e.type === type);
  }

  waitFor<T extends ChatEventType>(type: T, match: (e: ChatEventOf<T>) => boolean = () => true): Promise<ChatEventOf<T>> {
    const found = this.of(type).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match: (e: ChatEvent) => e.type === type && match(e as ChatEventOf<T>),
        resolve: (e: ChatEvent) => {
          clearTimeout(timer);
          resolve(e as ChatEventOf<T>);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no ${type} within ${WAIT_MS} ms; last: ${JSON.stringify(this.events.slice(-4))}`));
      }, WAIT_MS);
      this.waiters.push(waiter);
    });
  }
}

type Ctx = { dir: string; forwarder: PipeForwarder; users: User[] };
const manager = suite<Ctx>('TransferManager');

manager.before.each(async (ctx) => {
  ctx.dir = await makeTempDir('securechat-core-transfers-');
  ctx.forwarder = await PipeForwarder.start();
  ctx.users = [];
});

manager.after.each(async (ctx) => {
  await Promise.all(ctx.users.map((u) => u.manager.closeAll()));
  await ctx.forwarder.close();
  await fs.rm(ctx.dir, { recursive: true, force: true });
});

function pair(ctx: Ctx, options: { ann?: ClientTransferOptions; bob?: ClientTransferOptions } = {}): [User, User] {
  const base: ClientTransferOptions = { transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 100 } } };
  const ann = new User('ann', ctx.forwarder, { ...base, ...options.ann });
  const bob = new User('bob', ctx.forwarder, { ...base, downloadDir: path.join(ctx.dir, 'bob-downloads'), ...options.bob });
  ann.peer = bob;
  bob.peer = ann;
  ann.room = ['ann', 'bob'];
  bob.room = ['ann', 'bob'];
  ctx.users.push(ann, bob);
  return [ann, bob];
}

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  manager(name, plainErrors(handler));
}

it('send, offer event, accept into the default folder, done on both sides with the right hash (direct)', async (ctx) => {
  // The core would report progress every chunk here; the manager still sends at most 4 a second.
  const [ann, bob] = pair(ctx, { bob: { transfer: { ...loopbackOptions(), constants: { PROGRESS_INTERVAL_MS: 0 } } } });
  const progressAt: number[] = [];
  bob.manager['host'].emit = ((emit) => (event: ChatEvent) => {
    if (event.type === 'transfer-progress' && event.bytes < event.total) progressAt.push(performance.now());
    emit(event);
  })(bob.manager['host'].emit);
  await fs.mkdir(path.join(ctx.dir, 'bob-downloads'));
  const file = await writeTestFile(ctx.dir, 'photo.jpg', 3 * 1024 * 1024 + 17);
  const sent = await ann.manager.send('BOB', file);
  assert.is(sent.direction, 'out');
  assert.is(sent.peer, 'bob');
  // Offered at once: the sender hashes while sending and gives the hash at the end.
  assert.is(sent.hash, '');
  const offer = await bob.waitFor('transfer-offer');
  assert.equal([offer.id, offer.from, offer.name, offer.size, offer.hash], [sent.id, 'ann', 'photo.jpg', sent.size, '']);
  // A prefix of the id is enough.
  const accepted = await bob.manager.accept(offer.id.slice(0, 6));
  assert.is(path.dirname(accepted.file ?? ''), path.join(ctx.dir, 'bob-downloads'));
  const done = await bob.waitFor('transfer-done');
  const annDone = await ann.waitFor('transfer-done');
  assert.is(done.file, path.join(ctx.dir, 'bob-downloads', 'photo.jpg'));
  const expected = await sha256OfFile(file);
  assert.is(await sha256OfFile(done.file), expected);
  assert.is(done.hash, expected);
  assert.is(annDone.hash, expected);
  assert.ok(done.path === 'lan' || done.path === 'direct', String(done.path));
  assert.ok(bob.of('transfer-progress').length >= 1);
  for (let i = 1; i < progressAt.length; i++) assert.ok(progressAt[i] - progressAt[i - 1] >= 249, 'at most 4 progress events a second');
  const listed = ann.manager.list();
  assert.equal([listed[0].id, listed[0].state, listed[0].percent], [sent.id, 'completed', 100]);
  assert.is(ann.manager.activeCount, 0);
});

it('direct: false on one side still ends up on the relay pipe (its candidates are never dialled)', async (ctx) => {
  const [ann, bob] = pair(ctx, { ann: { direct: false } });
  const file = await writeTestFile(ctx.dir, 'notes.txt', 700_000);
  await ann.manager.send('bob', file);
  const offer = await bob.waitFor('transfer-offer');
  await bob.manager.accept(offer.id, path.join(ctx.dir));
  const done = await bob.waitFor('transfer-done');
  assert.is(done.path, 'relay');
  assert.is(await sha256OfFile(done.file), await sha256OfFile(file));
  assert.is(done.hash, await sha256OfFile(file));
  assert.ok(ctx.forwarder.forwardedBytes > 700_000);
});

it('reject: E_REJECTED on the sender; cancel by the sender: E_CANCELLED on both, partial file removed', async (ctx) => {
  const [ann, bob] = pair(ctx);
  const file = await writeTestFile(ctx.dir, 'a.bin', 100_000);
  const first = await ann.manager.send('bob', file);
  const offer = await bob.waitFor('transfer-offer');
  bob.manager.reject(offer.id);
  const failed = await ann.waitFor('transfer-failed', (e) => e.id === first.id);
  assert.equal([failed.state, failed.code], ['rejected', 'E_REJECTED']);
  assert.is(await failure(() => bob.manager.reject(offer.id)), 'E_TRANSFER_STATE');

  // Cancel while the receiver holds it, before accept, then after.
  const second = await ann.manager.send('bob', file);
  await bob.waitFor('transfer-offer', (e) => e.id === second.id);
  ann.manager.cancel(second.id);
  const cancelled = await bob.waitFor('transfer-failed', (e) => e.id === second.id);
  assert.equal([cancelled.state, cancelled.code], ['cancelled', 'E_CANCELLED']);
  assert.not.ok(await exists(path.join(ctx.dir, 'a (1).bin.part')));
});

it('errors: E_SELF, E_NOT_IN_ROOM, E_FILE_UNREADABLE, E_NO_SUCH_TRANSFER, E_TRANSFER_STATE', async (ctx) => {
  const [ann, bob] = pair(ctx);
  const file = await writeTestFile(ctx.dir, 'x.bin', 10);
  assert.is(await failure(ann.manager.send('ann', file)), 'E_SELF');
  ann.room = ['ann'];
  assert.is(await failure(ann.manager.send('bob', file)), 'E_NOT_IN_ROOM');
  ann.room = ['ann', 'bob'];
  assert.is(await failure(ann.manager.send('bob', path.join(ctx.dir, 'missing'))), 'E_FILE_UNREADABLE');
  assert.is(await failure(ann.manager.accept('nothing-here')), 'E_NO_SUCH_TRANSFER');
  assert.is(await failure(() => ann.manager.cancel('nope')), 'E_NO_SUCH_TRANSFER');
  const sent = await ann.manager.send('bob', file);
  assert.is(await failure(ann.manager.accept(sent.id)), 'E_TRANSFER_STATE');
  assert.is(await failure(() => ann.manager.reject(sent.id)), 'E_TRANSFER_STATE');
  await bob.waitFor('transfer-offer');
  bob.manager.reject(sent.id);
  await ann.waitFor('transfer-failed');
  assert.is(await failure(() => ann.manager.cancel(sent.id)), 'E_TRANSFER_STATE');
});

it('signals from someone else than the peer are ignored; garbage is E_PROTOCOL', async (ctx) => {
  const [ann, bob] = pair(ctx);
  const file = await writeTestFile(ctx.dir, 'y.bin', 10);
  const sent = await ann.manager.send('bob', file);
  await bob.waitFor('transfer-offer');
  // "carol" answering for bob's transfer changes nothing.
  ann.manager.handleSignal('carol', { t: 'file-reject', transferId: sent.id });
  assert.is(ann.manager.list()[0].state, 'offered');
  assert.is(await failure(() => ann.manager.handleSignal('bob', { t: 'file-offer', transferId: 'x' })), 'E_PROTOCOL');
  bob.manager.reject(sent.id);
  await ann.waitFor('transfer-failed');
});

it('paths: ~ expands to the home folder; the default download folder exists', async () => {
  assert.ok(expandPath('~/x').endsWith(`${path.sep}x`));
  assert.not.ok(expandPath('~/x').startsWith('~'));
  assert.ok(path.isAbsolute(expandPath('rel/file')));
  assert.is(defaultDownloadDir('/nonexistent-home', '/tmp/cwd'), '/tmp/cwd');
});

manager.run();
