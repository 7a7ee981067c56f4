import blessed from 'blessed';

/**
 * Widths for laying text out so that blessed draws it exactly as planned.
 *
 * blessed (with `fullUnicode`) puts CJK and other double-width characters in two cells, and
 * combining marks in none. But when it splits content into rows it counts UTF-16 code units
 * plus the hidden cell it reserves after a wide character, not columns, and a row longer than
 * its box by that count gets cut (`wrap: false`) or wrapped where it did not need to be. So
 * every fitting decision here uses that count (`charWidth`): it equals the columns for
 * ordinary and CJK text, and is larger than them only for characters outside the BMP (emoji)
 * and combining marks, which then simply leave a little room at the end of their row.
 * `charColumns` is the true on-screen width.
 *
 * blessed 0.1.81's tables also predate emoji: it counts 👍 as one column while every current
 * terminal (and tmux) draws it in two, so a row with an emoji pushed the rest of its row one
 * column right and left stray characters behind on the next redraw. We teach blessed that
 * characters with the Unicode property Emoji_Presentation are wide (its width function, and
 * the pattern it uses to reserve the second cell), once, when this module loads.
 */
interface BlessedUnicode {
  charWidth(text: string | number, index?: number): number;
  codePointAt(text: string, index: number): number;
  chars: { all: RegExp };
  securechatEmojiWide?: boolean;
}

const unicode = (blessed as unknown as { unicode: BlessedUnicode }).unicode;

const EMOJI_PRESENTATION = /^\p{Emoji_Presentation}$/u;

/** Code point ranges [from, to] with Emoji_Presentation, from the planes where emoji live. */
function emojiRanges(): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  const scan = (from: number, to: number) => {
    for (let cp = from; cp <= to; cp += 1) {
      if (!EMOJI_PRESENTATION.test(String.fromCodePoint(cp))) continue;
      const last = ranges[ranges.length - 1];
      if (last && last[1] === cp - 1) last[1] = cp;
      else ranges.push([cp, cp]);
    }
  };
  scan(0x2000, 0x2bff);
  scan(0x1f000, 0x1faff);
  return ranges;
}

function hex4(unit: number): string {
  return '\\u' + unit.toString(16).padStart(4, '0');
}

/** A regex source (no `u` flag, like blessed's own) matching any code point in `ranges`, as UTF-16. */
function utf16Alternatives(ranges: Array<[number, number]>): string {
  const parts: string[] = [];
  for (const [from, to] of ranges) {
    if (to <= 0xffff) {
      parts.push(from === to ? hex4(from) : `[${hex4(from)}-${hex4(to)}]`);
      continue;
    }
    // Split by high surrogate so each part is `high[low-low]`.
    for (let start = from; start <= to; ) {
      const high = 0xd800 + ((start - 0x10000) >> 10);
      const blockEnd = Math.min(to, 0x10000 + ((high - 0xd800 + 1) << 10) - 1);
      const lowFrom = 0xdc00 + ((start - 0x10000) & 0x3ff);
      const lowTo = 0xdc00 + ((blockEnd - 0x10000) & 0x3ff);
      parts.push(hex4(high) + (lowFrom === lowTo ? hex4(lowFrom) : `[${hex4(lowFrom)}-${hex4(lowTo)}]`));
      start = blockEnd + 1;
    }
  }
  return parts.join('|');
}

function teachBlessedEmojiWidth(): void {
  if (unicode.securechatEmojiWide) return;
  unicode.securechatEmojiWide = true;
  const original = unicode.charWidth.bind(unicode);
  unicode.charWidth = (text: string | number, index?: number) => {
    const cp = typeof text === 'number' ? text : unicode.codePointAt(text, index ?? 0);
    if (cp >= 0x2000 && EMOJI_PRESENTATION.test(String.fromCodePoint(cp))) return 2;
    return original(text, index);
  };
  const all = unicode.chars.all;
  unicode.chars.all = new RegExp(`(${all.source.slice(1, -1)}|${utf16Alternatives(emojiRanges())})`, all.flags);
}

teachBlessedEmojiWidth();

/** On-screen columns of one code point (a one- or two-unit string), as blessed draws it. */
export function charColumns(char: string): number {
  return unicode.charWidth(char, 0);
}

/**
 * The width blessed counts for one code point when it splits rows: its UTF-16 length, plus
 * one for the cell reserved after a wide character. Never less than `charColumns`.
 */
export function charWidth(char: string): number {
  return char.length + (charColumns(char) === 2 ? 1 : 0);
}

/** The layout width of `text` (see charWidth; the columns for BMP text). No control characters or escapes. */
export function textWidth(text: string): number {
  let width = 0;
  for (const char of text) width += charWidth(char);
  return width;
}

/** The longest prefix of `text` that fits in `columns`, and how wide it is. */
export function fitWidth(text: string, columns: number): { text: string; width: number } {
  let width = 0;
  let out = '';
  for (const char of text) {
    const w = charWidth(char);
    if (width + w > columns) break;
    width += w;
    out += char;
  }
  return { text: out, width };
}

/** `text` cut to `columns` (with `…` when cut) and padded with spaces to exactly `columns`. */
export function padToWidth(text: string, columns: number): string {
  if (columns <= 0) return '';
  const full = textWidth(text);
  if (full <= columns) return text + ' '.repeat(columns - full);
  const cut = fitWidth(text, columns - 1);
  return cut.text + '…' + ' '.repeat(columns - 1 - cut.width);
}
