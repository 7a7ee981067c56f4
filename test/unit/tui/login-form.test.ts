import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkLoginValues } from '../../../tui/app.js';
import { LoginForm, type KeyInfo } from '../../../tui/view/login-form.js';
import { unstyle } from '../../../tui/view/style.js';
import { textWidth } from '../../../tui/view/text-width.js';
import { fingerprintRows, refusalFacts, refusalRows, trustPromptRows } from '../../../tui/view/trust-view.js';

const key = (full: string): KeyInfo => ({ name: full, full });

function type(form: LoginForm, text: string): void {
  for (const ch of text) form.key(ch, { name: ch === ' ' ? 'space' : ch, full: ch === ' ' ? 'space' : ch });
}

test('focus starts at the first empty field; Tab and arrows move; Space ticks register', () => {
  const form = new LoginForm({ server: 'localhost:7443' });
  assert.is(form.focus, 'user');
  type(form, 'alice');
  form.key('\t', key('tab'));
  assert.is(form.focus, 'password');
  type(form, 'pw d');
  form.key(undefined, key('down'));
  assert.is(form.focus, 'register');
  form.key(' ', key('space'));
  assert.ok(form.register);
  form.key(undefined, key('S-tab'));
  form.key(undefined, key('up'));
  assert.is(form.focus, 'user');
  assert.equal(form.values, { server: 'localhost:7443', user: 'alice', password: 'pw d', register: true });
});

test('Enter submits a complete form, or sends the focus to the first empty field', () => {
  const form = new LoginForm({ server: 'localhost:7443', user: 'bob' });
  assert.is(form.key('\r', key('enter')), null);
  assert.is(form.focus, 'password');
  assert.ok(form.message?.includes('password'));
  type(form, 'secret-pass');
  assert.is(form.key('\r', key('enter')), 'submit');
  assert.is(form.key(undefined, key('C-c')), 'quit');
  form.busy = 'connecting…';
  type(form, 'ignored');
  assert.is(form.values.password, 'secret-pass', 'keys are ignored while connecting');
});

test('the password is masked; the form fits the page', () => {
  const form = new LoginForm({ server: 'localhost:7443', user: 'carol', password: 'hunter2-hunter2' });
  for (const [width, height] of [[80, 24], [40, 12], [120, 40]]) {
    const rows = form.render(width, height, ['a banner line that is long enough to need wrapping on a narrow page']).map(unstyle);
    assert.ok(rows.length <= height);
    for (const row of rows) assert.ok(textWidth(row) <= width, `${width}: ${JSON.stringify(row)}`);
    const text = rows.join('\n');
    assert.not.ok(text.includes('hunter2'));
    assert.ok(text.includes('*'.repeat(15)));
    assert.ok(text.includes('carol'));
  }
});

test('checkLoginValues: server address, user name and password are checked before dialling', () => {
  assert.is(checkLoginValues({ server: 'localhost:7443', user: 'alice', password: 'x', register: false }), undefined);
  assert.ok(checkLoginValues({ server: 'localhost:99999', user: 'alice', password: 'x', register: false }));
  assert.ok(checkLoginValues({ server: 'localhost', user: 'bad name', password: 'x', register: false }));
  assert.ok(checkLoginValues({ server: 'localhost', user: 'alice', password: '', register: false }));
});

test('trust pages: fingerprint in groups, both fingerprints on a refusal, network text sanitized', () => {
  const fp = 'sha256:' + '0123456789abcdef'.repeat(4);
  assert.equal(fingerprintRows(fp), ['0123 4567 89ab cdef 0123 4567 89ab cdef', '0123 4567 89ab cdef 0123 4567 89ab cdef']);
  const prompt = trustPromptRows('relay.example:7443', fp, 80, 24).map(unstyle).join('\n');
  assert.ok(prompt.includes('relay.example:7443') && prompt.includes('[y] yes') && prompt.includes('0123 4567'));
  const facts = refusalFacts('E_FINGERPRINT_CHANGED', { server: 'r:1\x1b[2J', old: 'sha256:' + 'aa'.repeat(32), new: fp, file: '/home/x/known_relays' });
  assert.is(facts.server, 'r:1');
  const refusal = refusalRows(facts, 80, 30).map(unstyle).join('\n');
  assert.ok(refusal.includes('aaaa aaaa') && refusal.includes('0123 4567') && refusal.includes('/home/x/known_relays'));
  const mismatch = refusalFacts('E_FINGERPRINT_MISMATCH', { server: 'r:1', expected: 'sha256:' + 'bb'.repeat(32), actual: fp });
  assert.equal([mismatch.old?.slice(0, 9), mismatch.new], ['sha256:bb', fp]);
  assert.ok(refusalRows(mismatch, 80, 30).map(unstyle).join('\n').includes('PINNED'));
});

test('a proxy set by --proxy is shown under the server (without its password), read-only, and the form still fits', () => {
  const form = new LoginForm({ server: 'chat.example.org:7443', user: 'erin', password: 'pw' });
  form.proxy = 'socks5h://tor@127.0.0.1:9050';
  for (const [width, height] of [[80, 24], [40, 12]]) {
    const rows = form.render(width, height).map(unstyle);
    for (const row of rows) assert.ok(textWidth(row) <= width, `${width}: ${JSON.stringify(row)}`);
    const at = rows.findIndex((row) => row.includes('Proxy'));
    assert.ok(at > 0 && rows[at - 1].includes('Server'), rows.join('\n'));
  }
  assert.ok(form.render(80, 24).map(unstyle).some((row) => row.includes('socks5h://tor@127.0.0.1:9050')));
  form.key(undefined, key('up'));
  assert.is(form.focus, 'register', 'the proxy line takes no focus');
});

test.run();
