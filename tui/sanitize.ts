/**
 * Text from the network is shown, never obeyed.
 *
 * Every name, message, room name and error text from the relay passes through here before it
 * reaches the screen. A terminal acts on ESC-introduced sequences (CSI: colours, cursor moves,
 * clearing; OSC: window titles, clipboard writes, hyperlinks; DCS/APC/PM/SOS: device strings),
 * on their 8-bit C1 forms, and on C0 controls (BEL, BS, CR...). blessed in turn interprets
 * `{red-bg}`-style tags in widgets that parse tags, and keeps SGR escapes it finds in content.
 * So we remove whole control sequences (not just the ESC byte, which would leave `[2J` junk
 * that reads like an attack half-done), drop lone controls, and drop the Unicode controls that
 * reorder or split what the reader sees (bidi overrides, line separators).
 *
 * Pure functions, no blessed import.
 */

const ESC = 0x1b;
const BEL = 0x07;
/** 8-bit string terminator. */
const ST8 = 0x9c;

/** What may follow ESC to open a string that runs until ST (or BEL, for OSC). */
const STRING_OPENERS_7BIT = new Set([0x5d /* ] OSC */, 0x50 /* P DCS */, 0x58 /* X SOS */, 0x5e /* ^ PM */, 0x5f /* _ APC */]);
/** The same strings introduced by their 8-bit C1 forms. */
const STRING_OPENERS_8BIT = new Set([0x9d /* OSC */, 0x90 /* DCS */, 0x98 /* SOS */, 0x9e /* PM */, 0x9f /* APC */]);
const CSI_8BIT = 0x9b;

/**
 * Unicode format characters that change how the text around them is laid out or read:
 * bidi embeddings/overrides/isolates ("Trojan Source"), the Arabic letter mark, and
 * interlinear annotation anchors. Zero-width joiners stay (emoji sequences need them).
 */
function isLayoutControl(cp: number): boolean {
  return (
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0x200e ||
    cp === 0x200f ||
    cp === 0x061c ||
    (cp >= 0xfff9 && cp <= 0xfffb)
  );
}

/** Index just past a control string (OSC, DCS...) that started before `from`; BEL ends only OSC. */
function skipControlString(text: string, from: number, belEnds: boolean): number {
  for (let i = from; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === ST8) return i + 1;
    if (belEnds && c === BEL) return i + 1;
    if (c === ESC && text.charCodeAt(i + 1) === 0x5c /* \ */) return i + 2;
    // A terminal also aborts a string on CAN/SUB or a new ESC; so do we (the ESC is then parsed again).
    if (c === 0x18 || c === 0x1a) return i + 1;
    if (c === ESC) return i;
  }
  return text.length;
}

/** Index just past a CSI whose parameters start at `from` (parameter, intermediate, final bytes). */
function skipCsi(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x3f) i += 1; // parameter bytes
    else break;
  }
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c <= 0x2f) i += 1; // intermediate bytes
    else break;
  }
  if (i < text.length) {
    const c = text.charCodeAt(i);
    if (c >= 0x40 && c <= 0x7e) return i + 1; // final byte
  }
  // Malformed: drop what was consumed; anything else is ordinary text again (controls in it are caught later).
  return i;
}

/** Index just past an ESC sequence that starts at `at` (text[at] is ESC). */
function skipEscape(text: string, at: number): number {
  const next = text.charCodeAt(at + 1);
  if (Number.isNaN(next)) return at + 1;
  if (next === 0x5b /* [ */) return skipCsi(text, at + 2);
  if (STRING_OPENERS_7BIT.has(next)) return skipControlString(text, at + 2, next === 0x5d);
  // nF sequences: ESC, intermediates 0x20-0x2F, then a final 0x30-0x7E (ESC ( B, ESC # 8...);
  // Fp/Fe/Fs: ESC and one byte 0x30-0x7E (ESC 7, ESC c, ESC M...).
  let i = at + 1;
  while (i < text.length && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x2f) i += 1;
  if (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x7e) return i + 1;
  return i;
}

export interface StripOptions {
  /** Keep line breaks (`\n`; CR LF and lone CR become `\n`) instead of turning them into spaces. Default false. */
  multiline?: boolean;
}

/**
 * Removes every terminal control sequence and control character from `text`:
 * ESC sequences (CSI, OSC, DCS, SOS, PM, APC, and two-byte/nF escapes) as a whole, their 8-bit
 * C1 forms, other C0 and C1 controls, DEL, bidi and other layout controls, and lone surrogates
 * (replaced with U+FFFD). A tab becomes one space; line breaks become spaces unless `multiline`.
 * The result contains no code point below U+0020 other than `\n` (only with `multiline`),
 * none in U+007F-U+009F, and no blessed-significant control bytes.
 */
export function stripControls(text: string, options: StripOptions = {}): string {
  const multiline = options.multiline === true;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);

    if (c === ESC) {
      i = skipEscape(text, i);
      continue;
    }
    if (c === CSI_8BIT) {
      i = skipCsi(text, i + 1);
      continue;
    }
    if (STRING_OPENERS_8BIT.has(c)) {
      i = skipControlString(text, i + 1, c === 0x9d);
      continue;
    }
    if (c === 0x0d /* CR */) {
      // CR LF is one break; a lone CR would move the cursor to the line start and let later text overwrite it.
      if (text.charCodeAt(i + 1) !== 0x0a) out += multiline ? '\n' : ' ';
      i += 1;
      continue;
    }
    if (c === 0x0a || c === 0x2028 || c === 0x2029) {
      out += multiline ? '\n' : ' ';
      i += 1;
      continue;
    }
    if (c === 0x09) {
      out += ' ';
      i += 1;
      continue;
    }
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      i += 1;
      continue;
    }
    // Surrogates: keep well-formed pairs, replace lone halves (they would break width math).
    if (c >= 0xd800 && c <= 0xdbff) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        out += text[i] + text[i + 1];
        i += 2;
      } else {
        out += '\ufffd';
        i += 1;
      }
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) {
      out += '\ufffd';
      i += 1;
      continue;
    }
    if (isLayoutControl(c)) {
      i += 1;
      continue;
    }
    out += text[i];
    i += 1;
  }
  return out;
}

/**
 * Escapes blessed tags for widgets created with `tags: true`: `{` and `}` become blessed's
 * `{open}` and `{close}`, so `{red-bg}` is shown as written instead of turning red.
 * securechat's own widgets do not parse tags at all (`tags: false`), and that is the safer
 * choice: after blessed parses tags, a literal `{|}` in the result still splits the line for
 * alignment. This is for any widget that must parse tags.
 */
export function escapeTags(text: string): string {
  return text.replace(/[{}]/g, (ch) => (ch === '{' ? '{open}' : '{close}'));
}

/**
 * The one call for a single-line field from the network (a name, a room, an error message):
 * controls stripped, line breaks as spaces. Safe to place in a widget that does not parse
 * tags; wrap with `escapeTags` for one that does.
 */
export function safeLine(text: string): string {
  return stripControls(text, { multiline: false });
}

/** A message text from the network as lines to show, controls stripped. Always at least one line. */
export function safeLines(text: string): string[] {
  return stripControls(text, { multiline: true }).split('\n');
}

/** True when `text` would pass through `safeLine` unchanged. */
export function isSafeLine(text: string): boolean {
  return safeLine(text) === text;
}
