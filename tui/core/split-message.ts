/**
 * Splits a line too long for one message into several, as irssi does: each part at most
 * `maxBytes` UTF-8 bytes, cut at the last whitespace that fits (the whitespace at the cut is
 * dropped), and only a word longer than a whole part is cut inside, between two characters
 * (user-perceived characters, so an emoji or an accented letter stays whole; one longer than a
 * part is cut between code points). Never inside a code point. A text that fits is returned as
 * it is; parts are never empty or only whitespace. Pure: the dispatcher sends the parts in order.
 */
export function splitMessage(text: string, maxBytes: number): string[] {
  // Four bytes hold any code point: below that a part could not always make progress.
  if (!Number.isInteger(maxBytes) || maxBytes < 4) throw new RangeError(`maxBytes must be a whole number of at least 4, not ${maxBytes}`);
  if (Buffer.byteLength(text) <= maxBytes) return [text];
  const parts: string[] = [];
  let rest = text;
  while (Buffer.byteLength(rest) > maxBytes) {
    const cut = cutPoint(rest, maxBytes);
    const part = rest.slice(0, cut.end);
    if (part.trim() !== '') parts.push(part);
    rest = rest.slice(cut.next);
  }
  if (rest.trim() !== '') parts.push(rest);
  return parts;
}

const WHITESPACE = /\s/u;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Where the first part of `text` (longer than `maxBytes`) ends (`end`, code units, the part
 * without trailing whitespace) and where the rest starts (`next`, after the whitespace there).
 */
function cutPoint(text: string, maxBytes: number): { end: number; next: number } {
  let bytes = 0;
  /** Code units of the characters that fit. */
  let fits = 0;
  /** Start of the last whitespace run that fits, after some text (0: none). */
  let lastSpace = 0;
  for (const { segment, index } of graphemes.segment(text)) {
    const size = Buffer.byteLength(segment);
    if (bytes + size > maxBytes) {
      if (fits === 0) fits = codePointsThatFit(segment, maxBytes);
      break;
    }
    if (WHITESPACE.test(segment) && index > 0 && !WHITESPACE.test(text[index - 1])) lastSpace = index;
    bytes += size;
    fits = index + segment.length;
  }
  // The part may end right before a whitespace: a word boundary too.
  const boundary = WHITESPACE.test(text[fits] ?? '') ? fits : lastSpace;
  const end = boundary > 0 && text.slice(0, boundary).trim() !== '' ? trimmedEnd(text, boundary) : fits;
  let next = end;
  while (next < text.length && WHITESPACE.test(text[next])) next += 1;
  return { end, next };
}

/** `boundary` moved back over the whitespace before it. */
function trimmedEnd(text: string, boundary: number): number {
  let end = boundary;
  while (end > 0 && WHITESPACE.test(text[end - 1])) end -= 1;
  return end;
}

/** Code units of the leading code points of `segment` (one character longer than a part) within `maxBytes`. */
function codePointsThatFit(segment: string, maxBytes: number): number {
  let bytes = 0;
  let units = 0;
  for (const point of segment) {
    const size = Buffer.byteLength(point);
    if (bytes + size > maxBytes) break;
    bytes += size;
    units += point.length;
  }
  return units;
}
