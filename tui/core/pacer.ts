import { TokenBucket } from '../../shared/token-bucket.js';

/**
 * Paces everything the relay counts against its flood limit (a token bucket:
 * limits.messagesPerSecond refill, limits.messageBurst capacity) — room messages, whispers,
 * transfer signals — so the limit is not hit: a script that pipes a thousand lines or a bot
 * that whispers in a loop gets them all delivered, in order, instead of E_FLOOD errors.
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

/**
 * The client's bucket: the same as the relay's, with the headroom `pacerFor` gives it. When
 * the relay refuses a send anyway (its limits are stricter than we were told, or another
 * device of the same user spends the same budget), nothing goes until the relay's
 * retryAfterMs has passed, and then one send at a time at the paced rate, without a burst:
 * while the round trip is shorter than the pacing interval (1/17 s at the default limits),
 * each answer is back before the next send, so a second refusal stops the stream before a
 * later send can overtake the refused one. (Within the burst that met the first refusal,
 * a send the relay accepts after refusing an earlier one would overtake it; only the relay
 * can rule that out, by refusing everything until its retryAfterMs has passed.)
 */
export class SendPacer extends TokenBucket {
  private heldUntil = -Infinity;

  /** The relay refused a send at `now` and asked for `retryAfterMs` of quiet. */
  refused(now: number, retryAfterMs: number): void {
    this.heldUntil = Math.max(this.heldUntil, now + Math.max(0, retryAfterMs));
    this.reset(this.heldUntil, 1);
  }

  override take(now: number): boolean {
    return now >= this.heldUntil && super.take(now);
  }

  override waitMs(now: number): number {
    return now < this.heldUntil ? Math.ceil(this.heldUntil - now) : super.waitMs(now);
  }
}
