import { TokenBucket } from '../../shared/token-bucket.js';

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

/** The client's bucket: the same as the relay's, with the headroom `pacerFor` gives it. */
export class SendPacer extends TokenBucket {}
