/**
 * A token bucket: `ratePerSecond` refill, `burst` capacity. Pure; the clock is passed in.
 * The relay limits messages with it; the client paces its own sending with one (tui/core/pacer.ts).
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(private readonly ratePerSecond: number, private readonly burst: number, now: number) {
    this.tokens = burst;
    this.updatedAt = now;
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

  /** Holds `tokens` (default: full) at `now`; a `now` ahead of the clock means no refill before it. */
  reset(now: number, tokens: number = this.burst): void {
    this.tokens = Math.min(this.burst, Math.max(0, tokens));
    this.updatedAt = now;
  }

  private refill(now: number): void {
    const elapsedMs = Math.max(0, now - this.updatedAt);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.ratePerSecond) / 1000);
    this.updatedAt = Math.max(this.updatedAt, now);
  }
}
