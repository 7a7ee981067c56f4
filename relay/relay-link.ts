/**
 * Relay links: the connection one relay of a cluster opens to another to join a relay pipe
 * whose two sides reached different relays (pipe-broker.ts). The link carries the peers'
 * bytes, which are already end-to-end TLS between the peers; the link adds its own TLS so a
 * network between relay machines sees neither.
 *
 * Both ends present the cluster's one certificate (every relay presents the same, since
 * clients pin one fingerprint) and each checks the other presented exactly that certificate:
 * only a holder of the relay key can open or answer a link. After TLS the dialer sends one
 * JSON line `{"v":1,"side":KEY,"from":RELAY_ID}` naming the pipe side waiting at the other
 * relay; the answer is `{"ok":true}` (then raw bytes both ways) or `{"ok":false,"code":…}`.
 */
import { X509Certificate } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { z } from 'zod';
import { ChatError } from '../shared/errors.js';
import { parseChecked } from './checked-json.js';
import { listenOn } from './listen.js';

/** The relay's certificate and key (PEM), the same on every relay of the cluster. */
export interface LinkCertificate {
  cert: string;
  key: string;
}

export interface LinkListenerOptions {
  host: string;
  port: number;
  /** `host:port` the other relays dial; default: the listening address (a wildcard is replaced by this machine's first non-loopback IPv4). */
  advertise?: string;
  certificate: LinkCertificate;
  /** How long the dialer has for TLS and its header. */
  timeoutMs: number;
  /**
   * Claims the pipe side waiting under `side` for a link from `fromRelay`: a function that
   * joins the link to it (called once the dialler has been told yes), or undefined when no
   * side waits there (the link is refused).
   */
  accept(side: string, fromRelay: string): ((link: Duplex) => void) | undefined;
  log: (line: string) => void;
}

export interface LinkListener {
  /** Where other relays dial this one (`host:port`). */
  readonly address: string;
  close(): Promise<void>;
}

/** A header line is short; anything longer is not a relay. */
const MAX_LINE_BYTES = 2_048;

const HelloSchema = z.object({ v: z.literal(1), side: z.string().min(1).max(1_024), from: z.string().min(1).max(64) });
const AnswerSchema = z.union([z.object({ ok: z.literal(true) }), z.object({ ok: z.literal(false), code: z.string().max(64) })]);

export async function listenForLinks(options: LinkListenerOptions): Promise<LinkListener> {
  const own = new X509Certificate(options.certificate.cert).raw;
  const server = createServer({
    cert: options.certificate.cert,
    key: options.certificate.key,
    minVersion: 'TLSv1.3',
    // Checked by hand below: the one certificate of the cluster, not a CA chain.
    requestCert: true,
    rejectUnauthorized: false,
    handshakeTimeout: options.timeoutMs,
  });
  const open = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    if (!samePeerCertificate(socket, own)) {
      options.log(`relay link from ${socket.remoteAddress ?? 'unknown'} refused: not the cluster's certificate`);
      socket.destroy();
      return;
    }
    readLine(socket, options.timeoutMs).then(
      (line) => {
        const hello = parseChecked(HelloSchema, line);
        if (!hello) {
          socket.destroy();
          return;
        }
        const join = options.accept(hello.side, hello.from);
        if (!join) {
          socket.end(`${JSON.stringify({ ok: false, code: 'E_PIPE_TIMEOUT' })}\n`);
          return;
        }
        // Before the join: the waiting side may send as soon as it is handed over.
        socket.write(`${JSON.stringify({ ok: true })}\n`);
        join(socket);
      },
      () => socket.destroy(),
    );
  });
  server.on('tlsClientError', (_error, socket) => socket.destroy());
  const { port } = await listenOn(server, options.port, options.host);
  return {
    address: options.advertise ?? `${advertisedHost(options.host)}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Dials relay link `address` for the pipe side waiting there under `side`; resolves once that relay joined it. */
export function dialLink(address: string, certificate: LinkCertificate, fromRelay: string, side: string, timeoutMs: number): Promise<Duplex> {
  const { host, port } = splitAddress(address);
  const own = new X509Certificate(certificate.cert).raw;
  return new Promise<Duplex>((resolve, reject) => {
    const socket = connect({ host, port, cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.3', rejectUnauthorized: false, timeout: timeoutMs });
    const fail = (why: string) => {
      socket.destroy();
      reject(new ChatError('E_RELAY_LINK', undefined, { address, why }));
    };
    socket.once('timeout', () => fail('timed out'));
    socket.once('error', (error) => fail(error.message));
    socket.once('secureConnect', () => {
      if (!samePeerCertificate(socket, own)) return fail("the relay there does not present the cluster's certificate");
      socket.write(`${JSON.stringify({ v: 1, side, from: fromRelay })}\n`);
      readLine(socket, timeoutMs).then(
        (line) => {
          const answer = parseChecked(AnswerSchema, line);
          if (!answer) return fail('the answer was not a relay link answer');
          if (!answer.ok) return fail(`refused: ${answer.code}`);
          socket.setTimeout(0);
          socket.removeAllListeners('timeout');
          socket.removeAllListeners('error');
          socket.on('error', () => undefined);
          resolve(socket);
        },
        (error: Error) => fail(error.message),
      );
    });
  });
}

/**
 * Reads one `\n`-terminated line (at most MAX_LINE_BYTES) and puts back whatever followed
 * it, so the raw bytes after the header reach whoever reads the stream next.
 */
export function readLine(stream: Duplex, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error('no header in time')), timeoutMs);
    const done = (error?: Error, line?: string, rest?: Buffer) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('close', onClose);
      stream.pause();
      if (rest && rest.length > 0) stream.unshift(rest);
      if (error) reject(error);
      else resolve(line!);
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(0x0a);
      if (end >= 0 && end <= MAX_LINE_BYTES) return done(undefined, buffered.subarray(0, end).toString('utf8'), buffered.subarray(end + 1));
      if (end > MAX_LINE_BYTES || buffered.length > MAX_LINE_BYTES) done(new Error('header line too long'));
    };
    const onClose = () => done(new Error('closed before the header'));
    stream.on('data', onData);
    stream.once('close', onClose);
  });
}

function samePeerCertificate(socket: TLSSocket, own: Buffer): boolean {
  const raw = socket.getPeerCertificate()?.raw;
  return Buffer.isBuffer(raw) && raw.equals(own);
}


/** `host:port` or `[v6]:port`. */
export function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port < 1 || port > 65_535) throw new ChatError('E_USAGE', `not a host:port address: ${address}`);
  return { host: match[1]!, port };
}

function advertisedHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::' && host !== '') return host.includes(':') ? `[${host}]` : host;
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '127.0.0.1';
}
