/**
 * Which sequence ids of one room the client has already shown, so that nothing is shown
 * twice when the same message arrives again (a catch-up after a reconnect overlaps what was
 * delivered live, or an ack races a broadcast). Pure.
 *
 * Everything at or below `floor` counts as seen; seen ids above it wait in a small set until
 * the gap below them fills. The set is bounded: when it grows past `maxAbove` (a gap that
 * never fills, e.g. a message the relay never stored) the floor jumps up to its smallest entry.
 */
export class SeqWindow {
  private floorSeq: number;
  private readonly above = new Set<number>();

  /** Sequence ids start at 1 (relay/rooms.ts), so a fresh window's floor is 0: nothing seen, nothing missing. */
  constructor(floor = 0, private readonly maxAbove = 4096) {
    this.floorSeq = floor;
  }

  /** Every id at or below this has been seen (or was skipped as older context). */
  get floor(): number {
    return this.floorSeq;
  }

  /** The highest id seen (the floor when none is above it). */
  get highest(): number {
    let top = this.floorSeq;
    for (const seq of this.above) if (seq > top) top = seq;
    return top;
  }

  has(seq: number): boolean {
    return seq <= this.floorSeq || this.above.has(seq);
  }

  /** Records `seq` as seen; true when it was new (show it), false for a duplicate (drop it). */
  mark(seq: number): boolean {
    if (this.has(seq)) return false;
    if (seq === this.floorSeq + 1) {
      this.floorSeq = seq;
      this.advance();
    } else {
      this.above.add(seq);
      if (this.above.size > this.maxAbove) this.skipTo(Math.min(...this.above) - 1);
    }
    return true;
  }

  /** Treats everything up to `seq` as seen (older context we chose not to show). */
  skipTo(seq: number): void {
    if (seq <= this.floorSeq) return;
    this.floorSeq = seq;
    for (const s of this.above) if (s <= seq) this.above.delete(s);
    this.advance();
  }

  private advance(): void {
    while (this.above.delete(this.floorSeq + 1)) this.floorSeq += 1;
  }
}
