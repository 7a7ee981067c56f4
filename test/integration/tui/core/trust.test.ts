import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { test as uvuTest } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from 'selfsigned';
import { ChatError } from '../../../../shared/errors.js';
import {
  KnownRelays,
  fingerprintOfDer,
  formatKnownRelayLine,
  normalizeFingerprint,
  parseKnownRelays,
  verifyRelay,
  type PeerCertificateFacts,
} from '../../../../tui/core/trust.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { errorOf } from '../../../helpers/errors.js';
import { makeTempDir } from '../../../helpers/temp.js';

/** uvu's test, with ChatErrors reported readably (see test/helpers/core-helpers.ts). */
const test = Object.assign((name: string, handler: () => unknown) => uvuTest(name, plainErrors(handler)), {
  before: uvuTest.before,
  after: uvuTest.after,
  run: uvuTest.run,
});

const HEX_A = 'a'.repeat(64);
const HEX_B = 'b'.repeat(64);
const derA = Buffer.from('certificate A');
const derB = Buffer.from('certificate B');
const fpA = fingerprintOfDer(derA);
const fpB = fingerprintOfDer(derB);

let dir = '';
test.before(async () => {
  dir = await makeTempDir('securechat-trust-');
});
test.after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function facts(der: Buffer, extra: Partial<PeerCertificateFacts> = {}): PeerCertificateFacts {
  return { server: '127.0.0.1:7443', der, authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT', ...extra };
}

let fileCount = 0;
function freshStore(): KnownRelays {
  fileCount += 1;
  return new KnownRelays(path.join(dir, `cfg${fileCount}`, 'known_relays'));
}

test('fingerprint = sha256: + lowercase hex of the DER, as X509Certificate.fingerprint256', async () => {
  const pems = await generate([{ name: 'commonName', value: 'relay' }], { keyType: 'ec', algorithm: 'sha256' });
  const x509 = new X509Certificate(pems.cert);
  assert.is(fingerprintOfDer(x509.raw), 'sha256:' + x509.fingerprint256.replace(/:/g, '').toLowerCase());
  assert.is(fpA, 'sha256:' + createHash('sha256').update(derA).digest('hex'));
});

test('fingerprints are normalized from the usual spellings', () => {
  assert.is(normalizeFingerprint('sha256:' + HEX_A), 'sha256:' + HEX_A);
  assert.is(normalizeFingerprint('SHA256:' + HEX_A.toUpperCase()), 'sha256:' + HEX_A);
  assert.is(normalizeFingerprint(HEX_A.match(/../g)!.join(':').toUpperCase()), 'sha256:' + HEX_A);
  assert.is(normalizeFingerprint('  ' + HEX_A + '\n'), 'sha256:' + HEX_A);
  for (const bad of ['', 'sha256:', 'sha256:' + HEX_A.slice(1), 'md5:' + HEX_A, 'sha256:' + 'g'.repeat(64)]) {
    assert.throws(() => normalizeFingerprint(bad), (e: ChatError) => e.code === 'E_USAGE', bad);
  }
});

test('the known-relays format: one "host:port sha256:hex" per line, comments and junk ignored, first wins', () => {
  const text = [
    '# securechat known relays',
    '',
    `chat.example.org:7443 sha256:${HEX_A}`,
    `[::1]:7443 sha256:${HEX_B}`,
    'broken line',
    `too:1 sha256:${HEX_A} extra`,
    `bad:2 sha256:${HEX_A.slice(2)}`,
    `chat.example.org:7443 sha256:${HEX_B}`,
    `  spaced:3   sha256:${HEX_B}  \r`,
  ].join('\n');
  const entries = parseKnownRelays(text);
  assert.equal([...entries.entries()], [
    ['chat.example.org:7443', 'sha256:' + HEX_A],
    ['[::1]:7443', 'sha256:' + HEX_B],
    ['spaced:3', 'sha256:' + HEX_B],
  ]);
  assert.is(formatKnownRelayLine('h:1', 'sha256:' + HEX_A), `h:1 sha256:${HEX_A}\n`);
  assert.equal(parseKnownRelays(formatKnownRelayLine('h:1', 'sha256:' + HEX_A)).get('h:1'), 'sha256:' + HEX_A);
});

test('KnownRelays records (0600 file in a 0700 folder), looks up, and refuses to overwrite', async () => {
  const store = freshStore();
  assert.is(await store.lookup('h:1'), undefined);
  await store.record('h:1', fpA);
  await store.record('h:1', fpA);
  await store.record('h:2', fpB);
  assert.is(await store.lookup('h:1'), fpA);
  assert.is(await fs.readFile(store.file, 'utf8'), `h:1 ${fpA}\nh:2 ${fpB}\n`);
  assert.is((await fs.stat(store.file)).mode & 0o777, 0o600);
  assert.is((await fs.stat(path.dirname(store.file))).mode & 0o777, 0o700);
  const changed = await errorOf(store.record('h:1', fpB));
  assert.is(changed.code, 'E_FINGERPRINT_CHANGED');
});

test('a pin must match exactly, whatever the CA says', async () => {
  const store = freshStore();
  assert.is((await verifyRelay(facts(derA), { fingerprint: fpA.toUpperCase().replace('SHA256', 'sha256') }, store)).basis, 'pin');
  const mismatch = await errorOf(verifyRelay(facts(derB, { authorized: true }), { fingerprint: fpA, tofu: true }, store));
  assert.is(mismatch.code, 'E_FINGERPRINT_MISMATCH');
  assert.equal(mismatch.details.expected, fpA);
  assert.equal(mismatch.details.actual, fpB);
  assert.is(await store.lookup('127.0.0.1:7443'), undefined, 'a pin never writes the file');
});

test('a CA-verified relay is trusted; with --ca given, only that', async () => {
  const store = freshStore();
  assert.is((await verifyRelay(facts(derA, { authorized: true }), {}, store)).basis, 'ca');
  const refused = await errorOf(verifyRelay(facts(derA), { ca: 'PEM', tofu: true }, store));
  assert.is(refused.code, 'E_UNTRUSTED');
});

test('trust on first use: new (recorded), same (known), changed (refused, both shown)', async () => {
  const store = freshStore();
  const first = await verifyRelay(facts(derA), { tofu: true }, store);
  assert.equal(first, { fingerprint: fpA, basis: 'tofu', recorded: true });
  assert.is(await store.lookup('127.0.0.1:7443'), fpA);
  // Once recorded, the relay is known even without --tofu (as SSH treats known_hosts).
  assert.equal(await verifyRelay(facts(derA), {}, store), { fingerprint: fpA, basis: 'known' });
  for (const trust of [{}, { tofu: true }]) {
    const changed = await errorOf(verifyRelay(facts(derB), trust, store));
    assert.is(changed.code, 'E_FINGERPRINT_CHANGED');
    assert.equal(changed.details.old, fpA);
    assert.equal(changed.details.new, fpB);
    assert.equal(changed.details.file, store.file);
    assert.ok(changed.message.includes(fpA) && changed.message.includes(fpB), 'the message shows both');
  }
  // Another port of the same host is another relay.
  assert.is((await verifyRelay(facts(derB, { server: '127.0.0.1:7444' }), { tofu: true }, store)).basis, 'tofu');
});

test('an unknown relay without --tofu is refused with its fingerprint and the way out', async () => {
  const store = freshStore();
  const refused = await errorOf(verifyRelay(facts(derA), {}, store));
  assert.is(refused.code, 'E_UNTRUSTED');
  assert.is(refused.details.fingerprint, fpA);
  assert.ok(refused.message.includes(fpA) && refused.message.includes('--tofu') && refused.message.includes('--fingerprint'));
  assert.is(await store.lookup('127.0.0.1:7443'), undefined);
});

test('confirmNew asks about a first sighting (the TUI prompt)', async () => {
  const store = freshStore();
  const asked: string[] = [];
  const no = await errorOf(verifyRelay(facts(derA), { confirmNew: (r) => (asked.push(r.fingerprint), false) }, store));
  assert.is(no.code, 'E_UNTRUSTED');
  const yes = await verifyRelay(facts(derA), { confirmNew: async (r) => (asked.push(r.fingerprint), true) }, store);
  assert.is(yes.basis, 'tofu');
  assert.equal(asked, [fpA, fpA]);
  await verifyRelay(facts(derA), { confirmNew: () => assert.unreachable('not asked twice') as never }, store);
});

test('an unwritable config folder does not stop the session; the decision says not recorded', async () => {
  const blocker = path.join(dir, 'not-a-folder');
  await fs.writeFile(blocker, 'x');
  const store = new KnownRelays(path.join(blocker, 'known_relays'));
  const decision = await verifyRelay(facts(derA), { tofu: true }, store);
  assert.equal(decision, { fingerprint: fpA, basis: 'tofu', recorded: false });
});

test.run();
