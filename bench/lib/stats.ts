/**
 * Benchmark maths, pure (no clocks, no I/O): percentiles, summaries, medians and ratios.
 * Tested in test/unit/bench/stats.test.ts.
 */

/**
 * The `p`-th percentile (0..100) of `sorted` (ascending), by the nearest-rank method: the
 * smallest value such that at least p % of the values are less than or equal to it. Every
 * result is a value that was measured (no interpolation). NaN for an empty input.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside 0..100`);
  if (p === 0) return sorted[0];
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** A sorted copy (the input is left alone), as a Float64Array for large sample sets. */
export function sortedCopy(values: ArrayLike<number>): Float64Array {
  const copy = Float64Array.from(values as ArrayLike<number>);
  copy.sort();
  return copy;
}

/** Percentile of unsorted values (sorts a copy). */
export function percentile(values: ArrayLike<number>, p: number): number {
  return percentileSorted(sortedCopy(values), p);
}

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** count, min, mean, p50, p90, p99, max of the values (NaN fields when there are none). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = sortedCopy(values);
  const n = sorted.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return {
    count: n,
    min: n > 0 ? sorted[0] : Number.NaN,
    mean: n > 0 ? sum / n : Number.NaN,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: n > 0 ? sorted[n - 1] : Number.NaN,
  };
}

/** The median (for an even count, the mean of the two middle values); NaN when empty. */
export function median(values: readonly number[]): number {
  const finite = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const n = finite.length;
  if (n === 0) return Number.NaN;
  const mid = n >> 1;
  return n % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

/** a / b, or NaN when either is not a finite number or b is 0 (a ratio to a missing floor is unknown, not infinite). */
export function ratio(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return Number.NaN;
  return a / b;
}

/** Concatenates sample arrays (from several load workers) into one. */
export function concatSamples(parts: ReadonlyArray<ArrayLike<number>>): Float64Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Float64Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part as ArrayLike<number>, offset);
    offset += part.length;
  }
  return out;
}

/**
 * One receiver's view of one sender's numbered stream (messages 0..count-1): every message
 * must arrive exactly once, in order. Fed one index at a time, so a load worker can check
 * millions of deliveries without keeping them.
 */
export class StreamCheck {
  private readonly seen: Uint8Array;
  private last = -1;
  received = 0;
  duplicates = 0;
  outOfOrder = 0;

  constructor(readonly count: number) {
    this.seen = new Uint8Array(count);
  }

  /** Notes an arrival; an index that was never sent counts as a duplicate (an extra message). */
  note(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count || this.seen[index]) {
      this.duplicates += 1;
      return;
    }
    this.seen[index] = 1;
    this.received += 1;
    if (index < this.last) this.outOfOrder += 1;
    else this.last = index;
  }

  get missing(): number {
    return this.count - this.received;
  }
}

/** Checks a whole arrival list at once (see StreamCheck). */
export function checkSequence(arrivals: readonly number[], count: number): { received: number; missing: number; duplicates: number; outOfOrder: number } {
  const check = new StreamCheck(count);
  for (const index of arrivals) check.note(index);
  return { received: check.received, missing: check.missing, duplicates: check.duplicates, outOfOrder: check.outOfOrder };
}

/**
 * CPU microseconds per unit from two /proc tick readings (utime+stime, in clock ticks of
 * `ticksPerSecond`, 100 on Linux) and a unit count. NaN when nothing was done.
 */
export function cpuMicrosPerUnit(ticksBefore: number, ticksAfter: number, units: number, ticksPerSecond = 100): number {
  if (units <= 0) return Number.NaN;
  return ((ticksAfter - ticksBefore) * 1e6) / ticksPerSecond / units;
}
