/**
 * Up/Down walk through the lines entered before, like a shell: Up from a half-typed line
 * keeps it as a draft, and walking Down past the newest entry brings the draft back, so
 * browsing the history never loses what was being typed. Changes made to a recalled line are
 * kept while browsing (per entry) and forgotten once a line is submitted.
 *
 * Pure: no I/O, no timers.
 */
export class InputHistory {
  private readonly entries: string[] = [];
  /** Index into entries while browsing; entries.length means "at the draft". */
  private position = 0;
  private draft = '';
  /** Edits to recalled entries, by index, until the next submit. */
  private readonly edits = new Map<number, string>();

  /** @param maxEntries most lines remembered; the oldest are dropped beyond it. */
  constructor(readonly maxEntries = 500) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
  }

  /** Lines remembered, oldest first. */
  get lines(): readonly string[] {
    return this.entries;
  }

  /** True while a recalled line (not the draft) is shown. */
  get browsing(): boolean {
    return this.position < this.entries.length;
  }

  /**
   * Records a submitted line and returns to the draft position. Blank lines and a repeat of the
   * newest entry are not recorded (like HISTCONTROL=ignoredups).
   */
  push(line: string): void {
    if (line.trim() !== '' && this.entries[this.entries.length - 1] !== line) {
      this.entries.push(line);
      if (this.entries.length > this.maxEntries) this.entries.splice(0, this.entries.length - this.maxEntries);
    }
    this.edits.clear();
    this.draft = '';
    this.position = this.entries.length;
  }

  /**
   * Up: the previous (older) line, given the line currently in the input (kept as the draft or
   * as an edit of the shown entry). Undefined when already at the oldest.
   */
  up(current: string): string | undefined {
    if (this.position === 0) return undefined;
    this.remember(current);
    this.position -= 1;
    return this.shown();
  }

  /** Down: the next (newer) line, or the draft after the newest. Undefined when already at the draft. */
  down(current: string): string | undefined {
    if (this.position >= this.entries.length) return undefined;
    this.remember(current);
    this.position += 1;
    return this.shown();
  }

  /** Stops browsing (e.g. the input was cleared): the next Up starts from the newest entry again. */
  reset(): void {
    this.edits.clear();
    this.draft = '';
    this.position = this.entries.length;
  }

  private remember(current: string): void {
    if (this.position >= this.entries.length) this.draft = current;
    else if (current !== this.entries[this.position]) this.edits.set(this.position, current);
    else this.edits.delete(this.position);
  }

  private shown(): string {
    if (this.position >= this.entries.length) return this.draft;
    return this.edits.get(this.position) ?? this.entries[this.position];
  }
}
