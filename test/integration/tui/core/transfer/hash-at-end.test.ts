/**
 * The whole-file hash travels at the end of the data channel (`end {hash}`), not in the offer:
 * the sender hashes while it sends (and the prefix again after a resume), the receiver checks
 * it against its own hash of the file on disk before anything is presented as verified.
 * Real mutual TLS over loopback TCP, real files and the real file worker; a hand-made sender
 * plays the peer that lies about the hash. The last test runs the same two sessions with a
 * receiver ring smaller than the window (flow control by pausing the socket).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_HEADER_BYTES } from '../../../../../shared/codec.js';
import { resolveTransferConstants } from '../../../../../tui/core/transfer/constants.js';
import { type TransferCredentials, createTransferCredentials } from '../../../../../tui/core/transfer/credentials.js';
import { FileSink } from '../../../../../tui/core/transfer/file-sink.js';
import { FramedChannel } from '../../../../../tui/core/transfer/framed-channel.js';
import { openSecureChannel } from '../../../../../tui/core/transfer/secure-channel.js';
import { type SessionResult, runReceiverSession, runSenderSession } from '../../../../../tui/core/transfer/sessions.js';
import type { ChannelMessage } from '../../../../../tui/core/transfer/wire.js';
import { sha256OfFile, tcpPair, writeTestFile } from '../../../../helpers/transfer-helpers.js';
import { makeTempDir } from '../../../../helpers/temp.js';

const constants = resolveTransferConstants();
let sender: TransferCredentials;
let receiver: TransferCredentials;
let dir = '';

test.before(async () => {
  [sender, receiver] = await Promise.all([createTransferCredentials(), createTransferCredentials()]);
  dir = await makeTempDir();
});

test.after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A data channel pair: [sender's, receiver's], mutual TLS 1.3 over loopback TCP. */
async function channels(): Promise<[FramedChannel, FramedChannel]> {
  const [a, b] = await tcpPair();
  const [s, r] = await Promise.all([
    openSecureChannel(a, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 5000 }),
    openSecureChannel(b, { role: 'receiver', credentials: receiver, peerFingerprint: sender.fingerprint, timeoutMs: 5000 }),
  ]);
  return [new FramedChannel(s, constants.CHUNK_BYTES), new FramedChannel(r, constants.CHUNK_BYTES)];
}

/** Runs a receiver session into `partPath`; `finalized` tells whether the file was presented as verified. */
function receive(channel: FramedChannel, partPath: string, size: number, expectedHash = '', ringBytes = constants.WINDOW_BYTES) {
  const sink = new FileSink(ringBytes);
  const seen = { finalized: false, verified: '' };
  const result = runReceiverSession({
    channel,
    sink,
    partPath,
    size,
    expectedHash,
    constants,
    onWritten: () => undefined,
    onVerified: (hash) => (seen.verified = hash),
    finalize: async () => {
      seen.finalized = true;
    },
    signal: new AbortController().signal,
  }).finally(() => sink.terminate());
  return { result, seen };
}

/** A sender that sends `content` then `end` with whatever `endMessage` says; resolves with the receiver's last word. */
function lyingSender(channel: FramedChannel, content: Buffer, endMessage: ChannelMessage): Promise<ChannelMessage | null> {
  return new Promise((resolve) => {
    channel.setHandlers({
      onMessage: (message) => {
        if (message.t === 'resume') {
          const frame = FramedChannel.allocateDataFrame(content.length);
          content.copy(frame, FRAME_HEADER_BYTES);
          channel.sendDataFrame(frame, content.length);
          channel.send(endMessage);
        } else if (message.t === 'done' || message.t === 'abort') {
          resolve(message);
        }
      },
      onData: () => undefined,
      onClose: () => resolve(null),
    });
  });
}

async function realHash(content: Buffer): Promise<string> {
  const file = path.join(dir, `h-${Math.random().toString(36).slice(2)}`);
  await fs.writeFile(file, content);
  return sha256OfFile(file);
}

test('a wrong hash in `end` fails with E_HASH_MISMATCH; the file is never presented as verified and stays .part', async () => {
  const [s, r] = await channels();
  const content = Buffer.alloc(100_000, 0x41);
  const part = path.join(dir, 'wrong.bin.part');
  const { result, seen } = receive(r, part, content.length);
  const peerSaw = lyingSender(s, content, { t: 'end', hash: 'ab'.repeat(32) });
  const outcome: SessionResult = await result;
  assert.equal(outcome, { kind: 'failed', code: 'E_HASH_MISMATCH', fromPeer: false, message: undefined });
  assert.equal(await peerSaw, { t: 'abort', code: 'E_HASH_MISMATCH' });
  assert.is(seen.finalized, false);
  assert.is(seen.verified, '');
  // The bytes are kept for inspection under the partial name, nothing else.
  assert.is((await fs.stat(part)).size, content.length);
  s.destroy();
});

test('`end` without a hash (and none offered) is a protocol error, not a verified file', async () => {
  const [s, r] = await channels();
  const content = Buffer.alloc(1000, 0x42);
  const { result, seen } = receive(r, path.join(dir, 'nohash.bin.part'), content.length);
  void lyingSender(s, content, { t: 'end' });
  const outcome = await result;
  assert.is(outcome.kind === 'failed' && outcome.code, 'E_PROTOCOL');
  assert.is(seen.finalized, false);
  s.destroy();
});

test('`end` with a BLAKE2b-512 (a sender from before SHA-256, 128 hex) ends the transfer with E_PROTOCOL: not a verified file, not a break to resume from', async () => {
  const [s, r] = await channels();
  const content = Buffer.alloc(1000, 0x42);
  const { result, seen } = receive(r, path.join(dir, 'blake.bin.part'), content.length);
  void lyingSender(s, content, { t: 'end', hash: 'ab'.repeat(64) } as unknown as ChannelMessage);
  const outcome = await result;
  assert.is(outcome.kind === 'failed' && outcome.code, 'E_PROTOCOL');
  assert.is(seen.finalized, false);
  s.destroy();
});

test('an offer\'s hash (older sender) must agree with `end`: a sender may not change its mind', async () => {
  const [s, r] = await channels();
  const content = Buffer.alloc(5000, 0x43);
  const other = await realHash(Buffer.alloc(5000, 0x44));
  const { result, seen } = receive(r, path.join(dir, 'changed.bin.part'), content.length, other);
  void lyingSender(s, content, { t: 'end', hash: await realHash(content) });
  const outcome = await result;
  assert.is(outcome.kind === 'failed' && outcome.code, 'E_HASH_MISMATCH');
  assert.is(seen.finalized, false);
  s.destroy();
});

test('the right hash in `end`: done, and the receiver reports the hash it checked', async () => {
  const [s, r] = await channels();
  const content = Buffer.alloc(70_000, 0x45);
  const { result, seen } = receive(r, path.join(dir, 'right.bin.part'), content.length);
  const expected = await realHash(content);
  const peerSaw = lyingSender(s, content, { t: 'end', hash: expected });
  assert.equal(await result, { kind: 'complete' });
  assert.equal(await peerSaw, { t: 'done' });
  assert.equal([seen.finalized, seen.verified], [true, expected]);
  s.destroy();
});

/** The real sender session against the real receiver session, the receiver's partial file holding `prefix` already. */
async function resumeWith(file: string, size: number, prefix: Buffer, ringBytes = constants.WINDOW_BYTES) {
  const part = path.join(dir, `resume-${Math.random().toString(36).slice(2)}.part`);
  await fs.writeFile(part, prefix);
  const [s, r] = await channels();
  let pauses = 0;
  const pause = r.pause.bind(r);
  r.pause = () => {
    pauses += 1;
    pause();
  };
  const { result, seen } = receive(r, part, size, '', ringBytes);
  let hashed = '';
  const acked: number[] = [];
  const senderResult = runSenderSession({
    channel: s,
    file: { path: file, size, mtimeMs: (await fs.stat(file)).mtimeMs, hash: '' },
    constants,
    onAcked: (offset) => acked.push(offset),
    signal: new AbortController().signal,
    rehash: () => sha256OfFile(file),
    onHashed: (hash) => (hashed = hash),
  });
  const [receiverOutcome, senderOutcome] = await Promise.all([result, senderResult]);
  return { receiverOutcome, senderOutcome, seen, hashed, firstOffset: acked[0], part, pauses };
}

test('resume: the sender hashes the bytes before the resume offset again, so `end` covers the whole file', async () => {
  const size = 3 * 1024 * 1024 + 123;
  const file = await writeTestFile(dir, 'resume.bin', size);
  const whole = await fs.readFile(file);
  const { receiverOutcome, senderOutcome, seen, hashed, firstOffset } = await resumeWith(file, size, whole.subarray(0, 1024 * 1024 + 7));
  assert.equal([receiverOutcome, senderOutcome], [{ kind: 'complete' }, { kind: 'complete' }]);
  assert.is(firstOffset, 1024 * 1024 + 7, 'resumed, not from zero');
  const expected = await sha256OfFile(file);
  assert.equal([hashed, seen.verified], [expected, expected]);
});

test('resume onto a damaged partial file: E_HASH_MISMATCH on both sides (the sender\'s file did not change)', async () => {
  const size = 2 * 1024 * 1024;
  const file = await writeTestFile(dir, 'damaged.bin', size);
  const prefix = Buffer.from((await fs.readFile(file)).subarray(0, 500_000));
  prefix[1234] ^= 0xff;
  const { receiverOutcome, senderOutcome, seen } = await resumeWith(file, size, prefix);
  assert.is(receiverOutcome.kind === 'failed' && receiverOutcome.code, 'E_HASH_MISMATCH');
  assert.is(senderOutcome.kind === 'failed' && senderOutcome.code, 'E_HASH_MISMATCH');
  assert.is(seen.finalized, false);
});

test('a ring smaller than the window (RING_BYTES): the receiver stops reading as it fills, never overruns it, and the whole file arrives', async () => {
  const size = 24 * 1024 * 1024 + 5;
  const file = await writeTestFile(dir, 'small-ring.bin', size);
  // 256 KiB of ring against the 8 MiB window: an overrun would end the session E_INTERNAL. So
  // small that the socket pauses (above 128 KiB waiting) even on a slow, loaded machine.
  const { receiverOutcome, senderOutcome, seen, hashed, pauses } = await resumeWith(file, size, Buffer.alloc(0), 256 * 1024);
  assert.equal([receiverOutcome, senderOutcome], [{ kind: 'complete' }, { kind: 'complete' }]);
  const expected = await sha256OfFile(file);
  assert.equal([hashed, seen.verified], [expected, expected]);
  assert.ok(pauses > 0, 'the receiver paused its socket at least once');
});

test.run();
