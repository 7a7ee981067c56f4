/** forwardBytes (relay/pipe-forward.ts): one direction of a relay pipe over real loopback TCP. */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { forwardBytes } from '../../../relay/pipe-forward.js';
import { tcpPair } from '../../helpers/transfer-helpers.js';

const MiB = 1024 * 1024;

/** sender → [relayIn ⇒ relayOut] → receiver, as the relay sits between two peers. */
async function pipe(bufferBytes: number, onBytes: (count: number) => boolean) {
  const [sender, relayIn] = await tcpPair();
  const [relayOut, receiver] = await tcpPair();
  relayIn.pause(); // as a pipe's socket arrives, after its header line
  forwardBytes(relayIn, relayOut, bufferBytes, onBytes);
  return { sender, receiver, sockets: [sender, relayIn, relayOut, receiver] };
}

test('every byte arrives in order through reused buffers, with a receiver that keeps stopping', async () => {
  let counted = 0;
  const { sender, receiver, sockets } = await pipe(256 * 1024, (count) => ((counted += count), true));
  try {
    // Distinct bytes everywhere (a reused buffer overwritten too early would show in the hash).
    const blocks = Array.from({ length: 24 }, () => randomBytes(MiB));
    const expected = createHash('sha256');
    for (const block of blocks) expected.update(block);
    const got = createHash('sha256');
    let received = 0;
    const done = new Promise<void>((resolve) => {
      receiver.on('data', (chunk: Buffer) => {
        got.update(chunk);
        received += chunk.length;
        // Stop for a moment every ~2 MiB, so the relay's side fills up and pauses.
        if (received % (2 * MiB) < chunk.length) {
          receiver.pause();
          setTimeout(() => receiver.resume(), 20);
        }
        if (received === blocks.length * MiB) resolve();
      });
    });
    for (const block of blocks) if (!sender.write(block)) await once(sender, 'drain');
    await done;
    assert.is(got.digest('hex'), expected.digest('hex'));
    assert.is(counted, blocks.length * MiB);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
});

test('onBytes refusing a read drops it and stops forwarding', async () => {
  let allowed = 3 * MiB;
  const { sender, receiver, sockets } = await pipe(MiB, (count) => {
    allowed -= count;
    return allowed >= 0;
  });
  try {
    let received = 0;
    receiver.on('data', (chunk: Buffer) => (received += chunk.length));
    sender.on('error', () => undefined);
    for (let i = 0; i < 8; i++) sender.write(randomBytes(MiB));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(received <= 3 * MiB, `${received} bytes went through, at most 3 MiB were allowed`);
    assert.ok(received > 0);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
});

test.run();
