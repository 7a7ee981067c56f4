/**
 * One side of the transfer bench in its own process (forked with IPC by bench/transfer.ts), so
 * its peak RSS read from /proc is its own. Roles:
 *
 *   sender, receiver   a real ChatClient (dist/tui/core/index.js) with temp config/data
 *                      folders, talking to the bench relay; the receiver accepts the first
 *                      offer and reports its timings; the sender offers a file on request.
 *   tls-receiver, tls-sender   the plain Node TLS 1.3 stream the figures are compared with,
 *                      file to file: the sender reads the file in 256 KiB blocks into the
 *                      socket, the receiver gathers what arrives into 1 MiB blocks that the
 *                      thread pool writes to a new file while the next ones arrive (up to 4 at
 *                      once), then fsyncs it. (Node's read/write streams would make
 *                      a weaker baseline: one write per 16 KiB TLS record.)
 *
 * Messages (IPC): the child sends {ready, pid[, port]} once set up; the parent sends
 * {cmd:'send', file} (sender) or {cmd:'go'} (tls-sender) and gets {result} or {error}.
 * The child exits when the IPC channel closes (the parent stopped or died) or after
 * `maxLifetimeMs`, so it never outlives a run. Times are `performance.now()` of the child.
 */
// First, as the securechat processes do (tui/young-generation-first.ts): their memory is what is measured.
import './peer-gc-first.js';
import { once } from 'node:events';
import { closeSync, fsync, openSync, readSync, write } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect, createServer as tlsCreateServer, type TLSSocket } from 'node:tls';
import { createSelfSignedCertificate } from '../../relay/certs.js';
import { ChatClient, type ChatEvent } from '../../tui/core/index.js';
import { BENCH_CLIENT_LIMITS } from './clients.js';

export interface TransferPeerSpec {
  role: 'sender' | 'receiver' | 'tls-receiver' | 'tls-sender';
  /** Relay (sender, receiver) or plain TLS receiver (tls-sender) port on 127.0.0.1. */
  port?: number;
  fingerprint?: string;
  user?: string;
  password?: string;
  /** The other user (sender: to whom the file goes). */
  peer?: string;
  /** A temp folder for this client's config/, data/ and downloads/. */
  dir?: string;
  /** false: relay pipe only (`transfers: { direct: false }`). */
  direct?: boolean;
  /** tls-receiver: bytes to expect. */
  bytes?: number;
  /** tls-sender: the file to stream; tls-receiver: the file to write (removed afterwards). */
  file?: string;
  /** Longest wait for a transfer to end, ms. */
  timeoutMs: number;
  maxLifetimeMs: number;
}

/** What the receiver reports for one transfer (ms are on the receiver's clock). */
export interface ReceiverResult {
  hash: string;
  size: number;
  file: string;
  path: string | null;
  /** /accept → the first data session started (connection, TLS handshake with the peer). */
  acceptToFirstMs: number;
  /** First session → transfer-done (the hash checked). */
  firstToDoneMs: number;
  acceptToDoneMs: number;
  sessions: number;
}

export interface SenderResult {
  /** The whole-file hash (SHA-256) in the sender's transfer-done (it hashed while sending). */
  doneHash: string;
  path: string | null;
}

export interface TlsReceiverResult {
  bytes: number;
  /** TCP connection accepted → first application byte (includes the TLS handshake). */
  connectionToFirstMs: number;
  /** First byte → the last byte written and the file fsynced. */
  firstToLastMs: number;
}

const MIB = 1024 * 1024;
const spec = JSON.parse(process.argv[2] ?? '{}') as TransferPeerSpec;
const send = (message: unknown): void => {
  process.send?.(message);
};
const fail = (error: unknown): void => send({ error: (error as Error)?.stack ?? String(error) });

process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(3), spec.maxLifetimeMs).unref();

function makeClient(): ChatClient {
  const dir = spec.dir!;
  return new ChatClient({
    host: '127.0.0.1',
    port: spec.port!,
    user: spec.user!,
    password: spec.password!,
    register: true,
    trust: { fingerprint: spec.fingerprint! },
    configDir: join(dir, 'config'),
    dataDir: join(dir, 'data'),
    reconnect: false,
    limits: BENCH_CLIENT_LIMITS,
    transfers: {
      direct: spec.direct !== false,
      downloadDir: join(dir, 'downloads'),
      // Loopback only: no interface scan beyond 127.0.0.1, no UPnP / NAT-PMP.
      transfer: { listenHost: '127.0.0.1', localCandidates: 'loopback', allowLoopbackCandidates: true, portMapping: false },
    },
  });
}

/** Resolves with the first event of `client` that `match` accepts; rejects on a failure of `id` or after the timeout. */
function waitEvent<T extends ChatEvent>(client: ChatClient, match: (e: ChatEvent) => e is T, id: () => string | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no transfer result within ${spec.timeoutMs} ms`));
    }, spec.timeoutMs);
    const stop = client.on('*', (event: ChatEvent) => {
      if (event.type === 'transfer-failed' && event.id === id()) {
        clearTimeout(timer);
        stop();
        reject(new Error(`transfer failed: ${event.code} ${event.message}`));
      } else if (match(event)) {
        clearTimeout(timer);
        stop();
        resolve(event);
      }
    });
  });
}

async function receiver(): Promise<void> {
  const client = makeClient();
  await client.connect();
  let id: string | undefined;
  let acceptedAt = 0;
  let firstAt = 0;
  client.on('transfer-state', (e) => {
    if (e.id === id && firstAt === 0 && e.state === 'transferring') firstAt = performance.now();
  });
  client.on('transfer-offer', (offer) => {
    if (id !== undefined) return;
    id = offer.id;
    acceptedAt = performance.now();
    const done = waitEvent(client, (e): e is Extract<ChatEvent, { type: 'transfer-done' }> => e.type === 'transfer-done' && e.id === offer.id, () => id);
    client.acceptTransfer(offer.id).catch(fail);
    done.then((e) => {
      const now = performance.now();
      const info = client.transfers.list().find((t) => t.id === e.id);
      const result: ReceiverResult = {
        hash: e.hash,
        size: e.size,
        file: e.file,
        path: e.path,
        acceptToFirstMs: (firstAt || now) - acceptedAt,
        firstToDoneMs: now - (firstAt || acceptedAt),
        acceptToDoneMs: now - acceptedAt,
        sessions: info?.sessions ?? 0,
      };
      send({ result });
    }, fail);
  });
  send({ ready: true, pid: process.pid });
}

async function sender(): Promise<void> {
  const client = makeClient();
  await client.connect();
  process.on('message', (message: { cmd?: string; file?: string }) => {
    if (message.cmd !== 'send' || !message.file) return;
    let id: string | undefined;
    const done = waitEvent(client, (e): e is Extract<ChatEvent, { type: 'transfer-done' }> => e.type === 'transfer-done' && e.id === id, () => id);
    client.sendFile(spec.peer!, message.file).then(
      async (sent) => {
        id = sent.id;
        const e = await done;
        const result: SenderResult = { doneHash: e.hash, path: e.path };
        send({ result });
      },
      fail,
    );
  });
  send({ ready: true, pid: process.pid });
}

async function tlsReceiver(): Promise<void> {
  const { cert, key } = await createSelfSignedCertificate();
  const server = tlsCreateServer({ cert, key, minVersion: 'TLSv1.3' });
  let acceptedAt = 0;
  server.on('connection', () => (acceptedAt = performance.now()));
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.setNoDelay(true);
    let bytes = 0;
    let firstAt = 0;
    const fd = openSync(spec.file!, 'w');
    // 1 MiB blocks written by libuv's thread pool while the next ones arrive (as securechat's
    // receiver writes in a worker); at most WRITES_IN_FLIGHT at once, the socket paused beyond.
    const WRITES_IN_FLIGHT = 4;
    let block = Buffer.allocUnsafe(MIB);
    let fill = 0;
    let at = 0;
    let inFlight = 0;
    let ended = false;
    const finishIfDone = (): void => {
      if (!ended || inFlight > 0) return;
      fsync(fd, (error) => {
        if (error) return fail(error);
        closeSync(fd);
        const now = performance.now();
        const result: TlsReceiverResult = { bytes, connectionToFirstMs: firstAt - acceptedAt, firstToLastMs: now - firstAt };
        socket.end();
        server.close();
        void rm(spec.file!, { force: true }).then(() => send({ result }), fail);
      });
    };
    const flush = (): void => {
      if (fill === 0) return;
      const full = block;
      const length = fill;
      const position = at;
      at += fill;
      fill = 0;
      block = Buffer.allocUnsafe(MIB);
      inFlight += 1;
      if (inFlight >= WRITES_IN_FLIGHT) socket.pause();
      const writeFrom = (offset: number): void =>
        write(fd, full, offset, length - offset, position + offset, (error, written) => {
          if (error) return fail(error);
          if (offset + written < length) return writeFrom(offset + written);
          inFlight -= 1;
          if (inFlight < WRITES_IN_FLIGHT && !ended) socket.resume();
          finishIfDone();
        });
      writeFrom(0);
    };
    socket.on('data', (chunk: Buffer) => {
      if (bytes === 0) firstAt = performance.now();
      bytes += chunk.length;
      for (let used = 0; used < chunk.length; ) {
        const take = Math.min(block.length - fill, chunk.length - used);
        chunk.copy(block, fill, used, used + take);
        fill += take;
        used += take;
        if (fill === block.length) flush();
      }
      if (bytes < spec.bytes!) return;
      flush();
      // Durable like a received transfer: fsync before calling it done.
      ended = true;
      finishIfDone();
    });
    socket.on('error', fail);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  send({ ready: true, pid: process.pid, port: typeof address === 'object' && address ? address.port : 0 });
}

async function tlsSender(): Promise<void> {
  process.on('message', (message: { cmd?: string }) => {
    if (message.cmd !== 'go') return;
    const socket = tlsConnect({ host: '127.0.0.1', port: spec.port!, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    socket.setNoDelay(true);
    socket.on('error', fail);
    const fd = openSync(spec.file!, 'r');
    const size = spec.bytes!;
    let at = 0;
    // 256 KiB blocks read from the file; a block is the socket's until written, so a fresh one each time.
    const pump = (): void => {
      while (at < size) {
        const block = Buffer.allocUnsafe(Math.min(256 * 1024, size - at));
        const got = readSync(fd, block, 0, block.length, at);
        if (got === 0) return fail(new Error('the file is shorter than expected'));
        at += got;
        if (!socket.write(got === block.length ? block : block.subarray(0, got))) {
          socket.once('drain', pump);
          return;
        }
      }
      closeSync(fd);
      send({ result: { sent: size } });
    };
    socket.once('secureConnect', pump);
  });
  send({ ready: true, pid: process.pid });
}

const roles = { sender, receiver, 'tls-receiver': tlsReceiver, 'tls-sender': tlsSender } as const;
roles[spec.role]().catch((error) => {
  fail(error);
  setTimeout(() => process.exit(1), 100);
});
