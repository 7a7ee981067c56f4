import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import {
  createLoginChallenge, generateIdentity, identityFromSecrets, LOGIN_CHALLENGE_BYTES, publicBundle,
  sameKeys, signLoginChallenge, verifyLoginChallenge, verifyPublicBundle, type Identity, type PublicKeyBundle,
} from '../../../../shared/crypto/identity.js';
import { fromBase64Strict, toBase64 } from '../../../../shared/crypto/bytes.js';
import { expectCode } from '../../../helpers/errors.js';


/** Same keys, one base64 letter changed so that the unused low bits are set (non-canonical). */
function nonCanonical(b64: string): string {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const index = b64.indexOf('=') - 1;
  const value = letters.indexOf(b64[index]);
  return b64.slice(0, index) + letters[value ^ 1] + b64.slice(index + 1);
}

let alice: Identity;
let bob: Identity;
let aliceBundle: PublicKeyBundle;

test.before(async () => {
  await sodium.ready;
  alice = await generateIdentity();
  bob = await generateIdentity();
  aliceBundle = await publicBundle(alice, 'alice');
});

test('generateIdentity makes key pairs of the right sizes, fresh each time', async () => {
  assert.is(alice.signPublicKey.length, 32);
  assert.is(alice.signSecretKey.length, 64);
  assert.is(alice.boxPublicKey.length, 32);
  assert.is(alice.boxSecretKey.length, 32);
  assert.not.equal(toBase64(alice.signPublicKey), toBase64(bob.signPublicKey));
  assert.not.equal(toBase64(alice.boxPublicKey), toBase64(bob.boxPublicKey));
  assert.equal(sodium.crypto_scalarmult_base(alice.boxSecretKey), alice.boxPublicKey);
});

test('identityFromSecrets rebuilds the public keys and refuses inconsistent secrets', async () => {
  const rebuilt = await identityFromSecrets(alice.signSecretKey, alice.boxSecretKey);
  assert.equal(rebuilt.signPublicKey, alice.signPublicKey);
  assert.equal(rebuilt.boxPublicKey, alice.boxPublicKey);
  const damaged = Uint8Array.from(alice.signSecretKey);
  damaged[40] ^= 1; // the embedded public key half no longer matches the seed
  await expectCode('E_BAD_KEYS', () => identityFromSecrets(damaged, alice.boxSecretKey));
  await expectCode('E_BAD_KEYS', () => identityFromSecrets(alice.signSecretKey.subarray(0, 32), alice.boxSecretKey));
  await expectCode('E_BAD_KEYS', () => identityFromSecrets(alice.signSecretKey, new Uint8Array(31)));
});

test('publicBundle has the documented shape and verifies', async () => {
  assert.equal(Object.keys(aliceBundle).sort(), ['box', 'sig', 'sign', 'v']);
  assert.is(aliceBundle.v, 1);
  assert.is(aliceBundle.sign.length, 44);
  assert.is(aliceBundle.box.length, 44);
  assert.is(aliceBundle.sig.length, 88);
  const verified = await verifyPublicBundle('alice', aliceBundle);
  assert.equal(verified.sign, alice.signPublicKey);
  assert.equal(verified.box, alice.boxPublicKey);
  assert.equal(verified.bundle, aliceBundle);
});

test('version 2 (a client that publishes prekeys): the same keys signed under its own context; the version cannot be changed without the signature', async () => {
  const v2 = await publicBundle(alice, 'alice', 2);
  assert.is(v2.v, 2);
  assert.equal([v2.sign, v2.box], [aliceBundle.sign, aliceBundle.box]);
  assert.is.not(v2.sig, aliceBundle.sig);
  assert.equal((await verifyPublicBundle('alice', v2)).bundle, v2);
  // A relay turning a version 2 bundle into version 1 (to make contacts use the v1 envelope), or the reverse:
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...v2, v: 1 }));
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, v: 2 }));
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...v2, v: 3 }));
});

test('bundle names compare without regard to case', async () => {
  const mixed = await publicBundle(alice, 'Alice');
  assert.equal(mixed, aliceBundle); // Ed25519 is deterministic and the name is signed as its nameKey
  await verifyPublicBundle('ALICE', aliceBundle);
});

test('a bundle verified before is answered from memory: the same keys, copies the caller may change, still refused for another name', async () => {
  const first = await verifyPublicBundle('alice', aliceBundle);
  first.sign.fill(0);
  first.box.fill(0);
  (first.bundle as { sig: string }).sig = 'changed by the caller';
  const again = await verifyPublicBundle('alice', aliceBundle);
  assert.equal(again.sign, alice.signPublicKey);
  assert.equal(again.box, alice.boxPublicKey);
  assert.equal(again.bundle, aliceBundle);
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('mallory', aliceBundle));
  const sig = fromBase64Strict(aliceBundle.sig)!;
  sig[0] ^= 1;
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, sig: toBase64(sig) }));
});

test('publicBundle refuses an invalid name', async () => {
  await expectCode('E_BAD_NAME', () => publicBundle(alice, 'no spaces'));
  await expectCode('E_BAD_NAME', () => publicBundle(alice, ''));
});

test('a bundle signed for another user name is refused', async () => {
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('mallory', aliceBundle));
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice2', aliceBundle));
});

test('a swapped box key is refused (the relay cannot substitute an encryption key)', async () => {
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, box: toBase64(bob.boxPublicKey) }));
});

test('a swapped signing key is refused, and a whole bundle of someone else too', async () => {
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, sign: toBase64(bob.signPublicKey) }));
  const bobBundle = await publicBundle(bob, 'bob');
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', bobBundle));
  // A bundle with mallory's keys re-signed by mallory for alice's name is valid by itself: that
  // is what pinning (key-pins) and safety numbers are for.
  const mallory = await generateIdentity();
  await verifyPublicBundle('alice', await publicBundle(mallory, 'alice'));
});

test('every flipped bit of the signature is refused', async () => {
  const sig = fromBase64Strict(aliceBundle.sig)!;
  for (let i = 0; i < sig.length; i++) {
    const bad = Uint8Array.from(sig);
    bad[i] ^= 1 << (i % 8);
    await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, sig: toBase64(bad) }));
  }
});

test('malformed bundles from the network are refused with E_BAD_KEYS', async () => {
  const bad: unknown[] = [
    null, undefined, 'string', 42, [], {},
    { ...aliceBundle, v: 2 },
    { ...aliceBundle, v: '1' },
    { ...aliceBundle, extra: 1 },
    { v: 1, sign: aliceBundle.sign, box: aliceBundle.box },
    { ...aliceBundle, sign: 42 },
    { ...aliceBundle, box: aliceBundle.box.slice(0, 43) },
    { ...aliceBundle, sig: aliceBundle.sig + 'AAAA' },
    { ...aliceBundle, box: ' ' + aliceBundle.box.slice(1) },
    { ...aliceBundle, box: aliceBundle.box.replace(/=$/, 'A') },
    { ...aliceBundle, box: nonCanonical(aliceBundle.box) },
    { ...aliceBundle, sign: nonCanonical(aliceBundle.sign) },
    { ...aliceBundle, sig: aliceBundle.sig.replace(/\+/g, '-').replace(/\//g, '_') }, // URL-safe alphabet
    { ...aliceBundle, box: toBase64(new Uint8Array(33)).slice(0, 44) },
  ];
  for (const bundle of bad) {
    // the URL-safe variant only differs if the signature has + or /; skip it when it does not
    if (bundle && typeof bundle === 'object' && JSON.stringify(bundle) === JSON.stringify(aliceBundle)) continue;
    await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', bundle));
  }
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('bad name', aliceBundle));
});

test('weak keys are refused even with a valid signature', async () => {
  // A small-order X25519 key would make every shared secret zero: refused before the signature.
  const smallOrderBox = { ...alice, boxPublicKey: new Uint8Array(32) };
  const weakBox = await publicBundle(smallOrderBox, 'alice');
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', weakBox));
  const one = new Uint8Array(32);
  one[0] = 1;
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, box: toBase64(one) }));
  // The Ed25519 identity point (small order) as signing key.
  await expectCode('E_BAD_KEYS', () => verifyPublicBundle('alice', { ...aliceBundle, sign: toBase64(one) }));
});

test('sameKeys compares both keys, not the signature', async () => {
  const again = await publicBundle(alice, 'alice');
  assert.ok(sameKeys(aliceBundle, again));
  assert.ok(sameKeys(aliceBundle, { ...aliceBundle, sig: 'x' }));
  assert.not.ok(sameKeys(aliceBundle, { ...aliceBundle, box: toBase64(bob.boxPublicKey) }));
  assert.not.ok(sameKeys(aliceBundle, { ...aliceBundle, sign: toBase64(bob.signPublicKey) }));
});

test('createLoginChallenge gives fresh random challenges', async () => {
  const a = await createLoginChallenge();
  const b = await createLoginChallenge();
  assert.is(a.length, LOGIN_CHALLENGE_BYTES);
  assert.not.equal(a, b);
});

test('a login proof verifies for its bundle, user and challenge only', async () => {
  const challenge = await createLoginChallenge();
  const proof = await signLoginChallenge(alice, 'alice', challenge);
  assert.is(typeof proof, 'string');
  assert.is(fromBase64Strict(proof)!.length, 64);
  assert.ok(await verifyLoginChallenge(aliceBundle, 'alice', challenge, proof));
  assert.ok(await verifyLoginChallenge(aliceBundle, 'ALICE', challenge, proof));

  const other = await createLoginChallenge();
  assert.not.ok(await verifyLoginChallenge(aliceBundle, 'alice', other, proof), 'another challenge');
  const bobBundle = await publicBundle(bob, 'bob');
  assert.not.ok(await verifyLoginChallenge(bobBundle, 'bob', challenge, proof), 'another key');
  const forBob = await signLoginChallenge(alice, 'bob', challenge);
  assert.not.ok(await verifyLoginChallenge(aliceBundle, 'alice', challenge, forBob), 'signed for another name');
  assert.not.ok(await verifyLoginChallenge(aliceBundle, 'bob', challenge, proof), 'bundle not for that name');
});

test('login proofs and bundle signatures are domain separated', async () => {
  // The bundle signature is an Ed25519 signature by the same key; it must not pass as a proof
  // for any challenge, in particular one made of the bundle's own keys.
  const challenge = new Uint8Array([...alice.signPublicKey, ...alice.boxPublicKey]);
  assert.not.ok(await verifyLoginChallenge(aliceBundle, 'alice', challenge, aliceBundle.sig));
});

test('verifyLoginChallenge returns false on garbage, never throws', async () => {
  const challenge = await createLoginChallenge();
  const proof = await signLoginChallenge(alice, 'alice', challenge);
  const bytes = fromBase64Strict(proof)!;
  bytes[10] ^= 4;
  const cases: Array<[unknown, string, Uint8Array, unknown]> = [
    [aliceBundle, 'alice', challenge, toBase64(bytes)],
    [aliceBundle, 'alice', challenge, proof.slice(0, 40)],
    [aliceBundle, 'alice', challenge, 42],
    [aliceBundle, 'alice', challenge, null],
    [aliceBundle, 'alice', challenge, nonCanonical(proof)],
    [aliceBundle, 'alice', challenge.subarray(0, 8), proof],
    [{ ...aliceBundle, box: toBase64(bob.boxPublicKey) }, 'alice', challenge, proof],
    [null, 'alice', challenge, proof],
    [aliceBundle, 'not valid', challenge, proof],
  ];
  for (const [bundle, user, ch, sig] of cases) {
    assert.is(await verifyLoginChallenge(bundle, user, ch, sig), false);
  }
});

test('signLoginChallenge refuses a challenge that is too short or too long', async () => {
  await expectCode('E_USAGE', () => signLoginChallenge(alice, 'alice', new Uint8Array(15)));
  await expectCode('E_USAGE', () => signLoginChallenge(alice, 'alice', new Uint8Array(1025)));
  await signLoginChallenge(alice, 'alice', new Uint8Array(16));
  await expectCode('E_BAD_NAME', () => signLoginChallenge(alice, 'a b', new Uint8Array(32)));
});

test('strict base64: only the canonical padded spelling decodes', () => {
  assert.equal(fromBase64Strict('YWJj'), new Uint8Array([97, 98, 99]));
  assert.equal(fromBase64Strict(''), new Uint8Array(0));
  for (const bad of ['YWJ', 'YWJj\n', ' YWJj', 'YW=j', 'YWI', 'YWJ=', 'YR==', 'YWJj====', 'YW-_', 'YWJjZA', 42, null]) {
    assert.is(fromBase64Strict(bad), undefined, String(bad));
  }
  assert.equal(fromBase64Strict('YQ=='), new Uint8Array([97]));
  assert.is(fromBase64Strict('YQ==', 2), undefined);
});

test.run();
