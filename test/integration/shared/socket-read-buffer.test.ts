/** readIntoBuffer: a TLS socket's decrypted bytes into one reused buffer (real TLS 1.3 on loopback). */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createTransferCredentials } from '../../../tui/core/transfer/credentials.js';
import { openSecureChannel } from '../../../tui/core/transfer/secure-channel.js';
import { readIntoBuffer } from '../../../shared/socket-read-buffer.js';
import { tcpPair } from '../../helpers/transfer-helpers.js';

test('every byte arrives in order through the one buffer; no data events; bytes held before come first; pause, resume and end work', async () => {
  const [sender, receiver] = await Promise.all([createTransferCredentials(), createTransferCredentials()]);
  const [a, b] = await tcpPair();
  const [s, r] = await Promise.all([
    openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }),
    openSecureChannel(b, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000 }),
  ]);
  // Sent before the buffer is installed: it waits in the stream and must come out first.
  s.write('early bytes|');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const payload = Buffer.alloc(5 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
  const buffer = Buffer.alloc(64 * 1024);
  const got = createHash('sha256');
  let bytes = 0;
  let buffersSeen = new Set<ArrayBufferLike>();
  let dataEvents = 0;
  const installed = readIntoBuffer(r, buffer, (count, into) => {
    buffersSeen.add(into.buffer);
    got.update(into.subarray(0, count));
    bytes += count;
  });
  assert.ok(installed, 'this Node supports it');
  r.on('data', () => dataEvents++);
  r.pause();
  r.resume();
  const ended = once(r, 'end');
  s.end(payload);
  await ended;
  const expected = createHash('sha256').update('early bytes|').update(payload).digest('hex');
  assert.is(bytes, payload.length + 'early bytes|'.length);
  assert.is(got.digest('hex'), expected);
  assert.is(dataEvents, 0);
  buffersSeen.delete(buffer.buffer);
  // Only the early chunk (a copy from the stream's buffer) came in another buffer.
  assert.ok(buffersSeen.size <= 1, `${buffersSeen.size} other buffers`);
  buffersSeen = new Set();
  r.destroy();
});

test.run();
