import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { generateIdentity, publicBundle, type Identity, type PublicKeyBundle } from '../../../../shared/crypto/identity.js';
import { keyFingerprint, safetyNumber } from '../../../../shared/crypto/safety-number.js';
import { toBase64 } from '../../../../shared/crypto/bytes.js';
import { expectCode } from '../../../helpers/errors.js';


/** A fixed identity from a one-byte seed, for known-answer checks. */
function seededIdentity(seedByte: number): Identity {
  const sign = sodium.crypto_sign_seed_keypair(new Uint8Array(32).fill(seedByte));
  const box = sodium.crypto_box_seed_keypair(new Uint8Array(32).fill(seedByte + 100));
  return { signPublicKey: sign.publicKey, signSecretKey: sign.privateKey, boxPublicKey: box.publicKey, boxSecretKey: box.privateKey };
}

const FORMAT = /^\d{5}( \d{5}){11}$/;

let alice: Identity;
let bob: Identity;
let aliceBundle: PublicKeyBundle;
let bobBundle: PublicKeyBundle;

test.before(async () => {
  await sodium.ready;
  alice = await generateIdentity();
  bob = await generateIdentity();
  aliceBundle = await publicBundle(alice, 'alice');
  bobBundle = await publicBundle(bob, 'bob');
});

test('the safety number is 12 groups of 5 digits, the same from both sides', async () => {
  const fromAlice = await safetyNumber('alice', aliceBundle, 'bob', bobBundle);
  const fromBob = await safetyNumber('bob', bobBundle, 'alice', aliceBundle);
  assert.match(fromAlice, FORMAT);
  assert.is(fromAlice, fromBob);
  assert.is(await safetyNumber('Alice', aliceBundle, 'BOB', bobBundle), fromAlice, 'names compare without case');
});

// Known answers, cross-checked with Python's hashlib.blake2b over the same bytes.
test('known answer (catches accidental format changes)', async () => {
  const a = seededIdentity(1);
  const b = seededIdentity(2);
  const number = await safetyNumber('alice', await publicBundle(a, 'alice'), 'bob', await publicBundle(b, 'bob'));
  assert.is(number, '52749 00583 07366 15115 47175 03643 99813 78442 02713 37320 59088 61740');
  assert.is(await keyFingerprint(await publicBundle(a, 'alice')), '35e3 c983 646a c554');
});

test('each user owns one half, ordered by name', async () => {
  const base = (await safetyNumber('alice', aliceBundle, 'bob', bobBundle)).split(' ');
  const carol = await generateIdentity();
  const changedBob = (await safetyNumber('alice', aliceBundle, 'bob', await publicBundle(carol, 'bob'))).split(' ');
  assert.equal(changedBob.slice(0, 6), base.slice(0, 6), "alice's half is unchanged");
  assert.not.equal(changedBob.slice(6), base.slice(6), "bob's half changed");
});

test('the number changes when any key or name changes', async () => {
  const base = await safetyNumber('alice', aliceBundle, 'bob', bobBundle);
  const other = await generateIdentity();
  const newSign: Identity = { ...alice, signPublicKey: other.signPublicKey, signSecretKey: other.signSecretKey };
  const newBox: Identity = { ...alice, boxPublicKey: other.boxPublicKey, boxSecretKey: other.boxSecretKey };
  const variants = [
    await safetyNumber('alice', await publicBundle(newSign, 'alice'), 'bob', bobBundle),
    await safetyNumber('alice', await publicBundle(newBox, 'alice'), 'bob', bobBundle),
    await safetyNumber('alice', aliceBundle, 'bob', await publicBundle({ ...bob, signPublicKey: other.signPublicKey, signSecretKey: other.signSecretKey }, 'bob')),
    await safetyNumber('alice', aliceBundle, 'bob', await publicBundle({ ...bob, boxPublicKey: other.boxPublicKey, boxSecretKey: other.boxSecretKey }, 'bob')),
    await safetyNumber('alice', aliceBundle, 'bobby', await publicBundle(bob, 'bobby')),
    // Both keys swapped between the two users.
    await safetyNumber('alice', await publicBundle(bob, 'alice'), 'bob', await publicBundle(alice, 'bob')),
  ];
  for (const variant of variants) {
    assert.match(variant, FORMAT);
    assert.is.not(variant, base);
  }
  assert.is(new Set(variants).size, variants.length);
});

test('bad bundles and one user twice are refused', async () => {
  await expectCode('E_BAD_KEYS', () => safetyNumber('alice', { ...aliceBundle, box: toBase64(bob.boxPublicKey) }, 'bob', bobBundle));
  await expectCode('E_BAD_KEYS', () => safetyNumber('alice', bobBundle, 'bob', bobBundle));
  await expectCode('E_BAD_KEYS', () => safetyNumber('alice', aliceBundle, 'bob', { v: 1 } as PublicKeyBundle));
  await expectCode('E_SELF', () => safetyNumber('alice', aliceBundle, 'ALICE', aliceBundle));
});

test('keyFingerprint: 16 hex digits in groups of 4, stable, distinct per key', async () => {
  const a = await keyFingerprint(aliceBundle);
  assert.match(a, /^[0-9a-f]{4}( [0-9a-f]{4}){3}$/);
  assert.is(await keyFingerprint(await publicBundle(alice, 'someone-else')), a, 'depends on the keys only');
  assert.is.not(await keyFingerprint(bobBundle), a);
  assert.is.not(await keyFingerprint({ sign: aliceBundle.sign, box: bobBundle.box }), a);
  assert.is.not(await keyFingerprint({ sign: bobBundle.sign, box: aliceBundle.box }), a);
  await expectCode('E_BAD_KEYS', () => keyFingerprint({ sign: 'x', box: aliceBundle.box }));
  await expectCode('E_BAD_KEYS', () => keyFingerprint({ sign: aliceBundle.sign, box: aliceBundle.sig }));
});

test.run();
