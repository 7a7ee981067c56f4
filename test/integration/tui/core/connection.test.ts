import fs from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from 'selfsigned';
import { encodeControl, encodeFrame, FrameKind } from '../../../../shared/codec.js';
import { ChatError } from '../../../../shared/errors.js';
import { resolveLimits } from '../../../../shared/limits.js';
import type { RelayMessage } from '../../../../shared/messages.js';
import { dialRelay, type ChatConnection } from '../../../../tui/core/connection.js';
import { KnownRelays, fingerprintOfDer, type TrustOptions } from '../../../../tui/core/trust.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { errorOf } from '../../../helpers/errors.js';
import { makeTempDir } from '../../../helpers/temp.js';

/** uvu's test, with ChatErrors reported readably (see test/helpers/core-helpers.ts). */
const test = Object.assign((name: string, handler: () => unknown) => uvuTest(name, plainErrors(handler)), {
  before: uvuTest.before,
  after: uvuTest.after,
  run: uvuTest.run,
});

/**
 * The client's side of one connection against a scripted TLS server (not the relay): trust
 * decisions with real certificates, nothing sent before they pass, and inbound frames that
 * break the protocol.
 */
type Pem = { cert: string; key: string; fingerprint: string };
let certA: Pem;
let certB: Pem;
let dir = '';
const servers: tls.Server[] = [];
const limits = resolveLimits({ handshakeTimeoutMs: 3_000 });

async function makeCert(): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
  });
  return { cert: pems.cert, key: pems.private, fingerprint: fingerprintOfDer(new X509Certificate(pems.cert).raw) };
}

interface FakeRelay {
  port: number;
  /** Bytes the client sent, per connection. */
  received: Buffer[];
  sockets: tls.TLSSocket[];
  /** Connections whose socket has closed: all the client wrote on them has arrived. */
  closed: number;
  /** Resolves once `condition` holds, checked at each connection and each close (fails after 10 s). */
  when(condition: () => boolean): Promise<void>;
}

async function fakeRelay(pem: Pem, onConnection: (socket: tls.TLSSocket) => void = () => {}, options: tls.TlsOptions = {}): Promise<FakeRelay> {
  const waiters: Array<() => boolean> = [];
  const changed = (): void => {
    for (const waiter of [...waiters]) if (waiter()) waiters.splice(waiters.indexOf(waiter), 1);
  };
  const relay: FakeRelay = {
    port: 0,
    received: [],
    sockets: [],
    closed: 0,
    when: (condition) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`fake relay: condition not met within 10 s: ${condition}`)), 10_000);
        const check = (): boolean => (condition() ? (clearTimeout(timer), resolve(), true) : false);
        if (!check()) waiters.push(check);
      }),
  };
  const server = tls.createServer({ cert: pem.cert, key: pem.key, ...options }, (socket) => {
    const index = relay.received.push(Buffer.alloc(0)) - 1;
    relay.sockets.push(socket);
    socket.on('data', (chunk: Buffer) => (relay.received[index] = Buffer.concat([relay.received[index], chunk])));
    socket.on('error', () => {});
    socket.on('close', () => {
      relay.closed += 1;
      changed();
    });
    onConnection(socket);
    changed();
  });
  server.on('tlsClientError', () => {});
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = (server.address() as AddressInfo).port;
  return relay;
}

let storeCount = 0;
function freshKnown(): KnownRelays {
  storeCount += 1;
  return new KnownRelays(path.join(dir, `c${storeCount}`, 'known_relays'));
}

function dial(relay: FakeRelay, trust: TrustOptions, known = freshKnown()): Promise<ChatConnection> {
  return dialRelay({ host: '127.0.0.1', port: relay.port, trust, knownRelays: known, limits });
}

/** Runs a started connection until it closes; returns messages and the close reason. */
function drive(conn: ChatConnection): Promise<{ messages: RelayMessage[]; reason: ChatError }> {
  const messages: RelayMessage[] = [];
  return new Promise((resolve) => conn.start({ onMessage: (m) => messages.push(m), onClose: (reason) => resolve({ messages, reason }) }));
}

test.before(async () => {
  dir = await makeTempDir('securechat-conn-');
  [certA, certB] = await Promise.all([makeCert(), makeCert()]);
});

test.after(async () => {
  for (const server of servers) {
    server.close();
  }
  await fs.rm(dir, { recursive: true, force: true });
});

test('an untrusted relay is refused before a single byte is sent', async () => {
  const relay = await fakeRelay(certA);
  const error = await errorOf(dial(relay, {}));
  assert.is(error.code, 'E_UNTRUSTED');
  assert.is(error.details.fingerprint, certA.fingerprint);
  // Once the relay's side has closed, whatever the client wrote has arrived.
  await relay.when(() => relay.closed === 1);
  assert.is(relay.received.length, 1);
  assert.is(relay.received[0].length, 0, 'nothing was written before the check');
});

test('localAddress: the connection comes from the local address asked for', async () => {
  const relay = await fakeRelay(certA);
  const connection = await dialRelay({ host: '127.0.0.1', port: relay.port, trust: { fingerprint: certA.fingerprint }, knownRelays: freshKnown(), limits, localAddress: '127.0.0.7' });
  // The server side may finish its handshake a moment after the client's.
  await relay.when(() => relay.sockets.length === 1);
  assert.is(relay.sockets[0]?.remoteAddress, '127.0.0.7');
  connection.destroy();
});

test('tofu records the relay; the next dial knows it; a new certificate on the same address is refused', async () => {
  const known = freshKnown();
  const relay = await fakeRelay(certA);
  const first = await dial(relay, { tofu: true }, known);
  assert.is(first.trust.basis, 'tofu');
  assert.is(first.trust.recorded, true);
  assert.is(first.fingerprint, certA.fingerprint);
  first.destroy();
  assert.is(await known.lookup(`127.0.0.1:${relay.port}`), certA.fingerprint);
  const second = await dial(relay, {}, known);
  assert.is(second.trust.basis, 'known');
  second.destroy();

  // Someone else answers on that address now.
  const impostor = await fakeRelay(certB);
  await fs.appendFile(known.file, `127.0.0.1:${impostor.port} ${certA.fingerprint}\n`);
  const changed = await errorOf(dial(impostor, { tofu: true }, known));
  assert.is(changed.code, 'E_FINGERPRINT_CHANGED');
  assert.is(changed.details.old, certA.fingerprint);
  assert.is(changed.details.new, certB.fingerprint);
  await impostor.when(() => impostor.closed === impostor.sockets.length && impostor.sockets.length > 0);
  assert.ok(impostor.received.every((b) => b.length === 0));
});

test('a pinned fingerprint: match connects, mismatch is refused', async () => {
  const relay = await fakeRelay(certA);
  const ok = await dial(relay, { fingerprint: certA.fingerprint });
  assert.is(ok.trust.basis, 'pin');
  ok.destroy();
  const mismatch = await errorOf(dial(relay, { fingerprint: certB.fingerprint }));
  assert.is(mismatch.code, 'E_FINGERPRINT_MISMATCH');
});

test('--ca: a relay certificate from that CA is verified by TLS; another one is refused', async () => {
  const relay = await fakeRelay(certA);
  const viaCa = await dial(relay, { ca: certA.cert });
  assert.is(viaCa.trust.basis, 'ca');
  viaCa.destroy();
  const wrongCa = await errorOf(dial(relay, { ca: certB.cert, tofu: true }));
  assert.is(wrongCa.code, 'E_UNTRUSTED');
});

test('nothing listening is E_CONNECT; a TLS 1.2-only server is E_TLS', async () => {
  const closed = await fakeRelay(certA);
  await new Promise((resolve) => servers.pop()!.close(resolve));
  assert.is((await errorOf(dial(closed, { tofu: true }))).code, 'E_CONNECT');
  const old = await fakeRelay(certA, () => {}, { maxVersion: 'TLSv1.2' });
  assert.is((await errorOf(dial(old, { tofu: true }))).code, 'E_TLS');
});

test('valid frames arrive as validated messages, split across chunks', async () => {
  const frames = Buffer.concat([
    encodeControl({ t: 'welcome', v: 1, server: 'fake', registration: 'open', challenge: 'c2VjcmV0' }),
    encodeControl({ t: 'pong', re: 'p1', time: 5 }),
  ]);
  const relay = await fakeRelay(certA, (socket) => {
    // One byte at a time: the decoder must put frames back together.
    let i = 0;
    const tick = setInterval(() => {
      if (i >= frames.length) {
        clearInterval(tick);
        socket.end();
        return;
      }
      socket.write(frames.subarray(i, i + 7));
      i += 7;
    }, 1);
  });
  const conn = await dial(relay, { fingerprint: certA.fingerprint });
  const { messages, reason } = await drive(conn);
  assert.equal(messages.map((m) => m.t), ['welcome', 'pong']);
  assert.is(reason.code, 'E_CLOSED');
});

for (const [what, bytes, code] of [
  ['garbage bytes', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'E_FRAME_TOO_LARGE'],
  ['an oversize frame header', (() => { const b = Buffer.alloc(5); b.writeUInt32BE(limits.maxFrameBytes + 1); b[4] = 1; return b; })(), 'E_FRAME_TOO_LARGE'],
  ['a frame of unknown kind', encodeFrame(7 as FrameKind, Buffer.from('{}')), 'E_PROTOCOL'],
  ['a control frame that is not JSON', encodeFrame(FrameKind.control, Buffer.from('{nope')), 'E_PROTOCOL'],
  ['a message of an unknown type', encodeControl({ t: 'surprise' }), 'E_PROTOCOL'],
  ['a message of the wrong shape', encodeControl({ t: 'ack', re: 'x', room: 'global', seq: -1, time: 1 }), 'E_PROTOCOL'],
] as const) {
  test(`${what} from the relay closes the connection with ${code}`, async () => {
    const relay = await fakeRelay(certA, (socket) => {
      socket.write(encodeControl({ t: 'welcome', v: 1, server: 'fake', registration: 'open', challenge: 'c2VjcmV0' }));
      socket.write(bytes);
    });
    const conn = await dial(relay, { fingerprint: certA.fingerprint });
    const { messages, reason } = await drive(conn);
    assert.equal(messages.map((m) => m.t), ['welcome']);
    assert.is(reason.code, code);
    assert.ok(conn.closed);
  });
}

test('data frames go to onData; sending after close is E_CLOSED', async () => {
  const relay = await fakeRelay(certA, (socket) => {
    socket.write(encodeFrame(FrameKind.data, Buffer.from([1, 2, 3])));
    setTimeout(() => socket.end(), 20);
  });
  const conn = await dial(relay, { fingerprint: certA.fingerprint });
  const data: Buffer[] = [];
  await new Promise<void>((resolve) => conn.start({ onMessage: () => {}, onData: (p) => data.push(p), onClose: () => resolve() }));
  assert.equal([...data[0]], [1, 2, 3]);
  assert.throws(() => conn.send({ t: 'ping', id: 'p' }), (e: ChatError) => e.code === 'E_CLOSED');
});

test.run();
