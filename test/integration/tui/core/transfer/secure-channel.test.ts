import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type TransferCredentials, certificateFingerprint, createTransferCredentials } from '../../../../../tui/core/transfer/credentials.js';
import { openSecureChannel } from '../../../../../tui/core/transfer/secure-channel.js';
import { memoryDuplexPair, tcpPair } from '../../../../helpers/transfer-helpers.js';
import { codeOrResolved } from '../../../../helpers/errors.js';

let sender: TransferCredentials;
let receiver: TransferCredentials;
let stranger: TransferCredentials;

test.before(async () => {
  [sender, receiver, stranger] = await Promise.all([createTransferCredentials(), createTransferCredentials(), createTransferCredentials()]);
});

async function secureBoth(a: Duplex, b: Duplex) {
  return Promise.all([
    openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }),
    openSecureChannel(b, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000 }),
  ]);
}

test('credentials are fresh per transfer and their fingerprint is the certificate SHA-256', () => {
  assert.is.not(sender.fingerprint, receiver.fingerprint);
  assert.is(certificateFingerprint(sender.cert), sender.fingerprint);
  assert.match(sender.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.match(sender.key, /BEGIN PRIVATE KEY/);
});

test('mutual TLS 1.3 over a TCP socket, whichever side dialled', async () => {
  const [dialled, accepted] = await tcpPair();
  // The receiver dialled here, but TLS roles follow the transfer roles.
  const [s, r] = await secureBoth(accepted, dialled);
  assert.is(s.getProtocol(), 'TLSv1.3');
  assert.is(r.getProtocol(), 'TLSv1.3');
  r.write('hello sender');
  const [data] = await new Promise<Buffer[]>((resolve) => s.once('data', (chunk: Buffer) => resolve([chunk])));
  assert.is(data.toString(), 'hello sender');
  s.destroy();
  r.destroy();
});

test('mutual TLS 1.3 over any Duplex (an in-memory pair standing in for a relay pipe)', async () => {
  const [a, b] = memoryDuplexPair();
  const [s, r] = await secureBoth(a, b);
  s.write('through the pipe');
  const data = await new Promise<Buffer>((resolve) => r.once('data', resolve));
  assert.is(data.toString(), 'through the pipe');
  s.destroy();
  r.destroy();
});

test('E_PEER_AUTH: the receiver refuses a sender with another certificate', async () => {
  const [a, b] = await tcpPair();
  const [senderSide, receiverSide] = await Promise.all([
    codeOrResolved(openSecureChannel(a, { role: 'sender', credentials: stranger, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 })),
    codeOrResolved(openSecureChannel(b, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000 })),
  ]);
  assert.is(receiverSide, 'E_PEER_AUTH');
  assert.is.not(senderSide, 'resolved', 'the impostor gets no channel either');
});

test('E_PEER_AUTH: the sender refuses a receiver with another certificate', async () => {
  const [a, b] = await tcpPair();
  const [senderSide] = await Promise.all([
    codeOrResolved(openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 })),
    codeOrResolved(openSecureChannel(b, { role: 'receiver', credentials: stranger, peerFingerprint: sender.fingerprint, timeoutMs: 5000 })),
  ]);
  assert.is(senderSide, 'E_PEER_AUTH');
});

test('E_PEER_AUTH: a client without any certificate gets nothing', async () => {
  const [a, b] = await tcpPair();
  const client = tls.connect({ socket: b, rejectUnauthorized: false });
  let appBytes = 0;
  client.on('data', (chunk: Buffer) => (appBytes += chunk.length));
  client.on('error', () => undefined);
  const code = await codeOrResolved(openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }));
  assert.is(code, 'E_PEER_AUTH');
  await new Promise((resolve) => client.once('close', resolve));
  assert.is(appBytes, 0);
});

test('E_TLS: a peer limited to TLS 1.2 is refused', async () => {
  const [a, b] = await tcpPair();
  const old = tls.connect({ socket: b, rejectUnauthorized: false, maxVersion: 'TLSv1.2', key: receiver.key, cert: receiver.cert });
  old.on('error', () => undefined);
  const code = await codeOrResolved(openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }));
  assert.is(code, 'E_TLS');
  old.destroy();
});

test('E_HANDSHAKE_TIMEOUT when the other end says nothing; E_CANCELLED on abort; E_CLOSED when it hangs up', async () => {
  const [a1, b1] = memoryDuplexPair();
  assert.is(await codeOrResolved(openSecureChannel(a1, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 50 })), 'E_HANDSHAKE_TIMEOUT');
  b1.destroy();

  const [a2, b2] = memoryDuplexPair();
  const controller = new AbortController();
  const pending = openSecureChannel(a2, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000, signal: controller.signal });
  controller.abort();
  assert.is(await codeOrResolved(pending), 'E_CANCELLED');
  b2.destroy();

  const [a3, b3] = await tcpPair();
  const closing = openSecureChannel(a3, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 });
  b3.destroy();
  const code = await codeOrResolved(closing);
  assert.ok(code === 'E_CLOSED' || code === 'E_TLS', code);
});

test.run();
