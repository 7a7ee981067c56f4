import { charWidth } from './text-width.js';

/**
 * Word wrapping by display width (CJK takes two columns), with a different width for the
 * first line than for the rest, so a message wraps under its text and not under the
 * timestamp and nick (a hanging indent). Breaks at the last space that fits; a word longer
 * than a line, or text without spaces (CJK), is broken between characters. Spaces at a break
 * are dropped. Pure; the text must already be free of control characters (one line of it).
 *
 * @param firstWidth columns available on the first line
 * @param restWidth columns available on every following line
 * @returns at least one line (an empty text gives one empty line)
 */
export function wrapText(text: string, firstWidth: number, restWidth: number, widthOf: (char: string) => number = charWidth): string[] {
  const lines: string[] = [];
  let current: string[] = [];
  let currentWidth = 0;
  let limit = Math.max(1, firstWidth);

  const flush = (chars: string[]) => {
    lines.push(chars.join(''));
    limit = Math.max(1, restWidth);
  };

  for (const char of text) {
    const w = widthOf(char);
    // A continuation line does not start with the spaces that caused the break.
    if (char === ' ' && current.length === 0 && lines.length > 0) continue;
    if (currentWidth + w <= limit || current.length === 0) {
      // An empty line always takes the next character, even one wider than the line, so a
      // line narrower than a CJK character cannot loop forever.
      current.push(char);
      currentWidth += w;
      continue;
    }
    if (char === ' ') {
      flush(current);
      current = [];
      currentWidth = 0;
      continue;
    }
    const space = current.lastIndexOf(' ');
    if (space > 0) {
      flush(current.slice(0, space));
      current = current.slice(space + 1);
    } else {
      flush(current);
      current = [];
    }
    currentWidth = current.reduce((sum, c) => sum + widthOf(c), 0);
    // The carried-over word may itself be longer than the new line.
    while (current.length > 0 && currentWidth + w > limit) {
      let fit = 0;
      let taken = 0;
      while (taken < current.length && fit + widthOf(current[taken]) <= limit) {
        fit += widthOf(current[taken]);
        taken += 1;
      }
      if (taken === 0) taken = 1;
      if (taken === current.length && currentWidth + w > limit) {
        flush(current);
        current = [];
        break;
      }
      flush(current.slice(0, taken));
      current = current.slice(taken);
      currentWidth = current.reduce((sum, c) => sum + widthOf(c), 0);
    }
    currentWidth = current.reduce((sum, c) => sum + widthOf(c), 0);
    current.push(char);
    currentWidth += w;
  }
  lines.push(current.join(''));
  // Trailing spaces at the end of a wrapped line would only push the layout.
  return lines.map((line, i) => (i < lines.length - 1 ? line.replace(/ +$/, '') : line));
}
