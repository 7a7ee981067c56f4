import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WireClient, errorCodeOf } from '../../helpers/wire-client.js';
import { openPipe, readBytes, ticketFor } from '../../helpers/pipes.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';
import type { RunningRelay } from '../../../relay/server.js';

async function withRelay(fn: (relay: RunningRelay, log: string[]) => Promise<void>, limits = {}): Promise<void> {
  const dir = await tempDir();
  const log: string[] = [];
  const relay = await testRelay(dir.path, { log: (line) => log.push(line), limits });
  try {
    await fn(relay, log);
  } finally {
    await relay.close();
    await dir.remove();
  }
}

test('two tickets for one transfer join a pipe that carries raw bytes both ways; the log has sizes only', () =>
  withRelay(async (relay, log) => {
    const ann = await WireClient.session(relay.port, 'ann');
    const bob = await WireClient.session(relay.port, 'bob');
    const annTicket = await ticketFor(ann, 'bob', 'transfer-0001');
    const bobTicket = await ticketFor(bob, 'ann', 'transfer-0001');
    const [annPipe, bobPipe] = await Promise.all([openPipe(relay.port, annTicket), openPipe(relay.port, bobTicket)]);
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    payload.write('SECRET-MARKER-PIPE');
    const atBob = readBytes(bobPipe, payload.length);
    annPipe.socket.write(payload);
    assert.ok((await atBob).equals(payload));
    const atAnn = readBytes(annPipe, 5);
    bobPipe.socket.write('reply');
    assert.is((await atAnn).toString(), 'reply');
    annPipe.close();
    await bobPipe.whenClosed();
    assert.ok(log.some((line) => line.includes('transfer-0001') && line.includes(`${payload.length} bytes`)), log.join('\n'));
    assert.not.ok(log.some((line) => line.includes('SECRET-MARKER')));
    const still = await ann.request({ t: 'ping', id: 'x' });
    assert.is(still.t, 'pong', 'the chat connection is unaffected');
    for (const client of [ann, bob]) client.close();
  }));

test('tickets: unknown, reused, for an offline peer or oneself are refused', () =>
  withRelay(async (relay) => {
    const ann = await WireClient.session(relay.port, 'ann');
    const bob = await WireClient.session(relay.port, 'bob');
    await WireClient.session(relay.port, 'cat').then((cat) => cat.request({ t: 'exit', id: 'x' }));
    assert.is(errorCodeOf(await ann.request({ t: 'pipe-ticket', id: 'a', transfer: 'transfer-0002', peer: 'cat' })), 'E_NOT_IN_ROOM');
    assert.is(errorCodeOf(await ann.request({ t: 'pipe-ticket', id: 'b', transfer: 'transfer-0002', peer: 'nobody' })), 'E_NO_SUCH_USER');
    assert.is(errorCodeOf(await ann.request({ t: 'pipe-ticket', id: 'c', transfer: 'transfer-0002', peer: 'ann' })), 'E_SELF');
    const stranger = await WireClient.open(relay.port);
    stranger.send({ t: 'hello', v: 1 });
    await stranger.next('welcome');
    assert.is(errorCodeOf(await stranger.request({ t: 'pipe', id: 'd', ticket: 'made-up' })), 'E_BAD_TICKET');
    const ticket = await ticketFor(ann, 'bob', 'transfer-0002');
    const used = await WireClient.open(relay.port);
    used.send({ t: 'hello', v: 1 });
    await used.next('welcome');
    used.send({ t: 'pipe', id: 'e', ticket });
    const again = await WireClient.open(relay.port);
    again.send({ t: 'hello', v: 1 });
    await again.next('welcome');
    assert.is(errorCodeOf(await again.request({ t: 'pipe', id: 'f', ticket })), 'E_BAD_TICKET');
    assert.is(errorCodeOf(await ann.request({ t: 'pipe', id: 'g', ticket })), 'E_ALREADY_LOGGED_IN');
    for (const client of [ann, bob, stranger, used, again]) client.close();
  }));

test('a side whose partner never comes gets E_PIPE_TIMEOUT', () =>
  withRelay(
    async (relay) => {
      const ann = await WireClient.session(relay.port, 'ann');
      await WireClient.session(relay.port, 'bob');
      const ticket = await ticketFor(ann, 'bob', 'transfer-0003');
      const alone = await WireClient.open(relay.port);
      alone.send({ t: 'hello', v: 1 });
      await alone.next('welcome');
      assert.is(errorCodeOf(await alone.request({ t: 'pipe', id: 'p', ticket })), 'E_PIPE_TIMEOUT');
      alone.close();
      ann.close();
    },
    { pipeWaitMs: 200 },
  ));

test('a sender over its byte budget is cut off', () =>
  withRelay(
    async (relay, log) => {
      const ann = await WireClient.session(relay.port, 'ann');
      const bob = await WireClient.session(relay.port, 'bob');
      const [annPipe, bobPipe] = await Promise.all([
        ticketFor(ann, 'bob', 'transfer-0004').then((t) => openPipe(relay.port, t)),
        ticketFor(bob, 'ann', 'transfer-0004').then((t) => openPipe(relay.port, t)),
      ]);
      bobPipe.socket.on('data', () => {});
      annPipe.socket.write(Buffer.alloc(256 * 1024));
      await annPipe.whenClosed();
      await bobPipe.whenClosed();
      assert.ok(log.some((line) => line.includes('budget')), log.join('\n'));
      const refused = await ann.request({ t: 'pipe-ticket', id: 'z', transfer: 'transfer-0005', peer: 'bob' });
      assert.is(errorCodeOf(refused), 'E_PIPE_BUDGET');
      ann.close();
      bob.close();
    },
    { pipeBytesPerUserPerHour: 64 * 1024 },
  ));

test.run();
