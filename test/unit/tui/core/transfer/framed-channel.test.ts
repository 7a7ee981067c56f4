import { once } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_HEADER_BYTES, FrameKind, encodeControl, encodeFrame } from '../../../../../shared/codec.js';
import type { ChatError } from '../../../../../shared/errors.js';
import type { ChannelMessage } from '../../../../../tui/core/transfer/wire.js';
import { createTransferCredentials } from '../../../../../tui/core/transfer/credentials.js';
import { type ChannelHandlers, FramedChannel } from '../../../../../tui/core/transfer/framed-channel.js';
import { openSecureChannel } from '../../../../../tui/core/transfer/secure-channel.js';
import { memoryDuplexPair } from '../../../../helpers/transfer-helpers.js';

const MAX_PAYLOAD = 1024;

async function securePair(): Promise<[TLSSocket, TLSSocket]> {
  const [sender, receiver] = await Promise.all([createTransferCredentials(), createTransferCredentials()]);
  const [a, b] = memoryDuplexPair();
  return Promise.all([
    openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }),
    openSecureChannel(b, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000 }),
  ]);
}

function recorder() {
  const seen: { messages: ChannelMessage[]; data: string[]; closed: Array<string | null> } = { messages: [], data: [], closed: [] };
  let onClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (onClosed = resolve));
  const waiters: Array<{ t: string; resolve: () => void }> = [];
  /** Resolves when a message of type `t` arrives (after everything sent before it). */
  const message = (t: string): Promise<void> => new Promise((resolve) => waiters.push({ t, resolve }));
  const handlers: ChannelHandlers = {
    onMessage: (received) => {
      seen.messages.push(received);
      for (const waiter of waiters.filter((w) => w.t === received.t)) waiter.resolve();
    },
    onData: (payload) => seen.data.push(payload.toString()),
    onClose: (error) => {
      seen.closed.push(error === null ? null : (error as ChatError).code);
      onClosed();
    },
  };
  return { seen, handlers, closed, message };
}

test('messages and data frames arrive in order; messages before any listener are held', async () => {
  const [a, b] = await securePair();
  const left = new FramedChannel(a, MAX_PAYLOAD);
  const right = new FramedChannel(b, MAX_PAYLOAD);
  left.send({ t: 'go', transferId: 'transfer-abcdefgh' });
  // Decrypted bytes go to one reused buffer, not 'data' events: wait until the channel holds the message.
  for (let i = 0; i < 200 && (right as unknown as { held: unknown[] }).held.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const { seen, handlers, closed, message } = recorder();
  right.setHandlers(handlers);
  assert.equal(seen.messages, [{ t: 'go', transferId: 'transfer-abcdefgh' }], 'held until a listener came');
  const frame = FramedChannel.allocateDataFrame(10);
  frame.write('0123456789', FRAME_HEADER_BYTES);
  left.sendDataFrame(frame, 4); // only 4 bytes were filled
  const ended = message('end');
  left.send({ t: 'end' });
  await ended;
  assert.equal(seen.data, ['0123']);
  assert.equal(seen.messages.at(-1), { t: 'end' });
  left.destroy();
  await closed;
  assert.equal(seen.closed, ['E_CLOSED']);
  assert.ok(right.isClosed);
});

async function expectClose(raw: Buffer, code: string): Promise<void> {
  const [a, b] = await securePair();
  const right = new FramedChannel(b, MAX_PAYLOAD);
  const { seen, handlers, closed } = recorder();
  right.setHandlers(handlers);
  a.write(raw);
  await closed;
  assert.equal(seen.closed, [code]);
  a.destroy();
}

test('E_FRAME_TOO_LARGE: a frame over the chunk size closes the channel', async () => {
  await expectClose(encodeFrame(FrameKind.data, Buffer.alloc(MAX_PAYLOAD + 1)), 'E_FRAME_TOO_LARGE');
});

test('E_PROTOCOL: bad JSON, unknown messages, bad fields, unknown frame kinds', async () => {
  await expectClose(encodeFrame(FrameKind.control, Buffer.from('{not json')), 'E_PROTOCOL');
  await expectClose(encodeControl({ t: 'launch-missiles' }), 'E_PROTOCOL');
  await expectClose(encodeControl({ t: 'ack', offset: -5 }), 'E_PROTOCOL');
  await expectClose(encodeControl({ t: 'abort', code: 'E_WHATEVER' }), 'E_PROTOCOL');
  const weird = encodeFrame(FrameKind.data, Buffer.from('x'));
  weird[4] = 9;
  await expectClose(weird, 'E_PROTOCOL');
});

test('E_PROTOCOL: file data before anyone listens is refused, not buffered', async () => {
  const [a, b] = await securePair();
  const right = new FramedChannel(b, MAX_PAYLOAD);
  // The channel's own close listener has run by then (`once` would reject on the socket's error first).
  const gone = new Promise((resolve) => b.once('close', resolve));
  a.write(encodeFrame(FrameKind.data, Buffer.from('early')));
  await gone;
  assert.ok(right.isClosed);
  const { seen, handlers } = recorder();
  right.setHandlers(handlers);
  assert.equal(seen.closed, ['E_PROTOCOL']);
  assert.equal(seen.data, []);
  a.destroy();
});

test.run();
