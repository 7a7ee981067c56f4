import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ChatError } from '../shared/errors.js';
import type { Limits } from '../shared/limits.js';

type PipeLimits = Pick<Limits, 'pipeTicketTtlMs' | 'pipeWaitMs' | 'pipeMaxMs' | 'pipeBytesPerUserPerHour' | 'pipeTicketsPerUser'>;

/** A one-time permission for `userKey` to open the pipe of `transfer` with `peerKey`. */
export interface PipeTicket {
  userName: string;
  userKey: string;
  peerName: string;
  peerKey: string;
  transfer: string;
  expiresAt: number;
}

/** One side arriving at the rendezvous, on its own fresh connection. */
export interface PipeArrival {
  ticket: PipeTicket;
  /** False once the connection is gone (a waiting side may leave before its partner comes). */
  alive(): boolean;
  /** Tells the client the pipe is ready and hands over its raw stream. */
  handOver(): Duplex;
}

interface Waiting {
  arrival: PipeArrival;
  timer: NodeJS.Timeout;
  resolve: () => void;
}

/** One side of a joined pipe: the raw stream and whose ticket it came with. */
interface PipeSide {
  ticket: PipeTicket;
  stream: Duplex;
}

const HOUR_MS = 60 * 60_000;
/** Outstanding tickets and waiting sides for the whole relay (each also bounded per user). */
const MAX_TICKETS = 100_000;

/**
 * The relay pipe (file transfer fallback): hands out one-time tickets to logged-in users,
 * pairs the two sides of a transfer when both have arrived on fresh connections, and then
 * forwards their bytes (end-to-end encrypted by the peers; the relay cannot read them) under
 * a per-user byte budget and a per-pipe time budget. It logs sizes and times, never contents.
 */
export class PipeBroker {
  private readonly tickets = new Map<string, PipeTicket>();
  private readonly waiting = new Map<string, Waiting>();
  private readonly sentThisHour = new Map<string, { since: number; bytes: number }>();
  private readonly open = new Set<Duplex>();

  constructor(
    private readonly limits: PipeLimits,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Live pipes (two streams each). */
  get openPipes(): number {
    return this.open.size / 2;
  }

  issue(userName: string, userKey: string, peerName: string, peerKey: string, transfer: string): { ticket: string; expiresInMs: number } {
    this.dropExpired();
    let held = 0;
    for (const ticket of this.tickets.values()) if (ticket.userKey === userKey) held++;
    if (held >= this.limits.pipeTicketsPerUser || this.tickets.size >= MAX_TICKETS) {
      throw new ChatError('E_RATE', 'too many relay pipe tickets; use or let some expire first');
    }
    if (this.budgetLeft(userKey) <= 0) throw new ChatError('E_PIPE_BUDGET', 'your relay pipe allowance for this hour is used up');
    const ticket = randomBytes(24).toString('base64url');
    this.tickets.set(ticket, { userName, userKey, peerName, peerKey, transfer, expiresAt: this.now() + this.limits.pipeTicketTtlMs });
    return { ticket, expiresInMs: this.limits.pipeTicketTtlMs };
  }

  /** Takes a ticket (single use); E_BAD_TICKET when unknown or expired. */
  redeem(ticket: string): PipeTicket {
    const found = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (!found || found.expiresAt < this.now()) throw new ChatError('E_BAD_TICKET', 'that relay pipe ticket is unknown, used or expired');
    return found;
  }

  /**
   * Waits for the other side of the ticket's transfer; when both are in, joins them. Resolves
   * once joined, rejects with E_PIPE_TIMEOUT when the partner does not come in time.
   */
  rendezvous(arrival: PipeArrival): Promise<void> {
    const { ticket } = arrival;
    const partnerKey = pairKey(ticket.transfer, ticket.peerKey, ticket.userKey);
    const partner = this.waiting.get(partnerKey);
    if (partner) {
      this.waiting.delete(partnerKey);
      clearTimeout(partner.timer);
      if (partner.arrival.alive()) {
        this.connect({ ticket: partner.arrival.ticket, stream: partner.arrival.handOver() }, { ticket, stream: arrival.handOver() });
        partner.resolve();
        return Promise.resolve();
      }
      partner.resolve();
    }
    const mine = pairKey(ticket.transfer, ticket.userKey, ticket.peerKey);
    if (this.waiting.has(mine) || this.waiting.size >= MAX_TICKETS) {
      return Promise.reject(new ChatError('E_BAD_TICKET', 'this side of the pipe is already waiting'));
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(mine);
        reject(new ChatError('E_PIPE_TIMEOUT', `${ticket.peerName} did not join the relay pipe in time`));
      }, this.limits.pipeWaitMs);
      timer.unref();
      this.waiting.set(mine, { arrival, timer, resolve });
    });
  }

  /** Forwards bytes both ways until either side ends, the time budget runs out or a sender's byte budget does. */
  private connect(a: PipeSide, b: PipeSide): void {
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
        `pipe ${a.ticket.transfer}: ${a.ticket.userName}->${b.ticket.userName} ${counts.ab} bytes, ` +
          `${b.ticket.userName}->${a.ticket.userName} ${counts.ba} bytes, ${seconds} s (${why})`,
      );
    };
    const deadline = setTimeout(() => end('time budget used up'), this.limits.pipeMaxMs);
    deadline.unref();
    this.open.add(a.stream);
    this.open.add(b.stream);
    this.forward(a, b, (n) => (counts.ab += n), end);
    this.forward(b, a, (n) => (counts.ba += n), end);
    this.log(`pipe ${a.ticket.transfer}: ${a.ticket.userName} <-> ${b.ticket.userName} joined`);
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

  private forward(from: PipeSide, to: PipeSide, counted: (bytes: number) => void, end: (why: string) => void): void {
    from.stream.on('data', (chunk: Buffer) => {
      counted(chunk.length);
      if (!this.spend(from.ticket.userKey, chunk.length)) {
        end(`${from.ticket.userName} used up the hourly byte budget`);
        return;
      }
      if (!to.stream.write(chunk)) from.stream.pause();
    });
    to.stream.on('drain', () => from.stream.resume());
    from.stream.on('end', () => to.stream.end());
    from.stream.on('close', () => end('closed'));
    from.stream.on('error', () => end('error'));
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
    for (const [key, ticket] of this.tickets) if (ticket.expiresAt < now) this.tickets.delete(key);
    for (const [key, entry] of this.sentThisHour) if (now - entry.since > HOUR_MS) this.sentThisHour.delete(key);
  }
}

function pairKey(transfer: string, fromKey: string, toKey: string): string {
  return `${transfer}|${fromKey}|${toKey}`;
}
