/**
 * The bare floor every figure is compared with: a minimal Node TLS 1.3 relay that forwards
 * each length-prefixed frame it receives to every other connection, written to each socket
 * separately as it arrives. No accounts, no storage, no validation, no rooms.
 *
 * Two additions, both mirroring what the real relay does: the sender gets its own frame back,
 * as its acknowledgement (the relay answers every room message with an `ack` to its sender,
 * so both write one frame per connection per message, and a windowed sender can pace itself
 * on either); and a new connection gets one `welcome` frame once it is in the broadcast set,
 * so a client knows when it will hear others (TLS 1.3 lets the client finish its handshake
 * before the server has).
 */
import { createServer, type TLSSocket } from 'node:tls';
import { loadOrCreateCertificate } from '../relay/certs.js';
import { listenOn } from '../relay/listen.js';
import { encodeControl } from '../shared/codec.js';

export interface BaselineOptions {
  host: string;
  port: number;
  /** Where the self-signed certificate is made (the same EC P-256 kind the relay makes). */
  dataDir: string;
  /** Disable Nagle on accepted sockets (default true, as the relay does: the floor should be fast). */
  noDelay?: boolean;
}

export interface RunningBaseline {
  host: string;
  port: number;
  fingerprint: string;
  readonly connectionCount: number;
  close(): Promise<void>;
}

/** Largest frame forwarded; bigger ones close the connection (as the relay's limit would). */
const MAX_FRAME_BYTES = 64 * 1024;
const WELCOME = encodeControl({ t: 'welcome' });

export async function startBaselineRelay(options: BaselineOptions): Promise<RunningBaseline> {
  const certificate = await loadOrCreateCertificate(options.dataDir);
  const sockets = new Set<TLSSocket>();
  const server = createServer({ key: certificate.key, cert: certificate.cert, minVersion: 'TLSv1.3' });

  server.on('secureConnection', (socket: TLSSocket) => {
    if (options.noDelay !== false) socket.setNoDelay(true);
    sockets.add(socket);
    socket.write(WELCOME);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let offset = 0;
      while (pending.length - offset >= 4) {
        const length = pending.readUInt32BE(offset);
        if (length < 1 || length > MAX_FRAME_BYTES) {
          socket.destroy();
          return;
        }
        if (pending.length - offset < 4 + length) break;
        const frame = pending.subarray(offset, offset + 4 + length);
        offset += 4 + length;
        for (const other of sockets) if (other !== socket) other.write(frame);
        socket.write(frame);
      }
      pending = offset === pending.length ? Buffer.alloc(0) : pending.subarray(offset);
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (_error, socket) => socket.destroy());

  const address = await listenOn(server, options.port, options.host);
  return {
    host: address.address,
    port: address.port,
    fingerprint: certificate.fingerprint,
    get connectionCount() {
      return sockets.size;
    },
    close: async () => {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await stopped;
    },
  };
}
