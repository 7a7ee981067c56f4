/**
 * Shared fixtures for the file-transfer tests: temp folders and files, a loopback "relay
 * pipe" stand-in, and a pair of transfers whose end-to-end messages are delivered directly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import type { TransferPeerMessage } from '../../tui/core/transfer/wire.js';
import { FileTransfer, type TransferOptions } from '../../tui/core/transfer/transfer.js';

/** Writes `bytes` pseudo-random bytes (1 MiB of randomness repeated with a counter) and returns the path. */
export async function writeTestFile(dir: string, name: string, bytes: number): Promise<string> {
  const file = path.join(dir, name);
  const handle = await fs.open(file, 'w');
  const block = randomBytes(1024 * 1024);
  try {
    for (let at = 0, n = 0; at < bytes; n++) {
      const size = Math.min(block.length, bytes - at);
      block.writeUInt32BE(n, 0); // every block differs, so a misplaced block changes the hash
      await handle.write(block, 0, size, at);
      at += size;
    }
  } finally {
    await handle.close();
  }
  return file;
}

/** SHA-256 hex of a file, taken here apart from the client (a peer transfer's whole-file hash, tui/core/transfer/file-hash.ts). */
export async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every entry under `root` as relative path -> SHA-256 of a regular file, or 'not a file' (a link, a socket...); folders are walked. */
export async function fileTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await fs.readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const info = await fs.lstat(full);
      const key = rel === '' ? name : `${rel}/${name}`;
      if (info.isDirectory()) await walk(full, key);
      else out[key] = info.isFile() ? await sha256OfFile(full) : 'not a file';
    }
  };
  await walk(root, '');
  return out;
}

export async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Stand-in for the relay's pipe: a TCP server on 127.0.0.1:0; each side connects and writes
 * the transfer id plus a newline; two connections with the same id are joined byte for byte
 * (socket pair joined by a tiny forwarder). Counts the bytes it forwarded.
 */
export class PipeForwarder {
  readonly server: net.Server;
  forwardedBytes = 0;
  private waiting = new Map<string, net.Socket>();
  private sockets = new Set<net.Socket>();

  private constructor() {
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  static async start(): Promise<PipeForwarder> {
    const forwarder = new PipeForwarder();
    forwarder.server.listen(0, '127.0.0.1');
    await once(forwarder.server, 'listening');
    return forwarder;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** A `dialRelay` for TransferLink. */
  dial = async (transferId: string, signal: AbortSignal): Promise<Duplex> => {
    const socket = net.connect(this.port, '127.0.0.1');
    const onAbort = (): void => void socket.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    await once(socket, 'connect');
    signal.removeEventListener('abort', onAbort);
    socket.write(`${transferId}\n`);
    return socket;
  };

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const newline = head.indexOf(10);
      if (newline === -1) {
        if (head.length > 100) socket.destroy();
        return;
      }
      socket.off('data', onData);
      socket.pause();
      const id = head.subarray(0, newline).toString();
      const rest = head.subarray(newline + 1);
      const other = this.waiting.get(id);
      if (other === undefined || other.destroyed) {
        this.waiting.set(id, socket);
        if (rest.length > 0) socket.unshift(rest);
        return;
      }
      this.waiting.delete(id);
      if (rest.length > 0) socket.unshift(rest);
      this.join(other, socket);
    };
    socket.on('data', onData);
  }

  private join(a: net.Socket, b: net.Socket): void {
    const count = (chunk: Buffer): void => {
      this.forwardedBytes += chunk.length;
    };
    a.on('data', count);
    b.on('data', count);
    a.pipe(b);
    b.pipe(a);
    a.on('close', () => b.destroy());
    b.on('close', () => a.destroy());
    a.resume();
    b.resume();
  }

  /** Breaks every joined pipe (a relay restart, as the peers see it). */
  cutAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface PairOptions {
  file: string;
  sender?: Partial<TransferOptions>;
  receiver?: Partial<TransferOptions>;
  /** Inspect or drop messages in flight (return false to drop). */
  filter?: (from: 'sender' | 'receiver', message: TransferPeerMessage) => boolean;
  relay?: PipeForwarder;
}

export interface Pair {
  sender: FileTransfer;
  receiver: FileTransfer;
  /** Every end-to-end message, in order. */
  messages: Array<{ from: 'sender' | 'receiver'; message: TransferPeerMessage }>;
}

/** Loopback-only defaults: no port mapping, 127.0.0.1 candidates, no relay unless given. */
export function loopbackOptions(): Omit<TransferOptions, 'link'> {
  return {
    listenHost: '127.0.0.1',
    localCandidates: 'loopback',
    allowLoopbackCandidates: true,
    portMapping: false,
  };
}

/**
 * Offers `file` from a sender to a receiver in this process. End-to-end messages go through
 * a JSON round trip on the next tick, as they would through the relay.
 */
export async function startPair(options: PairOptions): Promise<Pair> {
  const messages: Pair['messages'] = [];
  let receiver: FileTransfer | null = null;
  let sender: FileTransfer | null = null;
  let receiverReady!: (transfer: FileTransfer) => void;
  const receiverCreated = new Promise<FileTransfer>((resolve) => (receiverReady = resolve));
  const deliver = (from: 'sender' | 'receiver', message: TransferPeerMessage): void => {
    messages.push({ from, message });
    if (options.filter !== undefined && !options.filter(from, message)) return;
    const copy = JSON.parse(JSON.stringify(message)) as unknown;
    setImmediate(() => {
      if (from === 'sender') {
        if (receiver === null) {
          receiver = FileTransfer.receive(copy, {
            ...loopbackOptions(),
            ...options.receiver,
            link: { send: (m) => deliver('receiver', m), dialRelay: options.relay?.dial },
          });
          receiverReady(receiver);
        } else {
          receiver.handlePeerMessage(copy);
        }
      } else {
        sender?.handlePeerMessage(copy);
      }
    });
  };
  sender = await FileTransfer.send(options.file, {
    ...loopbackOptions(),
    ...options.sender,
    link: { send: (m) => deliver('sender', m), dialRelay: options.relay?.dial },
  });
  return { sender, receiver: await receiverCreated, messages };
}

/** Two connected in-memory streams (Node 20 has no stream.duplexPair): what one writes, the other reads. */
export function memoryDuplexPair(): [Duplex, Duplex] {
  const leftToRight = new PassThrough();
  const rightToLeft = new PassThrough();
  const left = Duplex.from({ readable: rightToLeft, writable: leftToRight });
  const right = Duplex.from({ readable: leftToRight, writable: rightToLeft });
  // Duplex.from emits AbortError when destroyed without an error; tests destroy them freely.
  for (const side of [left, right]) side.on('error', () => undefined);
  return [left, right];
}

/** A connected pair of loopback TCP sockets: [dialled, accepted]. */
export async function tcpPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const dialled = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [[socket]] = await Promise.all([accepted, once(dialled, 'connect')]);
  server.close();
  return [dialled, socket];
}
