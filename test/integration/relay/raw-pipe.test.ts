/**
 * The raw relay pipe (relay/raw-pipe-front.ts, tui/core/relay-pipe.ts openRawPipe): a plain TCP
 * connection to the relay's one port, told apart from TLS by its first byte, that carries the
 * peers' bytes with no TLS layer of the relay's. Real relay on loopback.
 */
import net from 'node:net';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RAW_PIPE_PREFIX } from '../../../shared/codec.js';
import { openRawPipe } from '../../../tui/core/relay-pipe.js';
import { createTransferCredentials } from '../../../tui/core/transfer/credentials.js';
import { openSecureChannel } from '../../../tui/core/transfer/secure-channel.js';
import { WireClient } from '../../helpers/wire-client.js';
import { ticketFor } from '../../helpers/pipes.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';
import { codeOrResolved } from '../../helpers/errors.js';
import type { RunningRelay } from '../../../relay/server.js';

async function withRelay(fn: (relay: RunningRelay, log: string[]) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const log: string[] = [];
  const relay = await testRelay(dir.path, { log: (line) => log.push(line) });
  try {
    await fn(relay, log);
  } finally {
    await relay.close();
    await dir.remove();
  }
}

async function tcp(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** Sends `line` raw and returns everything the relay answers before it closes. */
async function answerTo(port: number, line: string | Buffer): Promise<string> {
  const socket = await tcp(port);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(line);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

function readBytes(socket: net.Socket, count: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= count) resolve(Buffer.concat(chunks));
    });
  });
}

test('two raw pipes join: bytes arrive exactly as sent (no relay TLS layer), both ways; chat TLS on the same port still works', () =>
  withRelay(async (relay, log) => {
    const ann = await WireClient.session(relay.port, 'ann');
    const bob = await WireClient.session(relay.port, 'bob');
    const annTicket = await ticketFor(ann, 'bob', 'transfer-raw-0001');
    const bobTicket = await ticketFor(bob, 'ann', 'transfer-raw-0001');
    const [annPipe, bobPipe] = await Promise.all([
      tcp(relay.port).then((s) => openRawPipe(s, { ticket: annTicket, timeoutMs: 5000 })),
      tcp(relay.port).then((s) => openRawPipe(s, { ticket: bobTicket, timeoutMs: 5000 })),
    ]);
    assert.ok(annPipe && bobPipe);
    const payload = Buffer.alloc(2 * 1024 * 1024, 9);
    payload.write('RAW-MARKER');
    const atBob = readBytes(bobPipe!, payload.length);
    bobPipe!.resume();
    annPipe!.write(payload);
    assert.ok((await atBob).equals(payload));
    const atAnn = readBytes(annPipe!, 4);
    annPipe!.resume();
    bobPipe!.write('pong');
    assert.is((await atAnn).toString(), 'pong');
    annPipe!.destroy();
    await once(bobPipe!, 'close');
    assert.ok(log.some((line) => line.includes('transfer-raw-0001') && line.includes(`${payload.length} bytes`)), log.join('\n'));
    assert.not.ok(log.some((line) => line.includes('RAW-MARKER')));
    assert.is((await ann.request({ t: 'ping', id: 'x' })).t, 'pong');
    const again = await WireClient.session(relay.port, 'cat');
    assert.is((await again.request({ t: 'ping', id: 'y' })).t, 'pong', 'new TLS connections on the same port');
    for (const client of [ann, bob, again]) client.close();
  }));

test('the peers\' mutual TLS runs straight on the raw pipe (the data channel as transfers use it)', () =>
  withRelay(async (relay) => {
    const ann = await WireClient.session(relay.port, 'ann');
    const bob = await WireClient.session(relay.port, 'bob');
    const [annTicket, bobTicket] = await Promise.all([ticketFor(ann, 'bob', 'transfer-raw-0002'), ticketFor(bob, 'ann', 'transfer-raw-0002')]);
    const [sender, receiver] = await Promise.all([createTransferCredentials(), createTransferCredentials()]);
    const [annPipe, bobPipe] = await Promise.all([
      tcp(relay.port).then((s) => openRawPipe(s, { ticket: annTicket, timeoutMs: 5000 })),
      tcp(relay.port).then((s) => openRawPipe(s, { ticket: bobTicket, timeoutMs: 5000 })),
    ]);
    const [s, r] = await Promise.all([
      openSecureChannel(annPipe!, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }),
      openSecureChannel(bobPipe!, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000 }),
    ]);
    assert.is(s.getProtocol(), 'TLSv1.3');
    const got = once(r, 'data');
    s.write('end to end');
    assert.is(String((await got)[0]), 'end to end');
    s.destroy();
    for (const client of [ann, bob]) client.close();
  }));

test('hostile raw requests: malformed line, unknown ticket, oversized line; E_BAD_TICKET from openRawPipe', () =>
  withRelay(async (relay) => {
    assert.is(await answerTo(relay.port, `${RAW_PIPE_PREFIX}not a ticket!\n`), 'error E_PROTOCOL\n');
    assert.is(await answerTo(relay.port, `${RAW_PIPE_PREFIX}${'A'.repeat(32)}\n`), 'error E_BAD_TICKET\n');
    assert.is(await answerTo(relay.port, Buffer.alloc(400, 'S')), 'error E_PROTOCOL\n');
    assert.is(await answerTo(relay.port, 'SCPIPE/2 abc\n'), 'error E_PROTOCOL\n');
    // Nothing may follow the line before `ready` (the client's TLS starts only then).
    assert.is(await answerTo(relay.port, `${RAW_PIPE_PREFIX}${'A'.repeat(32)}\nhello`), 'error E_PROTOCOL\n');
    assert.is(await codeOrResolved(tcp(relay.port).then((s) => openRawPipe(s, { ticket: 'B'.repeat(32), timeoutMs: 5000 }))), 'E_BAD_TICKET');
  }));

test('a ticket is good once: the same ticket over the raw pipe and the TLS pipe', () =>
  withRelay(async (relay) => {
    const ann = await WireClient.session(relay.port, 'ann');
    await WireClient.session(relay.port, 'bob');
    const ticket = await ticketFor(ann, 'bob', 'transfer-raw-0003');
    // The first use waits for the partner; a second use of the same ticket is refused at once.
    const first = tcp(relay.port).then((s) => openRawPipe(s, { ticket, timeoutMs: 1000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.is(await answerTo(relay.port, `${RAW_PIPE_PREFIX}${ticket}\n`), 'error E_BAD_TICKET\n');
    assert.is(await codeOrResolved(first), 'E_TIMEOUT');
    ann.close();
  }));

test('a relay from before raw pipes (its TLS refuses the line and closes): openRawPipe resolves null, so the client uses the TLS pipe', async () => {
  const old = net.createServer((socket) => socket.once('data', () => socket.destroy()));
  old.listen(0, '127.0.0.1');
  await once(old, 'listening');
  try {
    const socket = await tcp((old.address() as net.AddressInfo).port);
    assert.is(await openRawPipe(socket, { ticket: 'C'.repeat(32), timeoutMs: 5000 }), null);
  } finally {
    old.close();
  }
});

test.run();
