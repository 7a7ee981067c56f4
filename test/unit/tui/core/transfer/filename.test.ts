import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../../shared/errors.js';
import {
  MAX_FILE_NAME_BYTES,
  MAX_RAW_NAME_CHARS,
  alternativeNames,
  resolveInside,
  safeFileName,
  sanitizeFileName,
} from '../../../../../shared/filename.js';

function nameOf(raw: unknown): string {
  const result = sanitizeFileName(raw);
  if (!result.ok) throw new Error(`refused: ${result.reason}`);
  return result.name;
}

function refused(raw: unknown): boolean {
  const result = sanitizeFileName(raw);
  return !result.ok && result.code === 'E_PATH_REFUSED';
}

test('plain names pass unchanged', () => {
  for (const name of ['report.pdf', 'photo 2024-01-01.jpg', 'naïve café.txt', '日本語.md', 'a', 'archive.tar.gz']) {
    const result = sanitizeFileName(name);
    assert.equal(result, { ok: true, name, changed: false });
  }
});

test('directory parts are dropped: only the last segment survives', () => {
  assert.is(nameOf('../../etc/passwd'), 'passwd');
  assert.is(nameOf('/etc/shadow'), 'shadow');
  assert.is(nameOf('..\\..\\Windows\\System32\\drivers\\etc\\hosts'), 'hosts');
  assert.is(nameOf('C:\\Users\\x\\evil.exe'), 'evil.exe');
  assert.is(nameOf('dir/sub/'), 'sub');
  assert.is(nameOf('a/../b.txt'), 'b.txt');
  const result = sanitizeFileName('../../etc/passwd');
  assert.ok(result.ok && result.changed);
});

test('names that are only dots or separators are refused', () => {
  for (const raw of ['..', '.', '...', '/', '\\', '../..', '../', ' ', '   .  ', '/..', 'a/..']) {
    assert.ok(refused(raw), JSON.stringify(raw));
  }
});

test('absolute paths and drive letters never survive as paths', () => {
  for (const raw of ['/abs/x.txt', 'C:x.txt', '\\\\server\\share\\x.txt', 'file:///etc/passwd']) {
    const name = nameOf(raw);
    assert.not.ok(name.includes('/') || name.includes('\\') || name.includes(':'), name);
    assert.not.ok(path.isAbsolute(name));
  }
  assert.is(nameOf('C:x.txt'), 'C_x.txt');
});

test('control, bidi and zero-width characters are removed', () => {
  assert.is(nameOf('evil\u001b[31mred.txt'), 'evil[31mred.txt');
  assert.is(nameOf('line\nbreak\r.txt'), 'linebreak.txt');
  assert.is(nameOf('nul\u0000byte.txt'), 'nulbyte.txt');
  assert.is(nameOf('del\u007f.txt'), 'del.txt');
  assert.is(nameOf('c1\u0085\u009b.txt'), 'c1.txt');
  // "gnp.exe" shown as "exe.png" by a right-to-left override
  assert.is(nameOf('invoice\u202egnp.exe'), 'invoicegnp.exe');
  assert.is(nameOf('zero\u200bwidth\ufeff.txt'), 'zerowidth.txt');
  assert.ok(refused('\u0000\u0001\u001b'));
});

test('characters Windows refuses become underscores', () => {
  assert.is(nameOf('a<b>c:d"e|f?g*h.txt'), 'a_b_c_d_e_f_g_h.txt');
});

test('leading dots and spaces, trailing dots and spaces go', () => {
  assert.is(nameOf('.bashrc'), 'bashrc');
  assert.is(nameOf('..hidden.txt'), 'hidden.txt');
  assert.is(nameOf('  spaced.txt  '), 'spaced.txt');
  assert.is(nameOf('trailing.txt...'), 'trailing.txt');
});

test('Windows device names get a prefix', () => {
  for (const raw of ['CON', 'con.txt', 'NUL', 'aux.tar.gz', 'COM1', 'lpt9.log', 'PRN']) {
    assert.is(nameOf(raw), `_${raw}`);
  }
  assert.is(nameOf('console.txt'), 'console.txt');
});

test('long names are shortened to the byte limit, keeping the extension and whole characters', () => {
  const long = `${'x'.repeat(300)}.pdf`;
  const name = nameOf(long);
  assert.ok(Buffer.byteLength(name) <= MAX_FILE_NAME_BYTES);
  assert.ok(name.endsWith('.pdf'));
  const wide = `${'日'.repeat(200)}.txt`; // 3 bytes each
  const cut = nameOf(wide);
  assert.ok(Buffer.byteLength(cut) <= MAX_FILE_NAME_BYTES);
  assert.ok(cut.endsWith('.txt'));
  assert.not.ok(cut.includes('\ufffd'));
  const emoji = '😀'.repeat(100); // 4 bytes each, no extension
  const emojiCut = nameOf(emoji);
  assert.ok(Buffer.byteLength(emojiCut) <= MAX_FILE_NAME_BYTES);
  assert.is(emojiCut, '😀'.repeat(MAX_FILE_NAME_BYTES / 4));
});

test('absurdly long input and non-strings are refused', () => {
  assert.ok(refused('a'.repeat(MAX_RAW_NAME_CHARS + 1)));
  assert.ok(refused(''));
  assert.ok(refused(null));
  assert.ok(refused(42));
  assert.ok(refused({ name: 'x' }));
  assert.ok(refused(['x']));
});

test('unpaired surrogates become replacement characters; names are NFC', () => {
  assert.is(nameOf('bad\ud800.txt'), 'bad\ufffd.txt');
  assert.is(nameOf('cafe\u0301.txt'), 'café.txt');
});

test('the sanitizer is idempotent', () => {
  for (const raw of ['../../etc/passwd', 'CON', `${'y'.repeat(400)}.bin`, ' .x. ', 'a<b>.txt', 'invoice\u202egnp.exe']) {
    const once = nameOf(raw);
    assert.is(nameOf(once), once);
    assert.equal(sanitizeFileName(once), { ok: true, name: once, changed: false });
  }
});

test('safeFileName throws E_PATH_REFUSED', () => {
  try {
    safeFileName('..');
    assert.unreachable();
  } catch (error) {
    assert.instance(error, ChatError);
    assert.is((error as ChatError).code, 'E_PATH_REFUSED');
  }
  assert.is(safeFileName('ok.txt'), 'ok.txt');
});

test('resolveInside keeps the file a direct child of the folder', () => {
  const folder = path.resolve('/tmp/inbox');
  assert.is(resolveInside(folder, 'a.txt'), path.join(folder, 'a.txt'));
  for (const bad of ['../a.txt', '/etc/passwd', 'sub/a.txt', '..', '', 'a\u0000b', '.hidden']) {
    try {
      resolveInside(folder, bad);
      assert.unreachable(bad);
    } catch (error) {
      assert.is((error as ChatError).code, 'E_PATH_REFUSED', bad);
    }
  }
});

test('alternativeNames counts up before the extension', () => {
  const names = [...alternativeNames('a.txt', 3)];
  assert.equal(names, ['a.txt', 'a (1).txt', 'a (2).txt', 'a (3).txt']);
  assert.equal([...alternativeNames('README', 1)], ['README', 'README (1)']);
  assert.equal([...alternativeNames('x.tar.gz', 1)], ['x.tar.gz', 'x.tar (1).gz']);
});

test.run();
