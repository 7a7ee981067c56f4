import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ChatError } from '../../../shared/errors.js';
import { type Candidate, type PathKind, isLoopbackAddress } from './candidates.js';
import type { TransferConstants } from './constants.js';
import type { TransferCredentials } from './credentials.js';
import { FramedChannel } from './framed-channel.js';
import { type Gathering, gatherCandidates } from './gather.js';
import { openSecureChannel } from './secure-channel.js';
import type { TransferInput, TransferRole } from './state-machine.js';
import type { TransferOptions } from './transfer-types.js';

/**
 * The data connections of one transfer: the per-transfer listener and candidate gathering,
 * dialling the peer's candidates and the relay pipe, the authenticated TLS handshake on each
 * (and, for the receiver, waiting for the sender's `go`), and closing them. It reports to the
 * transfer's state machine through {@link DataConnectionsHost} and never decides which
 * connection wins or what runs on it: that is the machine's and the transfer's job.
 */
export interface DataConnectionsHost {
  readonly transferId: string;
  readonly role: TransferRole;
  readonly constants: TransferConstants;
  readonly options: TransferOptions;
  /** This side's TLS identity and the peer's certificate fingerprint, once both are known. */
  identity(): { credentials: TransferCredentials; peerFingerprint: string } | null;
  /** An input for the transfer's state machine. */
  input(input: TransferInput): void;
  /** Whether the machine took the attempt of this id (it closes inbound connections it does not take). */
  hasAttempt(id: string): boolean;
  /** The transfer let go of everything: nothing new may start. */
  isReleased(): boolean;
  log(line: string): void;
}

export interface Connection {
  id: string;
  path: PathKind;
  abort: AbortController;
  stream: Duplex | null;
  channel: FramedChannel | null;
}

/** `lan` for a peer address inside a private network (RFC 1918, ULA, link-local, loopback). */
function privateOrLocal(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, '');
  return (
    isLoopbackAddress(address) ||
    /^10\./.test(v4) ||
    /^192\.168\./.test(v4) ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(v4) ||
    /^169\.254\./.test(v4) ||
    /^f[cd]/i.test(address) ||
    /^fe80:/i.test(address)
  );
}

export class DataConnections {
  private readonly connections = new Map<string, Connection>();
  private server: net.Server | null = null;
  private gathering: Gathering | null = null;
  private inboundNumber = 1;

  constructor(private readonly host: DataConnectionsHost) {}

  /** A connection (attempt) by id. */
  get(id: string): Connection | undefined {
    return this.connections.get(id);
  }

  /** Takes a connection out of the table without closing it (the caller closes it, later). */
  take(id: string): Connection | undefined {
    const connection = this.connections.get(id);
    this.connections.delete(id);
    return connection;
  }

  /** Closes every connection, the listener and the gathering (port mapping included). */
  async closeAll(): Promise<void> {
    for (const id of [...this.connections.keys()]) this.closeConnection(id);
    const server = this.server;
    this.server = null;
    const closing = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all([closing, this.gathering?.release()]);
  }

  /** Listener + candidates; never blocks (mapping runs in the background). */
  async prepare(): Promise<void> {
    const send = (candidates: Candidate[], final: boolean): void => {
      if (this.host.isReleased()) return;
      try {
        this.host.options.link.send({ t: 'file-candidates', transferId: this.host.transferId, candidates, final });
      } catch (error) {
        this.host.log(`could not send candidates: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    const host = this.host.options.listenHost ?? '::';
    if (host === false) {
      send([], true);
      return;
    }
    let port: number;
    try {
      // '::' also takes IPv4 (ipv6Only false); a host without IPv6 gets 0.0.0.0 instead.
      port = await this.listen(host).catch((error: unknown) => {
        if (this.host.options.listenHost !== undefined) throw error;
        return this.listen('0.0.0.0');
      });
    } catch (error) {
      this.host.log(`no listener (${error instanceof Error ? error.message : String(error)}); direct connections only outbound`);
      send([], true);
      return;
    }
    if (this.host.isReleased()) return;
    this.gathering = gatherCandidates({
      port,
      policy: this.host.options.localCandidates ?? 'interfaces',
      observedAddress: this.host.options.observedAddress,
      mapping:
        this.host.options.portMapping === false
          ? false
          : {
              ...(this.host.options.portMapping ?? {}),
              timeoutMs: this.host.constants.MAPPING_TIMEOUT_MS,
              ttlMs: this.host.constants.MAPPING_TTL_MS,
              description: this.host.options.portMapping?.description ?? 'securechat file transfer',
              log: (line) => this.host.log(line),
            },
      onCandidates: send,
    });
  }

  private listen(host: string): Promise<number> {
    const server = net.createServer((socket) => this.onInbound(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0, ipv6Only: false }, () => {
        server.off('error', reject);
        server.on('error', (error) => this.host.log(`listener error: ${error.message}`));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private onInbound(socket: net.Socket): void {
    const pending = [...this.connections.values()].filter((c) => c.id.startsWith('in') && c.channel === null).length;
    if (this.host.isReleased() || pending >= this.host.constants.MAX_PENDING_INBOUND) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const id = `in${this.inboundNumber++}`;
    const remote = socket.remoteAddress ?? '';
    const connection: Connection = { id, path: privateOrLocal(remote) ? 'lan' : 'direct', abort: new AbortController(), stream: socket, channel: null };
    this.connections.set(id, connection);
    this.host.input({ type: 'dial-started', connectionId: id, path: connection.path });
    if (!this.host.hasAttempt(id)) {
      // The machine took no inbound connection in this state (and said close).
      return;
    }
    void this.handshake(connection, socket);
  }

  dialDirect(id: string, candidate: Candidate): void {
    const connection: Connection = { id, path: candidate.kind === 'lan' || candidate.kind === 'loopback' ? 'lan' : 'direct', abort: new AbortController(), stream: null, channel: null };
    this.connections.set(id, connection);
    this.host.log(`${id}: dialling ${candidate.kind} ${candidate.host}:${candidate.port}`);
    const socket = net.connect({ host: candidate.host, port: candidate.port });
    connection.stream = socket;
    let connected = false;
    const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.host.constants.DIAL_TIMEOUT_MS);
    socket.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      void this.handshake(connection, socket);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (connected) return; // after connect, the handshake (or the session) reports
      this.host.log(`${id}: dial ${candidate.host}:${candidate.port} failed: ${error.message}`);
      this.connectionFailed(id);
    });
    socket.once('close', () => clearTimeout(timer));
  }

  dialRelay(id: string): void {
    this.host.log(`${id}: dialling the relay pipe`);
    const connection: Connection = { id, path: 'relay', abort: new AbortController(), stream: null, channel: null };
    this.connections.set(id, connection);
    const dial = this.host.options.link.dialRelay;
    if (dial === undefined) {
      queueMicrotask(() => this.connectionFailed(id));
      return;
    }
    dial(this.host.transferId, connection.abort.signal).then(
      (stream) => {
        if (connection.abort.signal.aborted || this.connections.get(id) !== connection) {
          stream.destroy();
          return;
        }
        connection.stream = stream;
        void this.handshake(connection, stream);
      },
      (error: unknown) => {
        this.host.log(`relay pipe failed: ${error instanceof Error ? error.message : String(error)}`);
        this.connectionFailed(id);
      },
    );
  }

  /** TLS with the expected certificate; the receiver then waits for the leader's `go`. */
  private async handshake(connection: Connection, stream: Duplex): Promise<void> {
    const identity = this.host.identity();
    if (identity === null) {
      stream.destroy();
      this.connectionFailed(connection.id);
      return;
    }
    try {
      const socket = await openSecureChannel(stream, {
        role: this.host.role,
        credentials: identity.credentials,
        peerFingerprint: identity.peerFingerprint,
        timeoutMs: this.host.constants.HANDSHAKE_TIMEOUT_MS,
        signal: connection.abort.signal,
      });
      if (this.connections.get(connection.id) !== connection || connection.abort.signal.aborted) {
        socket.destroy();
        return;
      }
      const channel = new FramedChannel(socket, this.host.constants.CHUNK_BYTES);
      connection.channel = channel;
      // The sender's name for the path wins, so both ends say the same.
      if (this.host.role === 'receiver') connection.path = (await this.waitForGo(channel)) ?? connection.path;
    } catch (error) {
      this.host.log(`connection ${connection.id} (${connection.path}) failed: ${error instanceof ChatError ? error.code : String(error)}`);
      connection.channel?.destroy();
      stream.destroy();
      this.connectionFailed(connection.id);
      return;
    }
    if (this.connections.get(connection.id) !== connection) return;
    this.host.input({ type: 'handshake-ok', connectionId: connection.id, ...(this.host.role === 'receiver' ? { path: connection.path } : {}) });
  }

  /** Resolves with the sender's name for the path (undefined from an older sender). */
  private waitForGo(channel: FramedChannel): Promise<PathKind | undefined> {
    return new Promise((resolve, reject) => {
      let path: PathKind | undefined;
      const timer = setTimeout(() => {
        channel.setHandlers(null);
        reject(new ChatError('E_HANDSHAKE_TIMEOUT', 'no go from the sender'));
      }, this.host.constants.HANDSHAKE_TIMEOUT_MS);
      const stop = (error: ChatError | null): void => {
        clearTimeout(timer);
        channel.setHandlers(null);
        if (error === null) resolve(path);
        else reject(error);
      };
      channel.setHandlers({
        onMessage: (message) => {
          if (message.t === 'go' && message.transferId === this.host.transferId) {
            path = message.path;
            stop(null);
          }
          else stop(new ChatError('E_PROTOCOL', `expected go, got ${message.t}`));
        },
        onData: () => stop(new ChatError('E_PROTOCOL', 'data before go')),
        onClose: (error) => stop(error ?? new ChatError('E_CLOSED')),
      });
    });
  }

  private connectionFailed(id: string): void {
    if (this.closeConnection(id)) this.host.input({ type: 'dial-failed', connectionId: id });
  }

  /** Stops a connection attempt or connection; false if there was none by that id. */
  closeConnection(id: string): boolean {
    const connection = this.connections.get(id);
    if (connection === undefined) return false;
    this.connections.delete(id);
    connection.abort.abort();
    connection.channel?.destroy();
    connection.stream?.destroy();
    return true;
  }
}
