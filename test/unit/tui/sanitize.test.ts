import blessed from 'blessed';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeTags, isSafeLine, safeLine, safeLines, stripControls } from '../../../tui/sanitize.js';
import { seededRandom } from '../../../bench/lib/seeded-random.js';

const ESC = '\x1b';

/** True when `text` holds nothing a terminal would act on (with `\n` allowed when multiline). */
function inert(text: string, multiline = false): boolean {
  for (const char of text) {
    const cp = char.codePointAt(0)!;
    if (cp === 0x0a && multiline) continue;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
  }
  return true;
}

test('every C0 control, DEL and C1 control alone is removed (tab and line breaks become spaces)', () => {
  for (let cp = 0; cp <= 0x9f; cp += 1) {
    if (cp >= 0x20 && cp < 0x7f) continue;
    const char = String.fromCharCode(cp);
    const out = stripControls(`a${char}b`);
    if (cp === 0x09 || cp === 0x0a || cp === 0x0d) assert.is(out, 'a b', `U+${cp.toString(16)}`);
    else if (cp === 0x1b || cp === 0x9b || cp === 0x9d || cp === 0x90 || cp === 0x98 || cp === 0x9e || cp === 0x9f) assert.ok(inert(out), `U+${cp.toString(16)}`);
    else assert.is(out, 'ab', `U+${cp.toString(16)}`);
  }
});

test('printable ASCII and ordinary Unicode pass unchanged', () => {
  let ascii = '';
  for (let cp = 0x20; cp < 0x7f; cp += 1) ascii += String.fromCharCode(cp);
  assert.is(stripControls(ascii), ascii);
  for (const text of ['héllo wörld', '漢字テスト', '한국어', 'e\u0301 combining', '👍🏽 emoji', '👨‍👩‍👧 zwj family', 'Ünïcödé ±½§', '{red-bg}tag{/red-bg}']) {
    assert.is(stripControls(text), text);
    assert.ok(isSafeLine(text));
  }
});

test('CSI sequences are removed whole: colours, cursor moves, clearing, private modes', () => {
  const cases: Array<[string, string]> = [
    [`${ESC}[31mred${ESC}[0m`, 'red'],
    [`${ESC}[1;38;5;196mbold${ESC}[m`, 'bold'],
    [`${ESC}[38;2;255;0;0mtrue${ESC}[39m`, 'true'],
    [`a${ESC}[2Jb`, 'ab'],
    [`a${ESC}[Hb`, 'ab'],
    [`a${ESC}[10;20Hb`, 'ab'],
    [`a${ESC}[?1049hb${ESC}[?1049l`, 'ab'],
    [`a${ESC}[?25lb`, 'ab'],
    [`a${ESC}[1 qb`, 'ab'], // intermediate byte (cursor style)
    [`a${ESC}[>0;1cb`, 'ab'],
    [`a${ESC}[6nb`, 'ab'], // cursor position report request
    [`a${ESC}[21tb`, 'ab'], // window title report (a classic injection)
    [`a${ESC}[3;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1;1mb`, 'ab'],
    [`a\x9b31mb`, 'ab'], // 8-bit CSI
    [`a\x9b?1049hb`, 'ab'],
    [`a${ESC}[`, 'a'], // cut short at the end
    [`a${ESC}[31`, 'a'],
  ];
  for (const [input, expected] of cases) assert.is(stripControls(input), expected, JSON.stringify(input));
});

test('OSC, DCS, APC, PM and SOS strings are removed with their payload, however they end', () => {
  const cases: Array<[string, string]> = [
    [`a${ESC}]0;pwned\x07b`, 'ab'], // title, BEL
    [`a${ESC}]2;pwned${ESC}\\b`, 'ab'], // title, ST
    [`a${ESC}]52;c;ZXZpbA==\x07b`, 'ab'], // clipboard write
    [`${ESC}]8;;https://evil.example/${ESC}\\click${ESC}]8;;${ESC}\\`, 'click'], // hyperlink: the text stays
    [`a${ESC}]0;unterminated`, 'a'],
    [`a\x9d0;pwned\x07b`, 'ab'], // 8-bit OSC
    [`a\x9d0;pwned\x9cb`, 'ab'], // 8-bit OSC, 8-bit ST
    [`a${ESC}P+q544e${ESC}\\b`, 'ab'], // DCS (XTGETTCAP)
    [`a${ESC}Pq#0;2;0;0;0#0~~@@vv${ESC}\\b`, 'ab'], // sixel
    [`a${ESC}_Gf=100;AAAA${ESC}\\b`, 'ab'], // APC (kitty graphics)
    [`a${ESC}^private${ESC}\\b`, 'ab'], // PM
    [`a${ESC}Xsos${ESC}\\b`, 'ab'], // SOS
    [`a\x90dcs\x9cb`, 'ab'],
    [`a\x9fapc\x9cb`, 'ab'],
    [`a${ESC}]0;x\x18b`, 'ab'], // CAN aborts the string
    [`a${ESC}]0;x${ESC}[31mb`, 'ab'], // a new ESC ends it and is parsed itself
  ];
  for (const [input, expected] of cases) assert.is(stripControls(input), expected, JSON.stringify(input));
});

test('two-byte and nF escapes are removed; a lone ESC too', () => {
  const cases: Array<[string, string]> = [
    [`a${ESC}cb`, 'ab'], // full reset
    [`a${ESC}7b${ESC}8`, 'ab'], // save / restore cursor
    [`a${ESC}Mb`, 'ab'], // reverse index
    [`a${ESC}(0b${ESC}(B`, 'ab'], // line-drawing charset
    [`a${ESC}#8b`, 'ab'], // screen alignment test (fills the screen with E)
    [`a${ESC}%Gb`, 'ab'],
    [`a${ESC}=b${ESC}>`, 'ab'],
    [`a${ESC}`, 'a'],
    [`a${ESC}${ESC}b`, 'a'], // ESC ESC b: the second ESC takes `b` as its final byte
    [`a${ESC}é`, 'aé'],
  ];
  for (const [input, expected] of cases) assert.is(stripControls(input), expected, JSON.stringify(input));
});

test('line breaks: spaces on one line, kept (CR LF and CR normalised) with multiline', () => {
  assert.is(stripControls('a\nb\r\nc\rd'), 'a b c d');
  assert.is(stripControls('a\nb\r\nc\rd', { multiline: true }), 'a\nb\nc\nd');
  assert.is(stripControls('a\u2028b\u2029c'), 'a b c');
  assert.equal(safeLines('one\r\ntwo\n\x1b[2Jthree'), ['one', 'two', 'three']);
  assert.equal(safeLines(''), ['']);
  assert.is(safeLine('a\tb'), 'a b');
});

test('bidi overrides and other layout controls are removed; surrogate halves replaced', () => {
  assert.is(stripControls('admin\u202Etxt.exe'), 'admintxt.exe');
  assert.is(stripControls('a\u2066b\u2069c\u200Fd\u200Ee\u061Cf'), 'abcdef');
  assert.is(stripControls('a\uFFF9b\uFFFBc'), 'abc');
  assert.is(stripControls('a\uD800b'), 'a\uFFFDb');
  assert.is(stripControls('a\uDC00b'), 'a\uFFFDb');
  assert.is(stripControls('end\uD83D'), 'end\uFFFD');
  assert.is(stripControls('\uD83D\uDC4D'), '👍');
  // Zero-width joiners stay: emoji sequences need them.
  assert.is(stripControls('a\u200Db'), 'a\u200Db');
});

test('random input: the output is always inert, and stripping again changes nothing', () => {
  const random = seededRandom(20240611);
  const alphabet = ['\x1b', '[', ']', 'P', '_', '\\', '\x07', '\x9b', '\x9c', '\x9d', '\x90', ';', '0', '1', '3', '8', 'm', 'H', 'J', '?', 'a', ' ', '\n', '\r', '\t', '\x00', '\x7f', '\x85', '\u202e', '\ud800', '\udc00', '漢', '{', '}', 'é'];
  for (let round = 0; round < 3000; round += 1) {
    let input = '';
    const length = Math.floor(random() * 40);
    for (let i = 0; i < length; i += 1) input += alphabet[Math.floor(random() * alphabet.length)];
    const one = stripControls(input);
    const multi = stripControls(input, { multiline: true });
    assert.ok(inert(one), JSON.stringify(input));
    assert.ok(inert(multi, true), JSON.stringify(input));
    assert.is(stripControls(one), one, JSON.stringify(input));
    assert.is(stripControls(multi, { multiline: true }), multi, JSON.stringify(input));
  }
});

test('every single code point from U+0000 to U+FFFF gives inert output', () => {
  for (let cp = 0; cp <= 0xffff; cp += 1) {
    const out = stripControls(`x${String.fromCharCode(cp)}y`);
    if (!inert(out)) assert.unreachable(`U+${cp.toString(16)} gave ${JSON.stringify(out)}`);
  }
});

test('escapeTags: blessed shows tags from the network as written and never styles them', () => {
  assert.is(escapeTags('{red-bg}x{/red-bg}'), '{open}red-bg{close}x{open}/red-bg{close}');
  assert.is(escapeTags('no tags'), 'no tags');
  // Run blessed's own tag parser over the escaped text: it must give the text back unstyled.
  // The fake program throws if blessed tries to produce an attribute.
  const fakeScreen = {
    program: {
      _attr() {
        throw new Error('a tag was interpreted');
      },
    },
  };
  const parseTags = (blessed as unknown as { helpers: { parseTags(text: string, screen: unknown): string } }).helpers.parseTags;
  for (const text of ['{red-bg}RED{/red-bg}', '{bold}{underline}x{/}', '{escape}{red-fg}{/escape}', '{open}{close}', '{#ff0000-fg}hex{/}', '{{}}', '{|}right']) {
    assert.is(parseTags(escapeTags(text), fakeScreen), text);
  }
});

test.run();
