import { ChatError, asChatError } from '../../shared/errors.js';
import type { Limits } from '../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { pacerFor, type SendPacer } from './pacer.js';

/** What the relay said when it stored a room message. */
export interface AckInfo {
  id: string;
  room: string;
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
}

interface PendingRequest {
  apply(reply: RelayMessage): unknown;
  resolve(value: unknown): void;
  reject(error: ChatError): void;
  timer: NodeJS.Timeout;
  /** Set for a rate-limited request: where it goes back to if the relay refuses it for flooding. */
  paced?: PacedRequest;
}

interface UnackedSay {
  kind: 'say';
  /** Place in the send queue (call order). */
  order: number;
  id: string;
  text: string;
  /** Sent on some connection already: a resend carries `resent: true`. */
  sent: boolean;
  resolve(ack: AckInfo): void;
  reject(error: ChatError): void;
}

/** A whisper or transfer signal in the send queue: the relay counts it against the same flood limit. */
interface PacedRequest {
  kind: 'request';
  /** Place in the send queue (call order). */
  order: number;
  /** Null while its body is being sealed: it keeps its place, and later sends of its lane wait for it. */
  message: (ClientMessage & { id: string }) | null;
  /** Its recipient's nameKey: sends to one recipient go in call order; other lanes and room messages do not wait for it. */
  lane: string;
  /** Failed (connection lost, client closed) before it was sent. */
  dropped: boolean;
  apply(reply: RelayMessage): unknown;
  resolve(value: unknown): void;
  reject(error: ChatError): void;
}

/** Everything the relay rate-limits, waiting for a token from the pacer, in call order per lane (the room; each recipient). */
type PacedSend = UnackedSay | PacedRequest;

/** What the send queue may touch of the client: the live connection, and nothing else. */
export interface SendQueueHost {
  /** Online with a live connection: sends may go out now. */
  canSend(): boolean;
  /** Writes one message on the live connection (throws E_CLOSED without one). */
  write(message: ClientMessage): void;
  /** The error for a request made while not online (says whether a reconnect is under way). */
  notOnline(): ChatError;
}

export interface SendQueueOptions {
  limits: Limits;
  requestTimeoutMs: number;
  maxUnacked: number;
}

/**
 * Requests and the send queue: requests waiting for their answer (bounded by
 * requestTimeoutMs), room messages waiting for their ack (resent after a reconnect), and one
 * queue of everything the relay rate-limits (room messages, whispers, transfer signals) behind
 * one pacer, in call order per lane: room messages in theirs, whispers and signals in one per
 * recipient, so a first contact's key work never holds up the others.
 */
export class SendQueue {
  private readonly pending = new Map<string, PendingRequest>();
  private readonly unacked = new Map<string, UnackedSay>();
  /**
   * Rate-limited sends not yet out on the current connection, by `order`: unacknowledged room
   * messages, whispers and transfer signals, one queue behind one pacer.
   */
  private toSend: PacedSend[] = [];
  private nextOrder = 0;
  private readonly pacer: SendPacer;
  private pumpTimer: NodeJS.Timeout | null = null;
  private drainWaiters: Array<{ resolve(): void; reject(e: ChatError): void }> = [];

  constructor(
    private readonly host: SendQueueHost,
    private readonly options: SendQueueOptions,
  ) {
    this.pacer = pacerFor(options.limits.messagesPerSecond, options.limits.messageBurst, Date.now());
  }

  /** Room messages sent (or queued) and not yet acknowledged. */
  get unackedCount(): number {
    return this.unacked.size;
  }

  isUnacked(id: string): boolean {
    return this.unacked.has(id);
  }

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  /**
   * Sends one request and resolves with `apply(answer)`, run as soon as the answer arrives.
   * Fails with the relay's error code, E_TIMEOUT, or E_CLOSED (not connected, or the
   * connection broke before the answer; only room messages are resent after a reconnect).
   */
  request<T = RelayMessage>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T = (r) => r as T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.host.canSend()) {
        reject(this.host.notOnline());
        return;
      }
      this.sendTracked(message, { apply, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Sends `message` and waits for its answer (bounded by requestTimeoutMs) in `pending`. */
  private sendTracked(message: ClientMessage & { id: string }, handlers: Omit<PendingRequest, 'timer'>): void {
    const timeoutMs = this.options.requestTimeoutMs;
    const timer = setTimeout(() => {
      this.pending.delete(message.id);
      handlers.reject(new ChatError('E_TIMEOUT', `the relay did not answer "${message.t}" within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref();
    this.pending.set(message.id, { ...handlers, timer });
    try {
      this.host.write(message);
    } catch (error) {
      this.settle(message.id, null, asChatError(error));
    }
  }

  /**
   * A request the relay counts against the flood limit (whisper, transfer signal): it takes its
   * place in the send queue now, while `build` seals it, and goes when the pacer allows, after
   * the earlier sends of its `lane` (the recipient's nameKey). While it is being sealed (its
   * keys may still be fetched and pinned: a first contact) only later sends to the same
   * recipient wait for it; room messages and whispers to others go on. Refused for flooding, it
   * goes back to its place and is sent again (see sendAgainLater). Fails like `request`, or
   * with what `build` throws.
   */
  async pacedRequest<T>(build: () => Promise<ClientMessage & { id: string }>, apply: (reply: RelayMessage) => T, lane: string): Promise<T> {
    if (!this.host.canSend()) {
      await build();
      throw this.host.notOnline();
    }
    return new Promise<T>((resolve, reject) => {
      const entry: PacedRequest = { kind: 'request', order: this.nextOrder++, message: null, lane, dropped: false, apply, resolve: resolve as (v: unknown) => void, reject };
      this.toSend.push(entry);
      build().then(
        (message) => {
          if (entry.dropped) return;
          entry.message = message;
          this.pump();
        },
        (error: unknown) => {
          this.toSend = this.toSend.filter((queued) => queued !== entry);
          reject(asChatError(error));
          this.pump();
        },
      );
    });
  }

  /**
   * Queues a room message (checked by the caller) under a fresh id; resolves with its ack. Kept and
   * resent with the same id across reconnects until acknowledged. E_FLOOD when
   * maxUnackedMessages wait already.
   */
  say(makeId: () => string, text: string): Promise<AckInfo> {
    if (this.unacked.size >= this.options.maxUnacked) {
      return Promise.reject(new ChatError('E_FLOOD', `${this.unacked.size} messages are still waiting for the relay; slow down`));
    }
    const id = makeId();
    return new Promise<AckInfo>((resolve, reject) => {
      const entry: UnackedSay = { kind: 'say', order: this.nextOrder++, id, text, sent: false, resolve, reject };
      this.unacked.set(id, entry);
      this.toSend.push(entry);
      this.pump();
    });
  }

  /** Answers request `re` (or fails it with `error`); `apply` runs synchronously, before the next frame is dispatched. */
  settle(re: string, reply: RelayMessage | null, error: ChatError | null): void {
    const entry = this.pending.get(re);
    if (!entry) return;
    this.pending.delete(re);
    clearTimeout(entry.timer);
    if (error) return entry.reject(error);
    try {
      // Applied synchronously, before the next frame of the same chunk is dispatched: a room
      // change must be in place before the messages of the new room arrive.
      entry.resolve(entry.apply(reply as RelayMessage));
    } catch (e) {
      entry.reject(asChatError(e));
    }
  }

  /**
   * Room message `id` was stored: `shown(text)` runs first (the message event), then its
   * promise resolves. False when `id` is not an unacknowledged message of ours.
   */
  acknowledge(ack: AckInfo, shown: (text: string) => void): boolean {
    const entry = this.unacked.get(ack.id);
    if (!entry) return false;
    this.unacked.delete(ack.id);
    shown(entry.text);
    entry.resolve(ack);
    this.checkDrained();
    return true;
  }

  rejectSay(id: string, error: ChatError): void {
    const entry = this.unacked.get(id);
    if (!entry) return;
    this.unacked.delete(id);
    entry.reject(error);
    this.checkDrained();
  }

  /** Fails the whispers and signals still waiting in the send queue (room messages stay for the next connection). */
  failQueuedRequests(why: string): void {
    const requests = this.toSend.filter((entry): entry is PacedRequest => entry.kind === 'request');
    if (requests.length === 0) return;
    // Made only when something waits: an error's stack costs ~0.1 ms, and a reconnect storm
    // (the login bench's 1,000 resumes in one process) made one per client for nothing.
    const error = new ChatError('E_CLOSED', why);
    this.toSend = this.toSend.filter((entry) => entry.kind === 'say');
    for (const entry of requests) {
      entry.dropped = true;
      entry.reject(error);
    }
  }

  /** The connection is gone: every request waiting for its answer fails, queued whispers and signals too. */
  connectionLost(): void {
    this.stopPump();
    for (const id of [...this.pending.keys()]) {
      this.settle(id, null, new ChatError('E_CLOSED', 'the connection to the relay was lost before it answered'));
    }
    this.failQueuedRequests('the connection to the relay was lost before it was sent');
  }

  /**
   * A new connection is live: everything not acknowledged goes (again) on it, in the order it
   * was said. The pacer is not refilled: the relay's flood limit is per user, not per connection.
   */
  resendUnacked(): void {
    this.stopPump();
    this.failQueuedRequests('the connection to the relay was lost before it was sent');
    this.toSend = [...this.unacked.values()];
    this.pump();
  }

  /** The client closed for good: everything waiting fails (room messages with `reason`). */
  close(reason: ChatError): void {
    this.stopPump();
    this.failQueuedRequests('the client was closed');
    this.toSend = [];
    for (const id of [...this.pending.keys()]) this.settle(id, null, new ChatError('E_CLOSED', 'the client was closed'));
    for (const id of [...this.unacked.keys()]) this.rejectSay(id, reason);
    const drains = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of drains) w.reject(reason);
  }

  /**
   * The relay refused send `re` for flooding: it goes back to its place in the queue, and the
   * pacer holds everything until the relay's retryAfterMs has passed. False when `re` is not a
   * rate-limited send of ours waiting for its answer.
   */
  sendAgainLater(re: string, retryAfterMs: number | undefined): boolean {
    let entry: PacedSend | undefined;
    const pending = this.pending.get(re);
    if (pending?.paced) {
      this.pending.delete(re);
      clearTimeout(pending.timer);
      entry = pending.paced;
    } else {
      entry = this.unacked.get(re);
      if (entry && this.toSend.includes(entry)) return true;
    }
    if (!entry) return false;
    const order = entry.order;
    const at = this.toSend.findIndex((queued) => queued.order > order);
    this.toSend.splice(at < 0 ? this.toSend.length : at, 0, entry);
    this.pacer.refused(Date.now(), retryAfterMs ?? this.options.limits.floodRetryAfterMs);
    this.stopPump();
    this.pump();
    return true;
  }

  /**
   * Sends the queue (room messages, whispers, signals) in call order per lane, as fast as the
   * relay's flood limit allows (the rest waits for tokens). A whisper still being sealed holds
   * the later sends to the same recipient only. A message sent before, on an earlier
   * connection or refused, goes again with `resent: true`: the relay stores it once and acks it
   * with its first seq.
   */
  private pump(): void {
    /** Lanes with an earlier send still being sealed: their later sends wait. */
    let held: Set<string> | undefined;
    let i = 0;
    while (i < this.toSend.length && this.host.canSend()) {
      const entry = this.toSend[i];
      if (entry.kind === 'say' && !this.unacked.has(entry.id)) {
        this.toSend.splice(i, 1);
        continue;
      }
      if (entry.kind === 'request' && (entry.message === null || held?.has(entry.lane))) {
        (held ??= new Set()).add(entry.lane);
        i += 1;
        continue;
      }
      const now = Date.now();
      if (!this.pacer.take(now)) {
        if (!this.pumpTimer) {
          this.pumpTimer = setTimeout(() => {
            this.pumpTimer = null;
            this.pump();
          }, this.pacer.waitMs(now));
        }
        return;
      }
      this.toSend.splice(i, 1);
      if (entry.kind === 'request') {
        this.sendTracked(entry.message!, { apply: entry.apply, resolve: entry.resolve, reject: entry.reject, paced: entry });
        continue;
      }
      const resent = entry.sent;
      entry.sent = true;
      this.host.write(resent ? { t: 'say', id: entry.id, text: entry.text, resent: true } : { t: 'say', id: entry.id, text: entry.text });
    }
  }

  stopPump(): void {
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
  }

  /** Resolves when every room message sent so far is acknowledged (rejects with `closed` if the client is closed). */
  drain(closed: ChatError | null): Promise<void> {
    if (this.unacked.size === 0) return Promise.resolve();
    if (closed) return Promise.reject(closed);
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  private checkDrained(): void {
    if (this.unacked.size > 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }
}
