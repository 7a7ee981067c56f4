import { CONNECT_FATAL_CODES, ChatError, asChatError } from '../../shared/errors.js';
import type { Limits } from '../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { retryDelayMs, type BackoffPolicy } from './backoff.js';
import type { ChatConnection } from './connection.js';
import type { EventHub } from './event-hub.js';
import { Inbox } from './inbox.js';
import { logIn, type LoginContext, type LoginResult } from './login.js';
import type { SendQueue } from './send-queue.js';
import type { TrustOptions } from './trust.js';

export type ClientState = 'idle' | 'connecting' | 'online' | 'reconnecting' | 'closed';

/** What the lifecycle may touch of the client besides its events and send queue. */
export interface LifecycleHost {
  /** Dials the relay with this trust (the client's address, proxy and local address). */
  dial(trust: TrustOptions, signal: AbortSignal): Promise<ChatConnection>;
  /** Everything a login needs (the room to get back to, the token...); `again` for a reconnect. */
  loginContext(again: boolean): LoginContext;
  /** The connection is verified and dialled: say so (a trust-new event) before logging in. */
  dialled(conn: ChatConnection): void;
  /** Logged in and live on `conn`: show where we are and hand over what arrived meanwhile. */
  live(conn: ChatConnection, login: LoginResult, pending: RelayMessage[], firstTime: boolean): void;
  /** Live, resent, heartbeat running: what waits for the first login (pending key changes, journalled transfers). */
  ready(firstTime: boolean): void;
  /** One message from the relay, once live. */
  dispatch(message: RelayMessage): void;
  /** Relay pipe traffic on the chat connection. */
  data(payload: Buffer): void;
  /** Measures the round trip (also the heartbeat). */
  ping(): Promise<unknown>;
  /** Closed for good: write what is batched (whisper state). */
  closed(): void;
}

export interface LifecycleOptions {
  limits: Limits;
  backoff: BackoffPolicy;
  trust: TrustOptions;
  reconnect: boolean;
  maxReconnectAttempts: number;
  random?: () => number;
}

/**
 * Connecting, staying connected and reconnecting: one relay connection at a time, its state
 * (idle, connecting, online, reconnecting, closed), the heartbeat, the reconnect loop with
 * backoff, and the one teardown path. Login itself is login.ts; what the relay says is the
 * host's (the facade's) to dispatch.
 */
export class Lifecycle {
  private stateValue: ClientState = 'idle';
  private conn: ChatConnection | null = null;
  /** A connection still logging in (so close() can cut it). */
  private connecting: ChatConnection | null = null;
  private abort = new AbortController();
  /** Leaving on purpose (exit, close): a lost connection is not reconnected. */
  exiting = false;
  /** Logged in at least once: later connects log in (or resume) instead of registering. */
  private wasOnline = false;
  private lastSentAt = 0;
  private lastReceivedAt = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private sleepTimer: { timer: NodeJS.Timeout; wake(): void } | null = null;
  private closedWaiters: Array<() => void> = [];

  constructor(
    private readonly host: LifecycleHost,
    private readonly events: EventHub,
    private readonly queue: SendQueue,
    private readonly options: LifecycleOptions,
  ) {}

  get state(): ClientState {
    return this.stateValue;
  }

  /** The live connection (online), or null. */
  get connection(): ChatConnection | null {
    return this.conn;
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  /** Online with a live connection: requests may go out. */
  canSend(): boolean {
    return this.stateValue === 'online' && this.conn !== null;
  }

  notOnline(): ChatError {
    return new ChatError('E_CLOSED', this.stateValue === 'reconnecting' ? 'reconnecting to the relay; try again in a moment' : 'not connected to the relay');
  }

  /** Writes on the live connection (E_CLOSED without one); counts for the heartbeat. */
  write(message: ClientMessage): void {
    if (!this.conn) throw new ChatError('E_CLOSED', 'not connected to the relay');
    this.conn.send(message);
    this.lastSentAt = Date.now();
  }

  /** The first connect, or a connect after the client closed; `prepare` runs first (opening the identity keys). */
  async connect(prepare: () => Promise<unknown>): Promise<void> {
    if (this.stateValue !== 'idle' && this.stateValue !== 'closed') throw new ChatError('E_USAGE', `connect() while ${this.stateValue}`);
    const previous = this.stateValue;
    this.stateValue = 'connecting';
    this.exiting = false;
    this.abort = new AbortController();
    try {
      await prepare();
      await this.establish(this.wasOnline);
    } catch (error) {
      if (this.stateValue === 'connecting') this.stateValue = previous;
      throw asChatError(error);
    }
  }

  /** One connection attempt: dial, verify, hello, log in, get back to where we were. */
  private async establish(again: boolean): Promise<void> {
    const conn = await this.host.dial(this.options.trust, this.abort.signal);
    if (this.stateValue === 'closed') {
      conn.destroy();
      throw new ChatError('E_CLOSED', 'the client was closed');
    }
    this.connecting = conn;
    this.host.dialled(conn);

    const inbox = new Inbox();
    let live = false;
    conn.start({
      onMessage: (m) => {
        if (!live) return inbox.push(m);
        this.lastReceivedAt = Date.now();
        this.host.dispatch(m);
      },
      onData: (payload) => this.host.data(payload),
      onClose: (reason) => (live ? this.connectionLost(conn, reason) : inbox.fail(reason)),
    });

    try {
      const login = await logIn(conn, inbox, this.host.loginContext(again));
      // 4. live: show where we are, hand over what arrived meanwhile, resend what was not acknowledged
      // close() may have run during the awaits above.
      if (this.isClosed()) throw new ChatError('E_CLOSED', 'the client was closed');
      this.conn = conn;
      this.connecting = null;
      live = true;
      this.stateValue = 'online';
      const firstTime = !this.wasOnline;
      this.wasOnline = true;
      this.lastSentAt = this.lastReceivedAt = Date.now();
      this.host.live(conn, login, [...login.deferred, ...inbox.takeAll()], firstTime);
      this.queue.resendUnacked();
      this.startHeartbeat();
      // One round trip right away, so the rtt is known before the first heartbeat.
      this.host.ping().catch(() => {});
      this.host.ready(firstTime);
    } catch (error) {
      if (this.connecting === conn) this.connecting = null;
      conn.destroy();
      throw asChatError(error);
    }
  }

  // ---- losing and regaining the connection -------------------------------------------------

  private connectionLost(conn: ChatConnection, reason: ChatError): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.stopHeartbeat();
    this.queue.connectionLost();
    if (this.stateValue === 'closed') return;
    const willReconnect = !this.exiting && this.options.reconnect && !CONNECT_FATAL_CODES.has(reason.code);
    this.events.emit({ type: 'disconnected', code: reason.code, message: reason.message, willReconnect });
    if (!willReconnect) {
      if (!this.exiting && CONNECT_FATAL_CODES.has(reason.code)) this.events.emitError(reason);
      this.shutdown(reason, false);
      return;
    }
    void this.reconnectLoop(reason);
  }

  private async reconnectLoop(firstReason: ChatError): Promise<void> {
    this.stateValue = 'reconnecting';
    let reason = firstReason;
    const maxAttempts = this.options.maxReconnectAttempts;
    for (let attempt = 1; this.stateValue === 'reconnecting'; attempt += 1) {
      if (attempt > maxAttempts) {
        const error = new ChatError('E_CONNECT', `gave up reconnecting after ${maxAttempts} attempts (${reason.message})`);
        this.events.emitError(error);
        // Said as a final `disconnected` too, so listeners (the TUI's status, JSON mode) know it is over.
        this.shutdown(error, true);
        return;
      }
      const retryAfterMs = typeof reason.details.retryAfterMs === 'number' ? reason.details.retryAfterMs : undefined;
      const delayMs = retryDelayMs(attempt, this.options.backoff, retryAfterMs, this.options.random);
      this.events.emit({ type: 'reconnecting', attempt, delayMs, code: reason.code, message: reason.message });
      await this.sleep(delayMs);
      if (this.stateValue !== 'reconnecting') return;
      try {
        await this.establish(true);
        return;
      } catch (error) {
        reason = asChatError(error);
        if (this.stateValue !== 'reconnecting') return;
        if (CONNECT_FATAL_CODES.has(reason.code)) {
          this.events.emitError(reason);
          this.shutdown(reason, true);
          return;
        }
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepTimer = null;
        resolve();
      }, ms);
      this.sleepTimer = { timer, wake: resolve };
    });
  }

  /** While waiting to reconnect, tries at once instead of waiting out the delay (a "retry now" key). */
  reconnectNow(): void {
    if (this.stateValue !== 'reconnecting' || !this.sleepTimer) return;
    clearTimeout(this.sleepTimer.timer);
    const { wake } = this.sleepTimer;
    this.sleepTimer = null;
    wake();
  }

  /** Cuts the connection as a network failure would (no goodbye). */
  drop(): void {
    this.conn?.destroy(new ChatError('E_CLOSED', 'connection dropped'));
  }

  /** Resolves once closed for good. */
  whenClosed(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /** exit() on a client never connected: closed, nothing to tell. */
  markClosed(): void {
    this.stateValue = 'closed';
  }

  /** Stops at once (close()): no reconnect; resolves once the socket closed. */
  async closeNow(): Promise<void> {
    if (this.stateValue === 'closed') return;
    const wasUp = this.stateValue === 'online' || this.stateValue === 'reconnecting';
    this.exiting = true;
    this.abort.abort();
    this.connecting?.destroy();
    const conn = this.conn;
    this.shutdown(new ChatError('E_CLOSED', 'the client was closed'), wasUp);
    if (conn && !conn.closed) {
      await new Promise<void>((resolve) => {
        conn.socket.once('close', () => resolve());
        conn.end();
      });
    }
  }

  /** The one teardown path: no more reconnects, timers stopped, waiting promises failed. */
  shutdown(reason: ChatError, announce: boolean): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.stopHeartbeat();
    this.queue.stopPump();
    this.abort.abort();
    this.connecting?.destroy();
    this.connecting = null;
    if (this.sleepTimer) {
      clearTimeout(this.sleepTimer.timer);
      this.sleepTimer.wake();
      this.sleepTimer = null;
    }
    if (announce) this.events.emit({ type: 'disconnected', code: reason.code, message: reason.message, willReconnect: false });
    this.queue.close(reason);
    const closed = this.closedWaiters;
    this.closedWaiters = [];
    for (const resolve of closed) resolve();
    this.host.closed();
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const { heartbeatMs, idleTimeoutMs } = this.options.limits;
    const tick = Math.max(25, Math.floor(Math.min(heartbeatMs, idleTimeoutMs) / 4));
    this.heartbeat = setInterval(() => {
      if (!this.conn || this.stateValue !== 'online') return;
      const now = Date.now();
      if (now - this.lastReceivedAt >= idleTimeoutMs) {
        this.conn.destroy(new ChatError('E_IDLE_TIMEOUT', `nothing heard from the relay for ${idleTimeoutMs} ms`));
      } else if (now - this.lastSentAt >= heartbeatMs) {
        // The relay closes connections that stay silent; the answer also measures the round trip.
        this.host.ping().catch(() => {});
      }
    }, tick);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
