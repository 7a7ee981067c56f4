/**
 * Paces room messages so the relay's flood limit (a token bucket per connection:
 * limits.messagesPerSecond refill, limits.messageBurst capacity) is never hit: a script
 * that pipes a thousand lines gets them all stored, in order, instead of E_FLOOD errors.
 * The same kind of bucket as the relay's, kept on this side with headroom: requests reach
 * the relay with varying delay, so two messages sent 1/rate apart may be handled closer
 * together; a reserve of tokens and a slightly slower refill absorb that. Pure, the clock is
 * passed in.
 */

/** Share of the relay's refill rate we use. */
export const PACER_RATE_SHARE = 0.85;
/** Share of the relay's burst we leave unused, at least one token (when the burst allows). */
export const PACER_BURST_RESERVE = 0.15;

/** The pacer for a relay with these flood limits (rate per second, burst). */
export function pacerFor(relayRatePerSecond: number, relayBurst: number, now: number): SendPacer {
  const reserve = relayBurst >= 2 ? Math.max(1, Math.ceil(relayBurst * PACER_BURST_RESERVE)) : 0;
  return new SendPacer(relayRatePerSecond * PACER_RATE_SHARE, Math.max(1, relayBurst - reserve), now);
}

export class SendPacer {
  private tokens: number;
  private updatedAt: number;

  constructor(private readonly ratePerSecond: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  /** A fresh connection gets a fresh bucket on the relay: so does ours. */
  reset(now: number): void {
    this.tokens = this.burst;
    this.updatedAt = now;
  }

  private refill(now: number): void {
    const elapsedMs = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerSecond) / 1000);
    this.updatedAt = Math.max(this.updatedAt, now);
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Milliseconds until a token is there (0 if one is), rounded up. */
  waitMs(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    if (this.ratePerSecond <= 0) return Infinity;
    return Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }
}
