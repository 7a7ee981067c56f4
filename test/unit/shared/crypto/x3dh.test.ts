import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { concatBytes, toBase64, utf8Bytes } from '../../../../shared/crypto/bytes.js';
import { hkdf } from '../../../../shared/crypto/hkdf.js';
import { generateIdentity, publicBundle } from '../../../../shared/crypto/identity.js';
import { generateKeyPair, keyPairFromSecret, signPrekey, verifyPrekeyBundle, verifySignedPrekey } from '../../../../shared/crypto/prekeys.js';
import { parseBody, Session } from '../../../../shared/crypto/session.js';
import { associatedData, partyOf, x3dhInitiate, x3dhRespond } from '../../../../shared/crypto/x3dh.js';
import { expectCode } from '../../../helpers/errors.js';
import { fixedBytes, TestDevice } from '../../../helpers/session-devices.js';

let alice: TestDevice;
let bob: TestDevice;

test.before.each(async () => {
  await sodium.ready;
  alice = await TestDevice.create('alice');
  bob = await TestDevice.create('bob');
});

const dh = (priv: Uint8Array, pub: Uint8Array) => sodium.crypto_scalarmult(priv, pub);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('X3DH §3.3/§3.4 with fixed keys: both sides compute the same SK as the spec formula, and the same AD', async () => {
  const bundle = await verifyPrekeyBundle('bob', await bob.bundle());
  const ek = keyPairFromSecret(fixedBytes('alice/ek'));
  const sent = await x3dhInitiate(alice.me, bundle, ek);
  // The spec's formula written out: KDF(DH1 || DH2 || DH3 || DH4) with F = 0xFF * 32, zero salt.
  const opk = bob.oneTime.get(bundle.oneTimePrekeyId as number)!;
  const spk = bob.signed.get(1)!;
  const km = concatBytes(
    dh(alice.me.identity.boxSecretKey, spk.publicKey),
    dh(ek.privateKey, bob.me.identity.boxPublicKey),
    dh(ek.privateKey, spk.publicKey),
    dh(ek.privateKey, opk.publicKey),
  );
  const expected = hkdf(new Uint8Array(32), concatBytes(new Uint8Array(32).fill(0xff), km), utf8Bytes('securechat/v2/x3dh'), 32);
  assert.is(hex(sent.sk), hex(expected));
  const received = await x3dhRespond(bob.me, bob, { user: 'alice', device: 'd1' }, sent.prefix);
  assert.is(hex(received.sk), hex(sent.sk));
  assert.is(hex(received.ad), hex(sent.ad));
  assert.is(hex(received.signedPrekey.publicKey), hex(spk.publicKey));
  // Fixed keys give a fixed SK: a change to the KDF, F, salt or info shows here.
  assert.is(hex(sent.sk), hex((await x3dhInitiate(alice.me, bundle, ek)).sk));
});

test('without a one-time prekey: three DHs, both sides agree', async () => {
  const bundle = await verifyPrekeyBundle('bob', await bob.bundle({ oneTime: false }));
  assert.is(bundle.oneTimePrekeyId, undefined);
  const sent = await x3dhInitiate(alice.me, bundle);
  assert.is(sent.prefix.oneTimePrekeyId, undefined);
  const received = await x3dhRespond(bob.me, bob, { user: 'alice', device: 'd1' }, sent.prefix);
  assert.is(hex(received.sk), hex(sent.sk));
});

test('AD binds both users, devices and identity keys (case-insensitive names)', async () => {
  const a = partyOf(alice.me);
  const b = partyOf(bob.me);
  const base = hex(associatedData(a, b));
  assert.is.not(base, hex(associatedData(b, a)));
  assert.is.not(base, hex(associatedData({ ...a, device: 'd2' }, b)));
  assert.is.not(base, hex(associatedData(a, { ...b, user: 'carol' })));
  assert.is.not(base, hex(associatedData(a, { ...b, sign: alice.me.identity.signPublicKey })));
  assert.is(base, hex(associatedData({ ...a, user: 'ALICE' }, b)));
});

test('a signed prekey the device did not sign is refused before any DH (detected by Alice)', async () => {
  const good = await bob.bundle();
  const mallory = await generateIdentity();
  const relayKey = generateKeyPair();
  // The relay's own key, signed by nobody / by its own identity / by Bob for another device.
  const forged = { ...good, signedPrekey: { ...good.signedPrekey, key: toBase64(relayKey.publicKey) } };
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', forged));
  const signedByMallory = await signPrekey(mallory, 'bob', 'd1', 1, relayKey.publicKey);
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, signedPrekey: signedByMallory }));
  const otherDevice = await signPrekey(bob.me.identity, 'bob', 'd2', 1, bob.signed.get(1)!.publicKey);
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, signedPrekey: otherDevice }));
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, signedPrekey: { ...good.signedPrekey, id: 2 } }));
  // Bob's real bundle served as Carol's: the identity signature names Bob.
  await expectCode('E_BAD_KEYS', () => verifyPrekeyBundle('carol', good));
  // A whole bundle made by the relay for Bob's name passes here: that is what pins catch (below).
  const relayBundle = { ...good, keys: await publicBundle(mallory, 'bob'), signedPrekey: signedByMallory };
  await verifyPrekeyBundle('bob', relayBundle);
});

test('malformed bundles and weak keys are refused', async () => {
  const good = await bob.bundle();
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, extra: 1 }));
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, device: 'no spaces' }));
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, oneTime: { id: 1, key: toBase64(new Uint8Array(32)) } }));
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...good, oneTime: { id: -1, key: good.oneTime!.key } }));
  const weakSpk = await signPrekey(bob.me.identity, 'bob', 'd1', 1, new Uint8Array(32));
  await expectCode('E_BAD_PREKEY', () => verifySignedPrekey(bob.me.identity.signPublicKey, 'bob', 'd1', weakSpk));
});

test('a one-time prekey substituted by the relay: Bob refuses the first message, nothing decrypts (detected, harmless)', async () => {
  const good = await bob.bundle();
  const relayOpk = generateKeyPair();
  // Same id, the relay's key: Bob computes DH4 with his real key, so SK differs and the AEAD fails.
  const sameId = { ...good, oneTime: { id: good.oneTime!.id, key: toBase64(relayOpk.publicKey) } };
  await alice.startSession(bob, sameId);
  const body = await alice.send(bob, 'secret');
  const error = await expectCode('E_DECRYPT', () => bob.receive('alice', body));
  assert.is(error.details.reason, 'authentication');
  assert.ok(bob.oneTime.has(good.oneTime!.id), 'a failed first message does not use up the prekey (X3DH §3.4)');
  assert.is(bob.sessions.size, 0);
  // An id Bob never issued: refused before any DH.
  const unknownId = { ...good, oneTime: { id: 999_999, key: toBase64(relayOpk.publicKey) } };
  await alice.startSession(bob, unknownId);
  const error2 = await expectCode('E_DECRYPT', async () => bob.receive('alice', await alice.send(bob, 'secret')));
  assert.is(error2.details.reason, 'unknown-prekey');
});

test('a one-time prekey handed out twice: the second session is refused by Bob (detected)', async () => {
  const bundle = await bob.bundle();
  const carol = await TestDevice.create('carol');
  await alice.startSession(bob, bundle);
  await carol.startSession(bob, bundle);
  assert.is(await bob.receive('alice', await alice.send(bob, 'first')), 'first');
  assert.not.ok(bob.oneTime.has(bundle.oneTime!.id), 'the private one-time prekey is deleted after use');
  const error = await expectCode('E_DECRYPT', async () => bob.receive('carol', await carol.send(bob, 'second')));
  assert.is(error.details.reason, 'unknown-prekey');
});

test('a replayed initial message is refused: with a one-time prekey (deleted) and without (seen EK, X3DH §4.2)', async () => {
  const withOpk = await alice.send(bob, 'hello');
  assert.is(await bob.receive('alice', withOpk), 'hello');
  await expectCode('E_REPLAY', () => bob.receive('alice', withOpk)); // same session: its key is gone
  bob.sessions.clear();
  await expectCode('E_REPLAY', () => bob.receive('alice', withOpk)); // new X3DH from a seen EK
  bob.seenEphemerals.clear(); // even without that record, the one-time prekey is gone
  const error = await expectCode('E_DECRYPT', () => bob.receive('alice', withOpk));
  assert.is(error.details.reason, 'unknown-prekey');

  const carol = await TestDevice.create('carol');
  await carol.startSession(bob, await bob.bundle({ oneTime: false }));
  const noOpk = await carol.send(bob, 'hi');
  assert.is(await bob.receive('carol', noOpk), 'hi');
  await expectCode('E_REPLAY', () => bob.receive('carol', noOpk)); // same session: its key is gone
  bob.sessions.clear();
  await expectCode('E_REPLAY', () => bob.receive('carol', noOpk)); // new X3DH from a seen EK
});

test('an initial message from identity keys Bob does not trust for that device is refused (E_KEY_CHANGED)', async () => {
  bob.pins.set('alice/d1', toBase64(alice.me.identity.signPublicKey) + toBase64(alice.me.identity.boxPublicKey));
  // Mallory's device claims to be alice/d1.
  const fake = await TestDevice.create('mallory');
  await fake.startSession(bob);
  const body = await fake.send(bob, 'trust me');
  await expectCode('E_KEY_CHANGED', () => bob.receive('alice', body));
});

test('a signed prekey Bob has deleted (rotated out) is refused', async () => {
  await alice.startSession(bob);
  bob.signed.delete(1);
  const error = await expectCode('E_DECRYPT', async () => bob.receive('alice', await alice.send(bob, 'late')));
  assert.is(error.details.reason, 'unknown-prekey');
});

test('a body addressed to another device is refused; so is a prefix with its identity swapped', async () => {
  const body = await alice.send(bob, 'hi');
  const parsed = parseBody(body);
  const bob2 = await TestDevice.create('bob', 'd2');
  await expectCode('E_MISADDRESSED', () => Session.accept(bob2.me, bob2, 'alice', parsed, { trusted: () => true, seenEphemeral: () => false }));
  const carol = await TestDevice.create('carol');
  const swapped = { ...parsed, prefix: { ...parsed.prefix!, sign: carol.me.identity.signPublicKey, box: carol.me.identity.boxPublicKey } };
  await expectCode('E_DECRYPT', () => Session.accept(bob.me, bob, 'alice', swapped, { trusted: () => true, seenEphemeral: () => false }));
  // The relay naming another sender: AD has the sender's name, so it does not authenticate.
  await expectCode('E_DECRYPT', () => bob.receive('carol', body));
  assert.is(await bob.receive('alice', body), 'hi');
});

test.run();
