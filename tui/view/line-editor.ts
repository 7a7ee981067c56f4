import { stripControls } from '../sanitize.js';
import { charWidth } from './text-width.js';

/**
 * The input line's text and cursor, with readline-style editing. Pure: keys are mapped to
 * these methods by the view. The text is kept as code points so the cursor never lands inside
 * a surrogate pair; `cursor` counts code points.
 */
export class LineEditor {
  private chars: string[] = [];
  private cursorAt = 0;
  /** First code point shown, kept between renders so the view scrolls smoothly. */
  private scrollStart = 0;
  /** The first half of a surrogate pair typed as its own key press. */
  private highSurrogate = '';

  get text(): string {
    return this.chars.join('');
  }

  /** Cursor position in code points. */
  get cursor(): number {
    return this.cursorAt;
  }

  /** Cursor position in UTF-16 code units (for string APIs such as completion). */
  get cursorUnits(): number {
    return this.chars.slice(0, this.cursorAt).join('').length;
  }

  get empty(): boolean {
    return this.chars.length === 0;
  }

  /** Replaces the text; the cursor goes to `cursorUnits` (UTF-16 index), default the end. */
  set(text: string, cursorUnits?: number): void {
    this.chars = Array.from(stripControls(text));
    if (cursorUnits === undefined) {
      this.cursorAt = this.chars.length;
    } else {
      let units = 0;
      let at = 0;
      while (at < this.chars.length && units + this.chars[at].length <= cursorUnits) {
        units += this.chars[at].length;
        at += 1;
      }
      this.cursorAt = at;
    }
  }

  /** Empties the line and returns what it held. */
  take(): string {
    const text = this.text;
    this.chars = [];
    this.cursorAt = 0;
    this.scrollStart = 0;
    return text;
  }

  /**
   * Inserts typed or pasted text at the cursor; control characters are dropped, line breaks
   * become spaces. blessed reports a character outside the BMP (most emoji) as two key
   * presses, one per UTF-16 half: a high half is held until its low half arrives.
   */
  insert(text: string): void {
    let input = text;
    if (this.highSurrogate !== '') {
      input = this.highSurrogate + input;
      this.highSurrogate = '';
    }
    const last = input.charCodeAt(input.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.highSurrogate = input.slice(-1);
      input = input.slice(0, -1);
    }
    const add = Array.from(stripControls(input));
    if (add.length === 0) return;
    this.chars.splice(this.cursorAt, 0, ...add);
    this.cursorAt += add.length;
  }

  backspace(): void {
    if (this.cursorAt === 0) return;
    this.chars.splice(this.cursorAt - 1, 1);
    this.cursorAt -= 1;
  }

  deleteForward(): void {
    if (this.cursorAt >= this.chars.length) return;
    this.chars.splice(this.cursorAt, 1);
  }

  left(): void {
    this.cursorAt = Math.max(0, this.cursorAt - 1);
  }

  right(): void {
    this.cursorAt = Math.min(this.chars.length, this.cursorAt + 1);
  }

  home(): void {
    this.cursorAt = 0;
  }

  end(): void {
    this.cursorAt = this.chars.length;
  }

  private wordStartBefore(at: number): number {
    let i = at;
    while (i > 0 && this.chars[i - 1] === ' ') i -= 1;
    while (i > 0 && this.chars[i - 1] !== ' ') i -= 1;
    return i;
  }

  private wordEndAfter(at: number): number {
    let i = at;
    while (i < this.chars.length && this.chars[i] === ' ') i += 1;
    while (i < this.chars.length && this.chars[i] !== ' ') i += 1;
    return i;
  }

  wordLeft(): void {
    this.cursorAt = this.wordStartBefore(this.cursorAt);
  }

  wordRight(): void {
    this.cursorAt = this.wordEndAfter(this.cursorAt);
  }

  /** Ctrl-W: deletes the word before the cursor. */
  deleteWordBefore(): void {
    const start = this.wordStartBefore(this.cursorAt);
    this.chars.splice(start, this.cursorAt - start);
    this.cursorAt = start;
  }

  /** Ctrl-U: deletes from the line start to the cursor. */
  killToStart(): void {
    this.chars.splice(0, this.cursorAt);
    this.cursorAt = 0;
  }

  /** Ctrl-K: deletes from the cursor to the line end. */
  killToEnd(): void {
    this.chars.splice(this.cursorAt);
  }

  /**
   * The part of the line that fits in `columns` with the cursor visible, and the cursor's
   * column in it. One column is kept for the cursor at the end of the line.
   */
  window(columns: number): { before: string; atCursor: string; after: string; cursorColumn: number } {
    const width = Math.max(1, columns);
    const widths = this.chars.map(charWidth);
    const cursor = this.cursorAt;
    const cursorCell = cursor < this.chars.length ? Math.max(1, widths[cursor]) : 1;
    let start = Math.min(this.scrollStart, cursor);
    const span = (from: number, to: number) => widths.slice(from, to).reduce((a, b) => a + b, 0);
    // Scroll right until the cursor cell fits; keep a few characters of context on the left.
    while (start < cursor && span(start, cursor) + cursorCell > width) start += 1;
    const context = Math.min(8, Math.floor(width / 4));
    while (start > 0 && span(start, cursor) + cursorCell + widths[start - 1] <= width && span(start - 1, cursor) < context) start -= 1;
    this.scrollStart = start;
    const before = this.chars.slice(start, cursor).join('');
    const atCursor = cursor < this.chars.length ? this.chars[cursor] : ' ';
    let used = span(start, cursor) + cursorCell;
    let end = cursor + 1;
    while (end < this.chars.length && used + widths[end] <= width) {
      used += widths[end];
      end += 1;
    }
    const after = cursor < this.chars.length ? this.chars.slice(cursor + 1, end).join('') : '';
    return { before, atCursor, after, cursorColumn: span(start, cursor) };
  }
}

/**
 * The input line's editing keys (blessed's `full` key names), readline style: what each does
 * to the editor. Keys not here are the controller's (Enter, Tab, history, scrolling) or typed.
 */
export const EDITING_KEYS: ReadonlyMap<string, (editor: LineEditor) => void> = new Map<string, (editor: LineEditor) => void>([
  ['backspace', (e) => e.backspace()],
  ['delete', (e) => e.deleteForward()],
  ['C-d', (e) => e.deleteForward()],
  ['left', (e) => e.left()],
  ['C-b', (e) => e.left()],
  ['right', (e) => e.right()],
  ['C-f', (e) => e.right()],
  ['home', (e) => e.home()],
  ['C-a', (e) => e.home()],
  ['end', (e) => e.end()],
  ['C-e', (e) => e.end()],
  ['M-b', (e) => e.wordLeft()],
  ['C-left', (e) => e.wordLeft()],
  ['M-f', (e) => e.wordRight()],
  ['C-right', (e) => e.wordRight()],
  ['C-w', (e) => e.deleteWordBefore()],
  ['C-u', (e) => e.killToStart()],
  ['C-k', (e) => e.killToEnd()],
]);
