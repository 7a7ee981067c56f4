/**
 * Reconnect delays: exponential backoff with jitter, pure (the random source is a parameter).
 *
 * "Equal jitter": a fixed share of the exponential delay is kept and the rest is random, so
 * clients cut off together (a relay restart) spread their returns out, yet no retry
 * collapses to zero delay and hammers a relay that is still starting.
 */
export interface BackoffPolicy {
  /** Delay before the first retry, in milliseconds (before jitter). */
  baseMs: number;
  /** Longest delay, in milliseconds (before jitter). */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
  /** Share of each delay that is random, 0..1 (0 = no jitter, 1 = "full jitter"). */
  jitter: number;
}

/** Defaults: 0.5 s, 1 s, 2 s, ... capped at 30 s; half of each delay random. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/**
 * The delay before retry number `attempt` (1 = first retry), in whole milliseconds.
 * `random` returns a number in [0, 1) like `Math.random`.
 * The result lies in [(1 - jitter) * d, d] where d = min(maxMs, baseMs * factor^(attempt-1)).
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const n = Number.isFinite(attempt) && attempt >= 1 ? Math.floor(attempt) : 1;
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const exponential = Math.min(policy.maxMs, policy.baseMs * Math.pow(Math.max(1, policy.factor), n - 1));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(exponential * (1 - jitter) + exponential * jitter * r);
}

/** The delay to wait before `attempt`: the backoff, but never shorter than what the relay asked for. */
export function retryDelayMs(attempt: number, policy: BackoffPolicy, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const backoff = backoffDelayMs(attempt, policy, random);
  return retryAfterMs !== undefined && retryAfterMs > backoff ? Math.ceil(retryAfterMs) : backoff;
}
