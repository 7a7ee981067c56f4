/**
 * Error paths of a whole transfer on loopback, each ending with its stable code, plus the
 * small cases (empty file, name taken) that do not depend on the path.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../../shared/errors.js';
import type { TransferPeerMessage } from '../../../../../tui/core/transfer/wire.js';
import { createTransferCredentials } from '../../../../../tui/core/transfer/credentials.js';
import { FileTransfer } from '../../../../../tui/core/transfer/transfer.js';
import { sha256OfFile, loopbackOptions, startPair, writeTestFile } from '../../../../helpers/transfer-helpers.js';
import { makeTempDir } from '../../../../helpers/temp.js';
import { failure } from '../../../../helpers/errors.js';

let dir = '';
let out = '';
let small = '';

test.before(async () => {
  dir = await makeTempDir();
  small = await writeTestFile(dir, 'notes.txt', 300_000);
});

test.before.each(async () => {
  out = await makeTempDir('securechat-transfer-out-');
});

test.after.each(async () => {
  await fs.rm(out, { recursive: true, force: true });
});

test.after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});


/** A hand-made offer, as a malicious or odd sender might send it. */
async function offer(fields: Partial<TransferPeerMessage & { t: 'file-offer' }>): Promise<Record<string, unknown>> {
  const credentials = await createTransferCredentials();
  return { t: 'file-offer', transferId: 'transfer-abcdefgh', name: 'x.bin', size: 10, hash: 'ab'.repeat(32), fingerprint: credentials.fingerprint, ...fields };
}

test('an empty file transfers', async () => {
  const empty = path.join(dir, 'empty.txt');
  await fs.writeFile(empty, '');
  const pair = await startPair({ file: empty });
  await pair.receiver.accept(out);
  const [sender, receiver] = await Promise.all([pair.sender.finished, pair.receiver.finished]);
  assert.is(sender.state, 'completed');
  assert.is(receiver.state, 'completed');
  assert.is((await fs.stat(receiver.filePath!)).size, 0);
});

test('a taken name is never overwritten: the file arrives as "name (1).ext"', async () => {
  await fs.writeFile(path.join(out, 'notes.txt'), 'mine, do not touch');
  const pair = await startPair({ file: small });
  await pair.receiver.accept(out);
  const receiver = await pair.receiver.finished;
  assert.is(receiver.state, 'completed');
  assert.is(receiver.filePath, path.join(out, 'notes (1).txt'));
  assert.is(await fs.readFile(path.join(out, 'notes.txt'), 'utf8'), 'mine, do not touch');
  assert.is(await sha256OfFile(receiver.filePath!), await sha256OfFile(small));
});

test('E_FILE_TOO_LARGE: the receiver declines an offer over its limit without asking', async () => {
  const pair = await startPair({ file: small, receiver: { constants: { MAX_FILE_BYTES: 1000 } } });
  const [sender, receiver] = await Promise.all([pair.sender.finished, pair.receiver.finished]);
  assert.is(receiver.state, 'rejected');
  assert.is(receiver.code, 'E_FILE_TOO_LARGE');
  assert.is(sender.state, 'rejected');
  assert.is(sender.code, 'E_FILE_TOO_LARGE');
});

test('E_NO_SPACE: accept checks the free space and declines', async () => {
  const pair = await startPair({ file: small, receiver: { freeSpace: async () => 1000 } });
  assert.is(await failure(pair.receiver.accept(out)), 'E_NO_SPACE');
  const sender = await pair.sender.finished;
  assert.is(sender.code, 'E_NO_SPACE');
  assert.equal(await fs.readdir(out), []);
});

test('E_PATH_REFUSED: accepting into something that is not a folder', async () => {
  const pair = await startPair({ file: small });
  assert.is(await failure(pair.receiver.accept(small)), 'E_PATH_REFUSED');
  assert.is((await pair.sender.finished).code, 'E_PATH_REFUSED');
});

test('E_PATH_REFUSED: an offered name with nothing usable in it is declined at once', async () => {
  const sent: TransferPeerMessage[] = [];
  const transfer = FileTransfer.receive(await offer({ name: '../..' }), { ...loopbackOptions(), link: { send: (m) => sent.push(m) } });
  const result = await transfer.finished;
  assert.is(result.state, 'rejected');
  assert.is(result.code, 'E_PATH_REFUSED');
  assert.equal(sent.map((m) => m.t), ['file-reject']);
  assert.equal((sent[0] as { code?: string }).code, 'E_PATH_REFUSED');
});

test('a path in the offered name is neutralised to its last part', async () => {
  const transfer = FileTransfer.receive(await offer({ name: '../../etc/passwd' }), { ...loopbackOptions(), link: { send: () => undefined } });
  assert.is(transfer.name, 'passwd');
  assert.is(transfer.state, 'offered');
  transfer.reject();
  await transfer.finished;
});

test('E_PROTOCOL: malformed offers and peer messages are refused', async () => {
  for (const bad of [
    await offer({ size: -1 }),
    await offer({ hash: 'zz' }),
    await offer({ hash: 'ab'.repeat(64) }), // a BLAKE2b-512, from a sender before SHA-256
    await offer({ fingerprint: 'nope' }),
    await offer({ transferId: 'short' }),
    { t: 'file-accept', transferId: 'transfer-abcdefgh', fingerprint: 'x' },
    null,
  ]) {
    try {
      FileTransfer.receive(bad, { ...loopbackOptions(), link: { send: () => undefined } });
      assert.unreachable();
    } catch (error) {
      assert.is((error as ChatError).code, 'E_PROTOCOL');
    }
  }
  const transfer = FileTransfer.receive(await offer({}), { ...loopbackOptions(), link: { send: () => undefined } });
  try {
    transfer.handlePeerMessage({ t: 'file-candidates', transferId: transfer.transferId, candidates: [{ kind: 'lan', host: 'evil.example', port: 1 }], final: true });
    assert.unreachable();
  } catch (error) {
    assert.is((error as ChatError).code, 'E_PROTOCOL');
  }
  transfer.reject();
  await transfer.finished;
});

test('E_TRANSFER_STATE: commands that do not fit the state', async () => {
  const pair = await startPair({ file: small });
  await pair.receiver.accept(out);
  assert.is(await failure(pair.receiver.accept(out)), 'E_TRANSFER_STATE');
  assert.throws(() => pair.receiver.reject(), (error: ChatError) => error.code === 'E_TRANSFER_STATE');
  assert.throws(() => pair.sender.reject(), (error: ChatError) => error.code === 'E_TRANSFER_STATE');
  await Promise.all([pair.sender.finished, pair.receiver.finished]);
});

test('E_FILE_UNREADABLE: offering a missing file or a folder', async () => {
  const options = { ...loopbackOptions(), link: { send: () => undefined } };
  assert.is(await failure(FileTransfer.send(path.join(dir, 'missing.bin'), options)), 'E_FILE_UNREADABLE');
  assert.is(await failure(FileTransfer.send(dir, options)), 'E_FILE_UNREADABLE');
});

test('E_TRANSFER_TIMEOUT: no path at all (no listener, no relay) ends both sides by the connect deadline', async () => {
  const constants = { CONNECT_TIMEOUT_MS: 300, RETRY_DELAY_MS: 50 };
  const pair = await startPair({ file: small, sender: { listenHost: false, constants }, receiver: { listenHost: false, constants } });
  await pair.receiver.accept(out);
  const [sender, receiver] = await Promise.all([pair.sender.finished, pair.receiver.finished]);
  assert.is(sender.code, 'E_TRANSFER_TIMEOUT');
  assert.is(receiver.code, 'E_TRANSFER_TIMEOUT');
  assert.is(receiver.filePath, path.join(out, 'notes.txt.part'), 'the (empty) partial file is kept for a later try');
});

test('E_TRANSFER_TIMEOUT: an offer nobody answers', async () => {
  const pair = await startPair({ file: small, sender: { constants: { OFFER_TIMEOUT_MS: 100 } } });
  const [sender, receiver] = await Promise.all([pair.sender.finished, pair.receiver.finished]);
  assert.is(sender.code, 'E_TRANSFER_TIMEOUT');
  assert.is(receiver.state, 'failed', 'the withdrawn offer reaches the receiver');
  assert.is(receiver.code, 'E_TRANSFER_TIMEOUT');
});

test('E_PEER_GONE: the relay says the peer left', async () => {
  const pair = await startPair({ file: small });
  pair.sender.peerGone();
  assert.is((await pair.sender.finished).code, 'E_PEER_GONE');
  pair.receiver.peerGone();
  assert.is((await pair.receiver.finished).code, 'E_PEER_GONE');
});

test('E_PEER_GONE: the peer vanishes mid-transfer and never comes back', async () => {
  const file = await writeTestFile(dir, 'vanish.bin', 8 * 1024 * 1024);
  const constants = { RECONNECT_TIMEOUT_MS: 400, RETRY_DELAY_MS: 50, WINDOW_BYTES: 512 * 1024, PROGRESS_INTERVAL_MS: 0 };
  const pair = await startPair({ file, sender: { constants }, receiver: { constants } });
  await pair.receiver.accept(out);
  await new Promise<void>((resolve) => pair.receiver.once('progress', () => resolve()));
  // As if the receiver's process died: its connections and listener close, no message is sent.
  pair.receiver.peerGone();
  const sender = await pair.sender.finished;
  assert.is(sender.state, 'failed');
  assert.is(sender.code, 'E_PEER_GONE');
  assert.is(pair.sender.snapshot().state, 'failed');
  await pair.receiver.finished;
});

test.run();
