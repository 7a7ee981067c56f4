import type { TLSSocket } from 'node:tls';
import { FrameDecoder, FrameKind, decodeControlPayload, encodeControl } from '../shared/codec.js';
import { ChatError, type ErrorCode } from '../shared/errors.js';
import type { Limits } from '../shared/limits.js';
import { parseClientMessage, type ClientMessage, type RelayMessage } from '../shared/messages.js';
import { boundChallenge } from '../shared/login-proof.js';
import { clientAddressOf } from './proxy-front.js';
import { admit, transition, type SessionEvent, type SessionState } from './session.js';
import type { Room, RoomMember } from './rooms.js';

export interface ConnectionHooks {
  /** Handles one admitted request; requests of one connection are handled one at a time, in order. */
  onRequest(connection: RelayConnection, message: ClientMessage): void | Promise<void>;
  onClosed(connection: RelayConnection): void;
  log(line: string): void;
}

/** Requests waiting on one connection before it stops reading from the socket. */
const MAX_QUEUED_REQUESTS = 64;
const RESUME_READING_AT = 16;
/** How long a closing connection may take to flush its last frames. */
const CLOSE_GRACE_MS = 1_000;

let nextConnectionId = 1;

/**
 * One client connection: framing, validation, the session state, ordered request handling,
 * a bounded outbound queue, and the one teardown path.
 */
export class RelayConnection implements RoomMember {
  readonly id = nextConnectionId++;
  readonly address: string;
  state: SessionState = 'hello';
  private sessionUserName = '';
  private sessionUserKey = '';
  private sessionToken: string | undefined;
  private currentRoom: Room | undefined;
  /** The random challenge sent in `welcome`, which a login proof signs. */
  challenge = '';
  /** This session's /away text (the client sets it again after a reconnect). */
  awayText: string | undefined;
  /** Last time any frame arrived (the relay sweeps idle connections). */
  lastInboundAt = Date.now();
  readonly openedAt = Date.now();

  private readonly decoder: FrameDecoder;
  private readonly queue: ClientMessage[] = [];
  private handling = false;
  private paused = false;
  private corked = false;
  private slowSince: number | undefined;
  private closed = false;

  constructor(
    private readonly socket: TLSSocket,
    private readonly limits: Limits,
    private readonly hooks: ConnectionHooks,
  ) {
    // The real client's address, also behind HAProxy (PROXY protocol v2, proxy-front.ts).
    this.address = clientAddressOf(socket) ?? 'unknown';
    this.decoder = new FrameDecoder(limits.maxFrameBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.slowSince = undefined;
    });
    socket.on('error', () => {
      // 'close' follows; the teardown happens there.
    });
    socket.on('close', () => this.teardown());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Saying goodbye or gone: nothing more is read or handled. */
  get isClosing(): boolean {
    return this.state === 'closing';
  }

  /** Bytes waiting in this connection's outbound queue. */
  get outboundBytes(): number {
    return this.socket.writableLength;
  }

  /** The bytes this connection's login proof must sign (challenge bound to the TLS session). */
  loginChallenge(): Uint8Array {
    return boundChallenge(this.challenge, this.socket);
  }

  advance(event: SessionEvent): void {
    this.state = transition(this.state, event);
  }

  send(message: RelayMessage): void {
    this.deliver(encodeControl(message));
  }

  sendError(code: ErrorCode, message: string, re?: string, retryAfterMs?: number): void {
    this.send({ t: 'error', re, code, message, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }

  /** The logged-in user ('' before login). */
  get userName(): string {
    return this.sessionUserName;
  }

  get userKey(): string {
    return this.sessionUserKey;
  }

  /** The session's resume token, once logged in. */
  get token(): string | undefined {
    return this.sessionToken;
  }

  /** The room this connection is in (undefined before login and between rooms). */
  get room(): Room | undefined {
    return this.currentRoom;
  }

  /** Logged in (or resumed) as `userName`, with resume token `token`. */
  becomeSession(userName: string, userKey: string, token: string): void {
    this.sessionUserName = userName;
    this.sessionUserKey = userKey;
    this.sessionToken = token;
  }

  /** Becomes `room`'s member for this user (replacing an older connection of theirs there). */
  enter(room: Room): void {
    room.admit(this);
    this.currentRoom = room;
  }

  /** Leaves its room; returns the room when this connection was its member (not replaced meanwhile). */
  leaveRoom(): Room | undefined {
    const room = this.currentRoom;
    this.currentRoom = undefined;
    return room?.release(this) ? room : undefined;
  }

  /**
   * Queues an encoded frame. Writes made in one tick are coalesced (cork/uncork). A reader
   * that stays behind for `slowReaderGraceMs`, or falls `outboundHardLimitBytes` behind, is
   * disconnected: it is never buffered without bound.
   */
  deliver(frame: Buffer): void {
    if (this.closed || this.socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
    const queued = this.socket.writableLength;
    if (queued > this.limits.outboundHardLimitBytes) {
      this.abort('E_SLOW_READER', `more than ${this.limits.outboundHardLimitBytes} bytes waiting to be read`);
    } else if (queued > this.limits.outboundHighWaterBytes) {
      this.slowSince ??= Date.now();
    }
  }

  /** Called by the relay's periodic sweep: enforces the slow-reader, idle and login deadlines. */
  checkDeadlines(now: number): void {
    if (this.closed) return;
    if (this.slowSince !== undefined && now - this.slowSince > this.limits.slowReaderGraceMs) {
      this.abort('E_SLOW_READER', 'this connection stayed behind its traffic for too long');
    } else if (this.state !== 'ready' && this.state !== 'closing' && now - this.openedAt > this.limits.loginTimeoutMs) {
      this.close('E_LOGIN_TIMEOUT', 'log in within ' + Math.round(this.limits.loginTimeoutMs / 1000) + ' s of connecting');
    } else if (now - this.lastInboundAt > this.limits.idleTimeoutMs) {
      this.close('E_IDLE_TIMEOUT', 'nothing heard from this client for ' + Math.round(this.limits.idleTimeoutMs / 1000) + ' s');
    }
  }

  /**
   * Hands the socket over to a relay pipe: framing and request handling stop and the relay
   * forgets this connection (the pipe enforces its own budgets). Frames already queued are
   * still written first.
   */
  detach(): TLSSocket {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('drain');
    this.queue.length = 0;
    this.teardown();
    return this.socket;
  }

  /** Says goodbye with a reason (when given), then ends the connection. */
  close(code?: ErrorCode, message?: string): void {
    if (this.closed || this.state === 'closing') return;
    this.advance('close');
    if (code) this.send({ t: 'bye', code, message: message ?? code });
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  /** Ends at once, without waiting for queued output (for readers that stay behind). */
  private abort(code: ErrorCode, message: string): void {
    this.hooks.log(`connection ${this.id} (${this.userName || this.address}) dropped: ${code}: ${message}`);
    this.advance('close');
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closing') return;
    this.lastInboundAt = Date.now();
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.protocolFailure(error);
      return;
    }
    for (const frame of frames) {
      if (this.isClosing) return;
      if (frame.kind !== FrameKind.control) {
        this.protocolFailure(new ChatError('E_PROTOCOL', 'data frames are not accepted on a chat connection'));
        return;
      }
      let value: unknown;
      try {
        value = decodeControlPayload(frame.payload);
      } catch (error) {
        this.protocolFailure(error);
        return;
      }
      const parsed = parseClientMessage(value);
      if (!parsed.ok) {
        // Well-formed JSON of the wrong shape answers that request only; the connection stays.
        this.sendError('E_PROTOCOL', `invalid request: ${parsed.error}`, parsed.re);
        continue;
      }
      this.admitRequest(parsed.value);
    }
  }

  private admitRequest(message: ClientMessage): void {
    const verdict = admit(this.state, message.t);
    if (verdict.admit) {
      this.queue.push(message);
      if (this.queue.length > MAX_QUEUED_REQUESTS && !this.paused) {
        this.paused = true;
        this.socket.pause();
      }
      if (!this.handling) void this.handleQueue();
      return;
    }
    if (verdict.ignore) return;
    const re = 'id' in message ? message.id : undefined;
    if (verdict.fatal) this.protocolFailure(new ChatError(verdict.code, verdict.message), re);
    else this.sendError(verdict.code, verdict.message, re);
  }

  private async handleQueue(): Promise<void> {
    this.handling = true;
    while (this.queue.length > 0 && !this.closed) {
      const message = this.queue.shift()!;
      try {
        const pending = this.hooks.onRequest(this, message);
        if (pending) await pending;
      } catch (error) {
        const re = 'id' in message ? message.id : undefined;
        if (error instanceof ChatError) {
          this.sendError(error.code, error.message, re, error.details.retryAfterMs as number | undefined);
        } else {
          this.hooks.log(`connection ${this.id}: internal error on ${message.t}: ${(error as Error)?.stack ?? String(error)}`);
          this.sendError('E_INTERNAL', 'the relay failed to handle that request', re);
        }
      }
      if (this.paused && this.queue.length <= RESUME_READING_AT) {
        this.paused = false;
        this.socket.resume();
      }
    }
    this.handling = false;
  }

  private protocolFailure(error: unknown, re?: string): void {
    const code: ErrorCode = error instanceof ChatError ? error.code : 'E_PROTOCOL';
    const message = error instanceof Error ? error.message : 'protocol error';
    this.hooks.log(`connection ${this.id} (${this.userName || this.address}) closed: ${code}: ${message}`);
    this.sendError(code, message, re);
    this.close(code, message);
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.state = 'closing';
    this.queue.length = 0;
    this.hooks.onClosed(this);
  }
}
