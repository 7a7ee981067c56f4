/**
 * Measures the candidates for the file-transfer data channel on this machine and prints JSON:
 *
 *   node dist/bench/transfer-crypto.js [--mb 256] [--file-mb 256] [--repeat 3] [--skip-files]
 *        [--only files] [--constants '{"CHUNK_BYTES":262144}']
 *
 * (a) plainTls:      a plain Node TLS 1.3 stream over loopback (the baseline the targets use)
 * (b) secretstream:  libsodium-wrappers-sumo crypto_secretstream_xchacha20poly1305, in memory
 *                    and as a stream between two processes
 * (c) peerTls:       mutual TLS 1.3 with ephemeral self-signed certificates checked against
 *                    fingerprints (what tui/core/transfer uses), direct and through a TLS relay
 *                    stand-in (the relay pipe: peer TLS inside each peer's TLS to the relay)
 * (d) hash:          the transfer's whole-file hash (SHA-256, tui/core/transfer/file-hash.ts)
 *                    against node:crypto's BLAKE2b-512 (the hash before issue 15)
 * (e) files:         the real FileTransfer, file to file, sender and receiver in separate
 *                    processes, direct, via the TLS relay stand-in and via a plain-TCP pipe
 *                    stand-in, with peak RSS, memory by kind, CPU per byte, time to first byte
 *
 * Streams run sender -> receiver in separate processes (peers are separate processes), each
 * scenario once after a short warm-up; the machine is shared, so treat figures as +-10%.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { type Hash, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import sodium from 'libsodium-wrappers-sumo';
import { generate } from 'selfsigned';
import type { TransferPeerMessage } from '../tui/core/transfer/wire.js';
import { createTransferCredentials, type TransferCredentials } from '../tui/core/transfer/credentials.js';
import { newFileHash } from '../tui/core/transfer/file-hash.js';
import { openSecureChannel } from '../tui/core/transfer/secure-channel.js';
import { FileTransfer, type TransferOptions } from '../tui/core/transfer/transfer.js';

const SELF = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}
function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}
const round = (value: number): number => Math.round(value * 10) / 10;
const mbps = (bytes: number, ms: number): number => round(bytes / MiB / (ms / 1000));

async function serverPems(): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: 'bench' }], { keyType: 'ec', algorithm: 'sha256' });
  return { key: pems.private, cert: pems.cert };
}

// ---- child processes ------------------------------------------------------------------------

type ChildMessage = { port?: number; done?: true; rssMB?: number; result?: unknown; peer?: TransferPeerMessage };

function child(role: string, extra: string[] = []): ChildProcess {
  return fork(SELF, ['--role', role, ...extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** Ends a child gracefully (it exits on disconnect, so profilers and exit hooks run); SIGKILL if it lingers. */
function stop(proc: ChildProcess): void {
  if (proc.connected) proc.disconnect();
  setTimeout(() => proc.exitCode === null && proc.kill('SIGKILL'), 5_000).unref();
}

async function nextMessage(proc: ChildProcess): Promise<ChildMessage> {
  const [message] = (await once(proc, 'message')) as [ChildMessage];
  return message;
}

/** Counts `total` bytes from a stream, then writes one byte back (so the sender can stop its clock). */
function countThenReply(stream: Duplex, total: number, onData?: (chunk: Buffer) => void): void {
  let seen = 0;
  stream.on('data', (chunk: Buffer) => {
    onData?.(chunk);
    seen += chunk.length;
    if (seen >= total) stream.write('x');
  });
  stream.on('error', () => undefined);
}

async function runChild(role: string): Promise<void> {
  const total = arg('bytes', 0);
  const send = (message: ChildMessage): void => void process.send!(message);
  process.on('disconnect', () => process.exit(0));
  setInterval(sampleMemory, 20).unref();
  switch (role) {
    case 'sink-tls': {
      let cpuAtStart = 0;
      process.on('message', () => send({ rssMB: rssMB(), result: { cpuSeconds: round(cpuSeconds() - cpuAtStart) } }));
      const server = tls.createServer({ ...(await serverPems()), minVersion: 'TLSv1.3' }, (socket) => {
        cpuAtStart = cpuSeconds();
        countThenReply(socket, total);
      });
      server.listen(0, '127.0.0.1', () => send({ port: (server.address() as net.AddressInfo).port }));
      return;
    }
    case 'sink-secretstream': {
      await sodium.ready;
      const key = new Uint8Array(Buffer.from(String(process.argv[process.argv.indexOf('--key') + 1]), 'hex'));
      const server = net.createServer((socket) => {
        let state: ReturnType<typeof sodium.crypto_secretstream_xchacha20poly1305_init_pull> | null = null;
        let pending: Buffer = Buffer.alloc(0);
        let plain = 0;
        socket.on('data', (chunk: Buffer) => {
          pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
          for (;;) {
            if (state === null) {
              if (pending.length < 24) return;
              state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(pending.subarray(0, 24), key);
              pending = pending.subarray(24);
            }
            if (pending.length < 4) return;
            const length = pending.readUInt32BE(0);
            if (pending.length < 4 + length) return;
            const out = sodium.crypto_secretstream_xchacha20poly1305_pull(state, pending.subarray(4, 4 + length), null) as
              | { message: Uint8Array; tag: number }
              | false;
            if (out === false) throw new Error('secretstream: forged chunk');
            pending = pending.subarray(4 + length);
            plain += out.message.length;
            if (plain >= total) socket.write('x');
          }
        });
      });
      server.listen(0, '127.0.0.1', () => send({ port: (server.address() as net.AddressInfo).port }));
      return;
    }
    case 'sink-peer': {
      // Receiver side of peerTls direct: TLS client over an accepted TCP socket.
      const credentials = JSON.parse(String(process.argv[process.argv.indexOf('--creds') + 1])) as TransferCredentials;
      const peerFingerprint = String(process.argv[process.argv.indexOf('--peer') + 1]);
      const server = net.createServer(async (socket) => {
        const secure = await openSecureChannel(socket, { role: 'receiver', credentials, peerFingerprint, timeoutMs: 10_000 });
        countThenReply(secure, total);
      });
      server.listen(0, '127.0.0.1', () => send({ port: (server.address() as net.AddressInfo).port }));
      return;
    }
    case 'sink-peer-relay': {
      const credentials = JSON.parse(String(process.argv[process.argv.indexOf('--creds') + 1])) as TransferCredentials;
      const peerFingerprint = String(process.argv[process.argv.indexOf('--peer') + 1]);
      const relayPort = arg('relay', 0);
      const outer = await dialRelayStandIn(relayPort, 'bench');
      send({ port: 0 });
      const secure = await openSecureChannel(outer, { role: 'receiver', credentials, peerFingerprint, timeoutMs: 10_000 });
      countThenReply(secure, total);
      return;
    }
    case 'relay': {
      // A relay stand-in: each client sends "<id>\n"; two with one id are piped together. Over
      // TLS like the real relay's connections, or (--plain) over bare TCP, to show what the
      // outer encryption costs on top of the peers' own TLS.
      const waiting = new Map<string, net.Socket>();
      let forwarded = 0;
      const onConnection = (socket: net.Socket): void => {
        socket.on('error', () => undefined);
        let head = Buffer.alloc(0);
        const onData = (chunk: Buffer): void => {
          head = Buffer.concat([head, chunk]);
          const newline = head.indexOf(10);
          if (newline === -1) return;
          socket.off('data', onData);
          socket.pause();
          const id = head.subarray(0, newline).toString();
          const rest = head.subarray(newline + 1);
          if (rest.length > 0) socket.unshift(rest);
          const other = waiting.get(id);
          if (other === undefined) {
            waiting.set(id, socket);
            return;
          }
          waiting.delete(id);
          for (const [a, b] of [[socket, other], [other, socket]] as const) {
            a.on('data', (data: Buffer) => {
              forwarded += data.length;
              if (!b.write(data)) a.pause();
            });
            b.on('drain', () => a.resume());
            a.on('close', () => b.destroy());
            a.resume();
          }
        };
        socket.on('data', onData);
      };
      const server = flag('plain')
        ? net.createServer(onConnection)
        : tls.createServer({ ...(await serverPems()), minVersion: 'TLSv1.3' }, onConnection);
      server.listen(0, '127.0.0.1', () => send({ port: (server.address() as net.AddressInfo).port }));
      process.on('message', () => send({ rssMB: rssMB(), result: { forwardedMB: round(forwarded / MiB) } }));
      return;
    }
    case 'sender-transfer': {
      const relayPort = arg('relay', 0);
      const file = String(process.argv[process.argv.indexOf('--file') + 1]);
      const bytes = (await fs.stat(file)).size;
      const started = performance.now();
      const transfer = await FileTransfer.send(file, transferOptions(relayPort, flag('relay-only'), (message) => send({ peer: message })));
      const offerHashMs = Math.round(performance.now() - started);
      const offeredAt = performance.now();
      let sessionAt = 0;
      let firstPath = '';
      let cpuAtSession = 0;
      transfer.on('session', (session) => {
        sessionAt = performance.now();
        cpuAtSession = cpuSeconds();
        firstPath = session.path;
      });
      process.on('message', (message: ChildMessage) => {
        if (message.peer !== undefined) transfer.handlePeerMessage(message.peer);
      });
      const result = await transfer.finished;
      const endedAt = performance.now();
      send({
        done: true,
        rssMB: rssMB(),
        result: {
          senderMemoryPeaks: memoryPeaks,
          senderCpuSeconds: cpuSeconds(),
          senderSessionCpuSeconds: round(cpuSeconds() - cpuAtSession),
          senderWallSeconds: round((endedAt - sessionAt) / 1000),
          state: result.state,
          path: firstPath,
          offerHashMs,
          timeToFirstByteMs: Math.round(sessionAt - offeredAt),
          MBps: mbps(bytes, endedAt - sessionAt),
        },
      });
      return;
    }
    case 'receiver-transfer': {
      const relayPort = arg('relay', 0);
      const outDir = String(process.argv[process.argv.indexOf('--out') + 1]);
      let transfer: FileTransfer | null = null;
      const options = transferOptions(relayPort, flag('relay-only'), (message) => send({ peer: message }));
      process.on('message', (message: ChildMessage) => {
        if (message.peer === undefined) return;
        if (transfer === null) {
          transfer = FileTransfer.receive(message.peer, options);
          void transfer.accept(outDir);
          let cpuAtSession = 0;
          transfer.once('session', () => (cpuAtSession = cpuSeconds()));
          void transfer.finished.then((result) =>
            send({ done: true, rssMB: rssMB(), result: { ...result, memoryPeaks, cpuSeconds: cpuSeconds(), sessionCpuSeconds: round(cpuSeconds() - cpuAtSession) } }),
          );
        } else {
          transfer.handlePeerMessage(message.peer);
        }
      });
      send({ port: 0 });
      return;
    }
    default:
      throw new Error(`unknown role ${role}`);
  }
}

function rssMB(): number {
  return round(process.resourceUsage().maxRSS / 1024);
}

/** CPU time of the whole process (all threads), user + system, in seconds. */
function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return round((usage.user + usage.system) / 1e6);
}

/** Peaks of process.memoryUsage() sampled every 20 ms: where the RSS goes. */
const memoryPeaks = { heapUsedMB: 0, externalMB: 0, arrayBuffersMB: 0 };
function sampleMemory(): void {
  const usage = process.memoryUsage();
  memoryPeaks.heapUsedMB = Math.max(memoryPeaks.heapUsedMB, round(usage.heapUsed / MiB));
  memoryPeaks.externalMB = Math.max(memoryPeaks.externalMB, round(usage.external / MiB));
  memoryPeaks.arrayBuffersMB = Math.max(memoryPeaks.arrayBuffersMB, round(usage.arrayBuffers / MiB));
}

async function dialRelayStandIn(port: number, id: string, plain = false): Promise<Duplex> {
  if (plain) {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`${id}\n`);
    return socket;
  }
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  socket.write(`${id}\n`);
  return socket;
}

function transferOptions(relayPort: number, relayOnly: boolean, send: (message: TransferPeerMessage) => void): TransferOptions {
  const plain = flag('plain-pipe');
  const at = process.argv.indexOf('--constants');
  const constants = at === -1 ? {} : (JSON.parse(process.argv[at + 1]) as TransferOptions['constants']);
  return {
    constants,
    link: { send, dialRelay: relayPort === 0 ? undefined : (id) => dialRelayStandIn(relayPort, id, plain) },
    listenHost: relayOnly ? false : '127.0.0.1',
    localCandidates: 'loopback',
    allowLoopbackCandidates: true,
    portMapping: false,
  };
}

// ---- scenarios --------------------------------------------------------------------------------

/** Writes `total` bytes of one buffer as fast as backpressure allows; resolves with ms until the reply byte. */
async function pump(stream: Duplex, total: number, encode?: (chunk: Buffer) => Buffer): Promise<number> {
  const block = randomBytes(CHUNK);
  const started = performance.now();
  const replied = once(stream, 'data');
  let sent = 0;
  await new Promise<void>((resolve) => {
    const go = (): void => {
      while (sent < total) {
        sent += CHUNK;
        const ok = stream.write(encode === undefined ? block : encode(block));
        if (!ok) {
          stream.once('drain', go);
          return;
        }
      }
      resolve();
    };
    go();
  });
  await replied;
  return performance.now() - started;
}

async function plainTls(total: number): Promise<{ MBps: number; receiverPeakRssMB?: number; cpuNsPerByte: number }> {
  const sink = child('sink-tls', ['--bytes', String(total)]);
  const { port } = await nextMessage(sink);
  const socket = tls.connect({ port: port!, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' });
  await once(socket, 'secureConnect');
  const cpuBefore = cpuSeconds();
  const ms = await pump(socket, total);
  const senderCpu = cpuSeconds() - cpuBefore;
  socket.destroy();
  sink.send({});
  const { rssMB: receiverPeakRssMB, result } = await nextMessage(sink);
  stop(sink);
  const receiverCpu = (result as { cpuSeconds: number }).cpuSeconds;
  return { MBps: mbps(total, ms), receiverPeakRssMB, cpuNsPerByte: round(((senderCpu + receiverCpu) * 1e9) / total) };
}

async function secretstream(total: number): Promise<Record<string, number>> {
  await sodium.ready;
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const block = randomBytes(CHUNK);
  const inMemory = 256 * MiB;
  const push = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const sealed: Uint8Array[] = [];
  let started = performance.now();
  for (let done = 0; done < inMemory; done += CHUNK) {
    const cipher = sodium.crypto_secretstream_xchacha20poly1305_push(push.state, block, null, 0);
    if (sealed.length < 256) sealed.push(cipher);
  }
  const pushMBps = mbps(inMemory, performance.now() - started);
  const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(push.header, key);
  started = performance.now();
  for (const cipher of sealed) sodium.crypto_secretstream_xchacha20poly1305_pull(pull, cipher, null);
  const pullMBps = mbps(sealed.length * CHUNK, performance.now() - started);

  const sink = child('sink-secretstream', ['--bytes', String(total), '--key', Buffer.from(key).toString('hex')]);
  const { port } = await nextMessage(sink);
  const socket = net.connect(port!, '127.0.0.1');
  await once(socket, 'connect');
  const stream = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  socket.write(stream.header);
  const ms = await pump(socket, total, (chunk) => {
    const cipher = sodium.crypto_secretstream_xchacha20poly1305_push(stream.state, chunk, null, 0);
    const frame = Buffer.allocUnsafe(4 + cipher.length);
    frame.writeUInt32BE(cipher.length, 0);
    frame.set(cipher, 4);
    return frame;
  });
  socket.destroy();
  stop(sink);
  return { pushMBps, pullMBps, overTcpMBps: mbps(total, ms) };
}

async function peerTls(total: number): Promise<Record<string, number>> {
  let started = performance.now();
  const sender = await createTransferCredentials();
  const receiver = await createTransferCredentials();
  const certMs = round((performance.now() - started) / 2);

  // Direct: the sender dials, the receiver accepts; TLS roles are the transfer roles.
  const sink = child('sink-peer', ['--bytes', String(total), '--creds', JSON.stringify(receiver), '--peer', sender.fingerprint]);
  const { port } = await nextMessage(sink);
  const socket = net.connect(port!, '127.0.0.1');
  await once(socket, 'connect');
  started = performance.now();
  const secure = await openSecureChannel(socket, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 10_000 });
  const handshakeMs = round(performance.now() - started);
  const directMs = await pump(secure, total);
  secure.destroy();
  stop(sink);

  // Relay path: both peers hold a TLS connection to the relay; peer TLS runs inside it.
  const relay = child('relay');
  const relayPort = (await nextMessage(relay)).port!;
  const far = child('sink-peer-relay', ['--bytes', String(total), '--creds', JSON.stringify(receiver), '--peer', sender.fingerprint, '--relay', String(relayPort)]);
  await nextMessage(far);
  const outer = await dialRelayStandIn(relayPort, 'bench');
  const inner = await openSecureChannel(outer, { role: 'sender', credentials: sender, peerFingerprint: receiver.fingerprint, timeoutMs: 10_000 });
  const relayMs = await pump(inner, total);
  inner.destroy();
  stop(far);
  stop(relay);
  return { certGenerationMs: certMs, handshakeMs, directMBps: mbps(total, directMs), relayMBps: mbps(total, relayMs) };
}

function hashes(): Record<string, number> {
  const total = 256 * MiB;
  const block = randomBytes(CHUNK);
  const rate = (hash: Hash): number => {
    const started = performance.now();
    for (let done = 0; done < total; done += CHUNK) hash.update(block);
    hash.digest('hex');
    return mbps(total, performance.now() - started);
  };
  return { fileHashSha256MBps: rate(newFileHash()), nodeBlake2b512MBps: rate(createHash('blake2b512')) };
}

/**
 * The real FileTransfer, file to file: sender, receiver and relay stand-in each in their own
 * process (so peak RSS is per process); end-to-end messages are routed through this process.
 * Time to first byte counts from the offer reaching the receiver (which accepts at once) to
 * the first session starting; throughput from the session start to the end (hash checked,
 * file renamed, `done` received).
 */
async function fileTransfer(file: string, path_: 'direct' | 'relay' | 'relay-plain-pipe'): Promise<Record<string, unknown>> {
  const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-transfer-out-'));
  const relay = child('relay', path_ === 'relay-plain-pipe' ? ['--plain'] : []);
  const relayPort = (await nextMessage(relay)).port!;
  const mode = path_ === 'direct' ? [] : path_ === 'relay' ? ['--relay-only'] : ['--relay-only', '--plain-pipe'];
  // --constants '{"CHUNK_BYTES":262144}' passes TransferConstants overrides to both peers (tuning).
  const at = process.argv.indexOf('--constants');
  if (at !== -1) mode.push('--constants', process.argv[at + 1]);
  const receiver = child('receiver-transfer', ['--relay', String(relayPort), '--out', outDir, ...mode]);
  await nextMessage(receiver);
  const sender = child('sender-transfer', ['--relay', String(relayPort), '--file', file, ...mode]);
  const finished = (proc: ChildProcess): Promise<ChildMessage> =>
    new Promise((resolve) => proc.on('message', (message: ChildMessage) => (message.done === true ? resolve(message) : undefined)));
  const senderDone = finished(sender);
  const receiverDone = finished(receiver);
  sender.on('message', (message: ChildMessage) => message.peer !== undefined && receiver.send({ peer: message.peer }));
  receiver.on('message', (message: ChildMessage) => message.peer !== undefined && sender.send({ peer: message.peer }));
  const [near, far] = await Promise.all([senderDone, receiverDone]);
  relay.send({});
  const relayStats = await nextMessage(relay);
  for (const proc of [sender, receiver, relay]) stop(proc);
  await fs.rm(outDir, { recursive: true, force: true });
  return {
    ...(near.result as Record<string, unknown>),
    receiverState: (far.result as { state?: string } | undefined)?.state,
    receiverMemoryPeaks: (far.result as { memoryPeaks?: unknown } | undefined)?.memoryPeaks,
    receiverCpuSeconds: (far.result as { cpuSeconds?: unknown } | undefined)?.cpuSeconds,
    /** Sender + receiver CPU from the session start to the end, per file byte (relay process not counted). */
    peersCpuNsPerByte: round(
      (((near.result as { senderSessionCpuSeconds: number }).senderSessionCpuSeconds + (far.result as { sessionCpuSeconds: number }).sessionCpuSeconds) * 1e9) /
        (await fs.stat(file)).size,
    ),
    senderPeakRssMB: near.rssMB,
    receiverPeakRssMB: far.rssMB,
    relayPeakRssMB: relayStats.rssMB,
    relayForwardedMB: (relayStats.result as { forwardedMB: number }).forwardedMB,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : round((sorted[mid - 1] + sorted[mid]) / 2);
}

/**
 * Every scenario runs `--repeat` times, interleaved with the plain-TLS baseline, and each
 * ratio is taken against the baseline of the same round; medians are reported. The machine
 * is shared, so a ratio within one round is worth more than an absolute figure.
 */
async function main(): Promise<void> {
  const total = arg('mb', 256) * MiB;
  const fileBytes = arg('file-mb', 256) * MiB;
  const repeat = arg('repeat', 3);
  const withFiles = !flag('skip-files');
  const report: Record<string, unknown> = {
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      node: process.version,
      loadAverage1m: round(os.loadavg()[0]),
      streamMB: total / MiB,
      fileMB: fileBytes / MiB,
      repeat,
    },
  };
  let file = '';
  let dir = '';
  if (withFiles) {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-transfer-'));
    file = path.join(dir, 'payload.bin');
    const handle = await fs.open(file, 'w');
    const block = randomBytes(4 * MiB);
    for (let at = 0; at < fileBytes; at += block.length) await handle.write(block, 0, Math.min(block.length, fileBytes - at), at);
    await handle.close();
  }
  await plainTls(32 * MiB); // warm-up
  const rounds: Array<Record<string, any>> = [];
  // --only files: just the baseline and the file transfers (quicker when tuning).
  const onlyFiles = process.argv.includes('--only') && process.argv[process.argv.indexOf('--only') + 1] === 'files';
  for (let i = 0; i < repeat; i++) {
    const r: Record<string, any> = {};
    r.plainTls = await plainTls(total);
    const plain = r.plainTls.MBps as number;
    r.ratios = {};
    if (!onlyFiles) {
      r.secretstream = await secretstream(total);
      r.peerTls = await peerTls(total);
      r.ratios.secretstreamOverTcp = r.secretstream.overTcpMBps / plain;
      r.ratios.peerTlsDirect = r.peerTls.directMBps / plain;
      r.ratios.peerTlsRelay = r.peerTls.relayMBps / plain;
    }
    if (withFiles) {
      r.fileDirect = await fileTransfer(file, 'direct');
      r.fileRelay = await fileTransfer(file, 'relay');
      r.fileRelayPlainPipe = await fileTransfer(file, 'relay-plain-pipe');
      r.ratios.fileDirect = r.fileDirect.MBps / plain;
      r.ratios.fileRelay = r.fileRelay.MBps / plain;
      r.ratios.fileRelayPlainPipe = r.fileRelayPlainPipe.MBps / plain;
    }
    rounds.push(r);
  }
  const med = (pick: (r: Record<string, any>) => number): number => median(rounds.map(pick));
  report.plainTls = {
    MBps: med((r) => r.plainTls.MBps),
    cpuNsPerByte: med((r) => r.plainTls.cpuNsPerByte),
    receiverPeakRssMB: Math.max(...rounds.map((r) => r.plainTls.receiverPeakRssMB as number)),
  };
  if (!onlyFiles) {
  report.secretstream = {
    pushMBps: med((r) => r.secretstream.pushMBps),
    pullMBps: med((r) => r.secretstream.pullMBps),
    overTcpMBps: med((r) => r.secretstream.overTcpMBps),
  };
  report.peerTls = {
    certGenerationMs: med((r) => r.peerTls.certGenerationMs),
    handshakeMs: med((r) => r.peerTls.handshakeMs),
    directMBps: med((r) => r.peerTls.directMBps),
    relayMBps: med((r) => r.peerTls.relayMBps),
  };
  report.hash = hashes();
  }
  if (withFiles) {
    for (const key of ['fileDirect', 'fileRelay', 'fileRelayPlainPipe']) {
      const last = rounds[rounds.length - 1][key] as Record<string, unknown>;
      report[key] = {
        ...last,
        MBps: med((r) => r[key].MBps),
        peersCpuNsPerByte: med((r) => r[key].peersCpuNsPerByte),
        timeToFirstByteMs: med((r) => r[key].timeToFirstByteMs),
        senderPeakRssMB: Math.max(...rounds.map((r) => r[key].senderPeakRssMB as number)),
        receiverPeakRssMB: Math.max(...rounds.map((r) => r[key].receiverPeakRssMB as number)),
        relayPeakRssMB: Math.max(...rounds.map((r) => r[key].relayPeakRssMB as number)),
      };
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  const percent = (key: string): number => Math.round(median(rounds.map((r) => r.ratios[key] as number)) * 100);
  report.percentOfPlainTls = Object.fromEntries(Object.keys(rounds[0].ratios).map((key) => [key, percent(key)]));
  report.perRoundPercent = rounds.map((r) => Object.fromEntries(Object.entries(r.ratios).map(([k, v]) => [k, Math.round((v as number) * 100)])));
  console.log(JSON.stringify(report, null, 2));
}

const roleAt = process.argv.indexOf('--role');
if (roleAt !== -1) {
  await runChild(process.argv[roleAt + 1]);
} else {
  await main();
  process.exit(0);
}
