import type { Duplex } from 'node:stream';
import { ChatError } from '../shared/errors.js';
import type { Limits } from '../shared/limits.js';
import { z } from 'zod';
import type { ClusterBus } from './bus.js';
import { parseChecked } from './checked-json.js';
import { forwardBytes } from './pipe-forward.js';

type PipeLimits = Pick<Limits, 'pipeTicketTtlMs' | 'pipeWaitMs' | 'pipeMaxMs' | 'pipeBytesPerUserPerHour' | 'pipeTicketsPerUser' | 'pipeBufferBytes'>;

/** A one-time permission for `userKey` to open the pipe of `transfer` with `peerKey`. */
export interface PipeTicket {
  userName: string;
  userKey: string;
  peerName: string;
  peerKey: string;
  transfer: string;
}

const TicketSchema = z.object({
  userName: z.string().min(1).max(256),
  userKey: z.string().min(1).max(256),
  peerName: z.string().min(1).max(256),
  peerKey: z.string().min(1).max(256),
  transfer: z.string().min(1).max(256),
});

/** One side arriving at the rendezvous, on its own fresh connection. */
export interface PipeArrival {
  ticket: PipeTicket;
  /** False once the connection is gone (a waiting side may leave before its partner comes). */
  alive(): boolean;
  /** Tells the client the pipe is ready and hands over its raw stream. */
  handOver(): Duplex;
}

/** Opens a relay link to relay `relayId` for the side waiting there under `sideKey` (resolves once that relay accepted). */
export type PipeDialer = (relayId: string, sideKey: string) => Promise<Duplex>;

interface Waiting {
  arrival: PipeArrival;
  timer: NodeJS.Timeout;
  resolve: () => void;
}

/**
 * One end of a joined pipe: a client's raw stream (its bytes count against `budgetKey`) or a
 * relay link to the relay that holds the other client (counted there).
 */
interface PipeEnd {
  name: string;
  budgetKey: string | undefined;
  stream: Duplex;
}

const HOUR_MS = 60 * 60_000;

/**
 * The relay pipe (file transfer fallback): hands out one-time tickets to logged-in users,
 * pairs the two sides of a transfer when both have arrived on fresh connections, and then
 * forwards their bytes (end-to-end encrypted by the peers; the relay cannot read them) under
 * a per-user byte budget and a per-pipe time budget. It logs sizes and times, never contents.
 *
 * Tickets and the rendezvous live on the cluster bus, so in a cluster the two sides may reach
 * different relays: the second to arrive dials the first one's relay over a relay link
 * (relay-link.ts) and each relay forwards between its client and the link.
 */
export class PipeBroker {
  private readonly waiting = new Map<string, Waiting>();
  private readonly sentThisHour = new Map<string, { since: number; bytes: number }>();
  private readonly open = new Set<Duplex>();

  constructor(
    private readonly limits: PipeLimits,
    private readonly bus: ClusterBus,
    private readonly log: (line: string) => void,
    private readonly dial: PipeDialer = () => Promise.reject(new ChatError('E_INTERNAL', 'this relay has no relay links')),
    private readonly now: () => number = Date.now,
  ) {}

  /** Live pipes (two streams each). */
  get openPipes(): number {
    return this.open.size / 2;
  }

  async issue(ticket: PipeTicket): Promise<{ ticket: string; expiresInMs: number }> {
    this.dropExpired();
    if (this.budgetLeft(ticket.userKey) <= 0) throw new ChatError('E_PIPE_BUDGET', 'your relay pipe allowance for this hour is used up');
    const issued = await this.bus.issueTicket('pipe', ticket.userKey, JSON.stringify(ticket), this.limits.pipeTicketTtlMs, this.limits.pipeTicketsPerUser);
    return { ticket: issued, expiresInMs: this.limits.pipeTicketTtlMs };
  }

  /** Takes a ticket (single use, on any relay); E_BAD_TICKET when unknown, used or expired. */
  async redeem(ticket: string): Promise<PipeTicket> {
    const record = await this.bus.redeemTicket('pipe', ticket);
    const found = record === undefined ? undefined : parseChecked(TicketSchema, record);
    if (!found) throw new ChatError('E_BAD_TICKET', 'that relay pipe ticket is unknown, used or expired');
    return found;
  }

  /**
   * Waits for the other side of the ticket's transfer (here or on another relay); when both
   * are in, joins them. Resolves once joined, rejects with E_PIPE_TIMEOUT when the partner
   * does not come in time.
   */
  async rendezvous(arrival: PipeArrival): Promise<void> {
    const { ticket } = arrival;
    const own = sideKey(ticket.transfer, ticket.userKey, ticket.peerKey);
    const partner = sideKey(ticket.transfer, ticket.peerKey, ticket.userKey);
    const meeting = await this.bus.meetPipe(own, partner, this.limits.pipeWaitMs);
    if (meeting.kind === 'partner' && meeting.relayId !== this.bus.relayId) {
      const link = await this.dial(meeting.relayId, partner);
      if (!arrival.alive()) {
        link.destroy();
        throw new ChatError('E_CLOSED', 'the pipe connection closed');
      }
      this.connect(ticket.transfer, this.clientEnd(ticket, arrival.handOver()), { name: `${ticket.peerName} (on relay ${meeting.relayId})`, budgetKey: undefined, stream: link });
      return;
    }
    if (meeting.kind === 'partner') {
      const waiting = this.takeWaiting(partner);
      if (waiting) {
        this.connect(ticket.transfer, this.clientEnd(waiting.arrival.ticket, waiting.arrival.handOver()), this.clientEnd(ticket, arrival.handOver()));
        waiting.resolve();
        return;
      }
      // The partner left between registering and now: wait for its next attempt instead.
      return this.rendezvous(arrival);
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(own);
        this.bus.leavePipe(own).catch(() => undefined);
        reject(new ChatError('E_PIPE_TIMEOUT', `${ticket.peerName} did not join the relay pipe in time`));
      }, this.limits.pipeWaitMs);
      timer.unref();
      this.waiting.set(own, { arrival, timer, resolve });
    });
  }

  /**
   * A relay link is arriving from the relay where the partner of the side waiting here under
   * `own` landed: takes that side and returns the function that joins it to the link, or
   * undefined when no live side waits under that key.
   */
  acceptLink(own: string, fromRelay: string): ((link: Duplex) => void) | undefined {
    const waiting = this.takeWaiting(own);
    if (!waiting) return undefined;
    const { ticket } = waiting.arrival;
    return (link) => {
      this.connect(ticket.transfer, this.clientEnd(ticket, waiting.arrival.handOver()), { name: `${ticket.peerName} (on relay ${fromRelay})`, budgetKey: undefined, stream: link });
      waiting.resolve();
    };
  }

  /** Removes a waiting side; undefined when none, or when its connection is gone. */
  private takeWaiting(key: string): Waiting | undefined {
    const waiting = this.waiting.get(key);
    if (!waiting) return undefined;
    this.waiting.delete(key);
    clearTimeout(waiting.timer);
    if (waiting.arrival.alive()) return waiting;
    waiting.resolve();
    return undefined;
  }

  private clientEnd(ticket: PipeTicket, stream: Duplex): PipeEnd {
    return { name: ticket.userName, budgetKey: ticket.userKey, stream };
  }

  /** Forwards bytes both ways until either side ends, the time budget runs out or a sender's byte budget does. */
  private connect(transfer: string, a: PipeEnd, b: PipeEnd): void {
    const started = this.now();
    const counts = { ab: 0, ba: 0 };
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(deadline);
      this.open.delete(a.stream);
      this.open.delete(b.stream);
      a.stream.destroy();
      b.stream.destroy();
      const seconds = ((this.now() - started) / 1000).toFixed(1);
      this.log(
        `pipe ${transfer}: ${a.name}->${b.name} ${counts.ab} bytes, ` + `${b.name}->${a.name} ${counts.ba} bytes, ${seconds} s (${why})`,
      );
    };
    const deadline = setTimeout(() => end('time budget used up'), this.limits.pipeMaxMs);
    deadline.unref();
    this.open.add(a.stream);
    this.open.add(b.stream);
    this.forward(a, b, (n) => (counts.ab += n), end);
    this.forward(b, a, (n) => (counts.ba += n), end);
    this.log(`pipe ${transfer}: ${a.name} <-> ${b.name} joined`);
  }

  /** Ends every pipe (relay shutdown); peers resume on another path. */
  closeAll(): void {
    for (const stream of this.open) stream.destroy();
    for (const [key, waiting] of this.waiting) {
      clearTimeout(waiting.timer);
      this.waiting.delete(key);
      waiting.resolve();
    }
  }

  private forward(from: PipeEnd, to: PipeEnd, counted: (bytes: number) => void, end: (why: string) => void): void {
    from.stream.on('end', () => to.stream.end());
    from.stream.on('close', () => end('closed'));
    from.stream.on('error', () => end('error'));
    // Starts reading (a relay link was paused after its header line, relay-link.ts readLine).
    forwardBytes(from.stream, to.stream, this.limits.pipeBufferBytes, (bytes) => {
      counted(bytes);
      if (from.budgetKey !== undefined && !this.spend(from.budgetKey, bytes)) {
        end(`${from.name} used up the hourly byte budget`);
        return false;
      }
      return true;
    });
  }

  private spend(userKey: string, bytes: number): boolean {
    const now = this.now();
    let entry = this.sentThisHour.get(userKey);
    if (!entry || now - entry.since > HOUR_MS) {
      entry = { since: now, bytes: 0 };
      this.sentThisHour.set(userKey, entry);
    }
    entry.bytes += bytes;
    return entry.bytes <= this.limits.pipeBytesPerUserPerHour;
  }

  private budgetLeft(userKey: string): number {
    const entry = this.sentThisHour.get(userKey);
    if (!entry || this.now() - entry.since > HOUR_MS) return this.limits.pipeBytesPerUserPerHour;
    return this.limits.pipeBytesPerUserPerHour - entry.bytes;
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.sentThisHour) if (now - entry.since > HOUR_MS) this.sentThisHour.delete(key);
  }
}

/** Where one side of a transfer's pipe waits: its transfer, its user and its peer. */
function sideKey(transfer: string, fromKey: string, toKey: string): string {
  return JSON.stringify([transfer, fromKey, toKey]);
}

