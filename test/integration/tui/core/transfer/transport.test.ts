/**
 * One transport test suite, run against both paths:
 * - direct: the peers dial each other's 127.0.0.1 listener (a direct loopback TCP socket);
 * - relay:  no listeners at all; both dial a byte-pipe forwarder standing in for the relay.
 */
import { once } from 'node:events';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TransferConstants } from '../../../../../tui/core/transfer/constants.js';
import { createTransferCredentials } from '../../../../../tui/core/transfer/credentials.js';
import type { FileTransfer, TransferOptions } from '../../../../../tui/core/transfer/transfer.js';
import { type Pair, PipeForwarder, sha256OfFile, exists, startPair, writeTestFile } from '../../../../helpers/transfer-helpers.js';
import { makeTempDir } from '../../../../helpers/temp.js';

const MiB = 1024 * 1024;

type PathMode = 'direct' | 'relay';

interface Context {
  dir: string;
  out: string;
  relay: PipeForwarder;
  /** One shared 50 MB source file. */
  big: string;
  bigHash: string;
}

/** Options that force one path: `relay` turns every listener off, so only the pipe can connect. */
function forPath(mode: PathMode, constants: Partial<TransferConstants> = {}): Partial<TransferOptions> {
  const shared = { constants: { PROGRESS_INTERVAL_MS: 0, RETRY_DELAY_MS: 100, ...constants } };
  return mode === 'relay' ? { ...shared, listenHost: false } : shared;
}

function pairOptions(context: Context, mode: PathMode, file: string, constants: Partial<TransferConstants> = {}) {
  return { file, relay: context.relay, sender: forPath(mode, constants), receiver: forPath(mode, constants) };
}

/** Resolves once `transfer` has reported at least `fraction` of the file. */
function reached(transfer: FileTransfer, fraction: number): Promise<void> {
  return new Promise((resolve) => {
    const listener = (progress: { bytes: number; totalBytes: number }): void => {
      if (progress.bytes >= progress.totalBytes * fraction) {
        transfer.off('progress', listener);
        resolve();
      }
    };
    transfer.on('progress', listener);
  });
}

async function bothFinished(pair: Pair) {
  const [sender, receiver] = await Promise.all([pair.sender.finished, pair.receiver.finished]);
  return { sender, receiver };
}

function transportSuite(mode: PathMode): void {
  const it = suite<Context>(`transfer over ${mode}`);
  const expectedPath = mode === 'direct' ? 'lan' : 'relay';

  it.before(async (context) => {
    context.dir = await makeTempDir();
    context.relay = await PipeForwarder.start();
    context.big = await writeTestFile(context.dir, 'big.bin', 50 * MiB);
    context.bigHash = await sha256OfFile(context.big);
  });

  it.before.each(async (context) => {
    context.out = await makeTempDir('securechat-transfer-out-');
    context.relay.forwardedBytes = 0;
  });

  it.after.each(async (context) => {
    await fs.rm(context.out, { recursive: true, force: true });
  });

  it.after(async (context) => {
    await context.relay.close();
    await fs.rm(context.dir, { recursive: true, force: true });
  });

  it('a 50 MB file arrives whole, on the expected path, with progress on both sides', async (context) => {
    const pair = await startPair(pairOptions(context, mode, context.big));
    const sessions: string[] = [];
    pair.sender.on('session', (session) => sessions.push(session.path));
    const progress = { sender: 0, receiver: 0 };
    pair.sender.on('progress', (p) => (progress.sender = p.percent));
    pair.receiver.on('progress', (p) => (progress.receiver = p.percent));
    await pair.receiver.accept(context.out);
    const { sender, receiver } = await bothFinished(pair);
    assert.is(sender.state, 'completed');
    assert.is(receiver.state, 'completed');
    assert.is(receiver.filePath, path.join(context.out, 'big.bin'));
    assert.is(await sha256OfFile(receiver.filePath!), context.bigHash);
    assert.not.ok(await exists(`${receiver.filePath}.part`));
    assert.equal(sessions, [expectedPath]);
    assert.is(progress.sender, 100);
    assert.is(progress.receiver, 100);
    const snapshot = pair.receiver.snapshot();
    assert.is(snapshot.path, expectedPath);
    assert.is(snapshot.progress.bytes, 50 * MiB);
    if (mode === 'relay') assert.ok(context.relay.forwardedBytes > 50 * MiB, 'the bytes went through the pipe');
    else assert.is(context.relay.forwardedBytes, 0, 'nothing touched the relay');
  });

  it('a transfer cut in the middle resumes from the acknowledged offset and ends with the right hash', async (context) => {
    const pair = await startPair(pairOptions(context, mode, context.big, { WINDOW_BYTES: 4 * MiB }));
    const offsets: number[] = [];
    pair.receiver.on('session', (session) => offsets.push(session.offset));
    await pair.receiver.accept(context.out);
    await reached(pair.receiver, 0.4);
    if (mode === 'relay') context.relay.cutAll(); // a relay restart
    else pair.sender.reconnect(); // the path drops
    const { sender, receiver } = await bothFinished(pair);
    assert.is(sender.state, 'completed');
    assert.is(receiver.state, 'completed');
    assert.is(offsets.length, 2, 'two sessions');
    assert.is(offsets[0], 0);
    assert.ok(offsets[1] >= 0.4 * 50 * MiB, `resumed at ${offsets[1]}`);
    assert.ok(offsets[1] < 50 * MiB);
    assert.is(await sha256OfFile(receiver.filePath!), context.bigHash);
    assert.is(pair.sender.snapshot().sessions, 2);
  });

  it('a file changed during the send fails with E_FILE_CHANGED on both sides; the partial file is kept', async (context) => {
    const file = await writeTestFile(context.dir, 'changing.bin', 16 * MiB);
    const pair = await startPair(pairOptions(context, mode, file, { WINDOW_BYTES: 1 * MiB, STAT_EVERY_BYTES: 1 * MiB }));
    await pair.receiver.accept(context.out);
    await reached(pair.receiver, 0.25);
    await fs.appendFile(file, 'one more line\n');
    const { sender, receiver } = await bothFinished(pair);
    assert.is(sender.state, 'failed');
    assert.is(sender.code, 'E_FILE_CHANGED');
    assert.is(receiver.state, 'failed');
    assert.is(receiver.code, 'E_FILE_CHANGED');
    assert.is(receiver.filePath, path.join(context.out, 'changing.bin.part'));
    assert.ok(await exists(receiver.filePath!), 'nothing deleted');
    assert.not.ok(await exists(path.join(context.out, 'changing.bin')));
    await fs.rm(file);
  });

  it('a partial file damaged between sessions ends in E_HASH_MISMATCH; nothing is renamed or deleted', async (context) => {
    const file = await writeTestFile(context.dir, 'damaged.bin', 16 * MiB);
    const pair = await startPair(pairOptions(context, mode, file, { WINDOW_BYTES: 1 * MiB }));
    await pair.receiver.accept(context.out);
    await reached(pair.receiver, 0.3);
    const part = path.join(context.out, 'damaged.bin.part');
    const handle = await fs.open(part, 'r+');
    await handle.write(Buffer.from('garbage from a bad disk'), 0, 23, 1000);
    await handle.close();
    pair.receiver.reconnect();
    const { sender, receiver } = await bothFinished(pair);
    assert.is(receiver.state, 'failed');
    assert.is(receiver.code, 'E_HASH_MISMATCH');
    assert.is(sender.state, 'failed');
    assert.is(sender.code, 'E_HASH_MISMATCH', 'the sender checked: its file did not change');
    assert.is(receiver.filePath, part);
    assert.ok(await exists(part), 'the partial file is kept for inspection');
    assert.not.ok(await exists(path.join(context.out, 'damaged.bin')));
    await fs.rm(file);
  });

  it('a stranger who connects learns nothing and cannot inject data', async (context) => {
    const file = await writeTestFile(context.dir, 'secret.bin', 8 * MiB);
    const fileHash = await sha256OfFile(file);
    const strangers: Array<Promise<{ appBytes: number; secure: boolean }>> = [];
    const credentials = await createTransferCredentials(); // a valid certificate, just not the expected one
    const pair = await startPair({
      ...pairOptions(context, mode, file, { WINDOW_BYTES: 1 * MiB }),
      filter: (_from, message) => {
        if (message.t === 'file-candidates') {
          for (const candidate of message.candidates as Array<{ host: string; port: number }>) {
            strangers.push(tlsStranger(candidate.port, credentials), rawStranger(candidate.port));
          }
        }
        if (message.t === 'file-accept' && mode === 'relay') {
          // Someone else joins the relay pipe under this transfer's id first.
          strangers.push(relayStranger(context.relay, message.transferId, credentials));
        }
        return true;
      },
    });
    await pair.receiver.accept(context.out);
    const { sender, receiver } = await bothFinished(pair);
    const seen = await Promise.all(strangers);
    assert.ok(seen.length >= (mode === 'direct' ? 4 : 1), `strangers tried: ${seen.length}`);
    for (const stranger of seen) assert.is(stranger.appBytes, 0, 'no application data ever reached a stranger');
    if (mode === 'direct') assert.ok(seen.some((s) => s.secure), 'a stranger finished a TLS handshake with the sender and still got nothing');
    assert.is(sender.state, 'completed');
    assert.is(receiver.state, 'completed');
    assert.is(await sha256OfFile(receiver.filePath!), fileHash, 'nothing injected');
    await fs.rm(file);
  });

  it('cancel by the sender stops both sides with E_CANCELLED and removes the partial file', async (context) => {
    const pair = await startPair(pairOptions(context, mode, context.big, { WINDOW_BYTES: 2 * MiB }));
    await pair.receiver.accept(context.out);
    await reached(pair.receiver, 0.2);
    pair.sender.cancel();
    const { sender, receiver } = await bothFinished(pair);
    assert.is(sender.state, 'cancelled');
    assert.is(sender.code, 'E_CANCELLED');
    assert.is(receiver.state, 'cancelled');
    assert.is(receiver.code, 'E_CANCELLED');
    assert.equal(await fs.readdir(context.out), [], 'no partial file, no final file');
  });

  it('cancel by the receiver stops the sender too', async (context) => {
    const pair = await startPair(pairOptions(context, mode, context.big, { WINDOW_BYTES: 2 * MiB }));
    await pair.receiver.accept(context.out);
    await reached(pair.receiver, 0.2);
    pair.receiver.cancel();
    const { sender, receiver } = await bothFinished(pair);
    assert.is(receiver.state, 'cancelled');
    assert.is(sender.state, 'cancelled');
    assert.is(sender.code, 'E_CANCELLED');
    assert.equal(await fs.readdir(context.out), []);
  });

  it('reject: the sender learns E_REJECTED and no file is created', async (context) => {
    const pair = await startPair(pairOptions(context, mode, context.big));
    pair.receiver.reject();
    const { sender, receiver } = await bothFinished(pair);
    assert.is(receiver.state, 'rejected');
    assert.is(sender.state, 'rejected');
    assert.is(sender.code, 'E_REJECTED');
    assert.equal(await fs.readdir(context.out), []);
  });

  it.run();
}

/** Connects with TLS as a client presenting some other certificate; counts application bytes received. */
async function tlsStranger(port: number, credentials: { key: string; cert: string }): Promise<{ appBytes: number; secure: boolean }> {
  const socket = tls.connect({ host: '127.0.0.1', port, key: credentials.key, cert: credentials.cert, rejectUnauthorized: false });
  return watchStranger(socket, () => socket.write('INJECTED DATA '.repeat(100)));
}

/** Connects with raw TCP and sends garbage; TLS handshake bytes are not application data. */
async function rawStranger(port: number): Promise<{ appBytes: number; secure: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.on('connect', () => socket.write(Buffer.alloc(4096, 0x41)));
  socket.on('data', () => undefined); // whatever a TLS peer says in its handshake
  await once(socket, 'close');
  return { appBytes: 0, secure: false };
}

async function relayStranger(relay: PipeForwarder, transferId: string, credentials: { key: string; cert: string }) {
  const raw = await relay.dial(transferId, new AbortController().signal);
  // Whichever side it meets, it tries both TLS roles' worth of nonsense: here, a TLS client.
  const socket = tls.connect({ socket: raw as net.Socket, key: credentials.key, cert: credentials.cert, rejectUnauthorized: false });
  return watchStranger(socket, () => socket.write('INJECTED DATA '.repeat(100)));
}

function watchStranger(socket: tls.TLSSocket, onSecure: () => void): Promise<{ appBytes: number; secure: boolean }> {
  return new Promise((resolve) => {
    let appBytes = 0;
    let secure = false;
    socket.on('secureConnect', () => {
      secure = true;
      onSecure();
    });
    socket.on('data', (chunk: Buffer) => (appBytes += chunk.length));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ appBytes, secure }));
    // A stranger that the peer never answers (e.g. the receiver waiting for a server hello) is
    // closed by the peer's handshake timeout; do not wait that long in a test.
    setTimeout(() => socket.destroy(), 3_000).unref();
  });
}

transportSuite('direct');
transportSuite('relay');
