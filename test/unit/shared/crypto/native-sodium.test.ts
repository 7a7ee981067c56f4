import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import * as native from '../../../../shared/crypto/native-sodium.js';

// The native module must give the bytes libsodium.js gives: the same constructions, another build.
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));

test.before(async () => {
  await sodium.ready;
});

test('X25519: the same shared secrets and public keys; a small-order point throws', () => {
  for (let i = 0; i < 5; i++) {
    const a = sodium.crypto_box_keypair();
    const b = sodium.crypto_box_keypair();
    assert.is(hex(native.scalarmultBase(a.privateKey)), hex(a.publicKey));
    assert.is(hex(native.scalarmult(a.privateKey, b.publicKey)), hex(sodium.crypto_scalarmult(a.privateKey, b.publicKey)));
  }
  // A view into a larger buffer reads the right bytes.
  const pair = sodium.crypto_box_keypair();
  const backing = new Uint8Array(80);
  backing.set(pair.publicKey, 17);
  const secret = fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  assert.is(hex(native.scalarmult(secret, backing.subarray(17, 49))), hex(sodium.crypto_scalarmult(secret, pair.publicKey)));
  // RFC 7748 §6.1: Alice's public key.
  assert.is(hex(native.scalarmultBase(secret)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.throws(() => native.scalarmult(secret, new Uint8Array(32)));
  assert.throws(() => native.scalarmult(secret, Uint8Array.from([1, ...new Uint8Array(31)])));
});

test('Ed25519: the same signatures; verification and the point check agree with libsodium.js', () => {
  const pair = sodium.crypto_sign_keypair();
  for (const length of [0, 1, 100, 1000]) {
    const message = sodium.randombytes_buf(length);
    const signature = native.signDetached(message, pair.privateKey);
    assert.is(hex(signature), hex(sodium.crypto_sign_detached(message, pair.privateKey)));
    assert.ok(native.verifyDetached(signature, message, pair.publicKey));
    const bad = Uint8Array.from(signature);
    bad[5] ^= 1;
    assert.not.ok(native.verifyDetached(bad, message, pair.publicKey));
    assert.not.ok(sodium.crypto_sign_verify_detached(bad, message, pair.publicKey));
  }
  assert.not.ok(native.verifyDetached(new Uint8Array(63), new Uint8Array(1), pair.publicKey));
  assert.ok(native.isValidEd25519Point(pair.publicKey));
  for (const point of [new Uint8Array(32), Uint8Array.from([1, ...new Uint8Array(31)]), new Uint8Array(32).fill(0xff)]) {
    assert.is(native.isValidEd25519Point(point), sodium.crypto_core_ed25519_is_valid_point(point));
  }
});

test('XChaCha20-Poly1305-IETF: the same ciphertext; tampering and short input refused', () => {
  const key = sodium.randombytes_buf(32);
  const nonce = sodium.randombytes_buf(24);
  for (const length of [0, 1, 256, 4096]) {
    const plaintext = sodium.randombytes_buf(length);
    const ad = sodium.randombytes_buf(length % 300);
    const sealed = native.aeadEncrypt(plaintext, ad, nonce, key);
    assert.is(hex(sealed), hex(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, null, nonce, key)));
    assert.is(hex(native.aeadDecrypt(sealed, ad, nonce, key)), hex(plaintext));
    const bad = Uint8Array.from(sealed);
    bad[bad.length - 1] ^= 1;
    assert.throws(() => native.aeadDecrypt(bad, ad, nonce, key));
  }
  assert.throws(() => native.aeadDecrypt(new Uint8Array(15), new Uint8Array(1), nonce, key));
});

test('pad equals sodium.pad; random bytes have the asked length', () => {
  for (const length of [0, 1, 255, 256, 257, 600]) {
    const data = sodium.randombytes_buf(length);
    assert.is(hex(native.pad(data, 256)), hex(sodium.pad(data, 256)));
  }
  assert.is(native.randomBytes(0).length, 0);
  assert.is(native.randomBytes(32).length, 32);
  assert.is.not(hex(native.randomBytes(32)), hex(native.randomBytes(32)));
});

test.run();
