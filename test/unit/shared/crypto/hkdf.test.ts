import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { hkdf, hkdfExpand, hkdfExtract } from '../../../../shared/crypto/hkdf.js';

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const range = (from: number, to: number): Uint8Array => Uint8Array.from({ length: to - from + 1 }, (_, i) => from + i);

test.before(async () => {
  await sodium.ready;
});

// RFC 5869 Appendix A, test cases 1-3 (SHA-256).
test('RFC 5869 A.1: basic test case', () => {
  const ikm = new Uint8Array(22).fill(0x0b);
  const prk = hkdfExtract(range(0x00, 0x0c), ikm);
  assert.is(toHex(prk), '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
  const okm = hkdfExpand(prk, range(0xf0, 0xf9), 42);
  assert.is(toHex(okm), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
});

test('RFC 5869 A.2: longer inputs and outputs', () => {
  const okm = hkdf(range(0x60, 0xaf), range(0x00, 0x4f), range(0xb0, 0xff), 82);
  assert.is(toHex(okm), toHex(hex(`b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
    59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
    cc30c58179ec3e87c14c01d5c1f3434f1d87`)));
});

test('RFC 5869 A.3: zero-length salt and info', () => {
  const ikm = new Uint8Array(22).fill(0x0b);
  assert.is(toHex(hkdfExtract(new Uint8Array(0), ikm)), '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04');
  assert.is(toHex(hkdf(undefined, ikm, new Uint8Array(0), 42)),
    '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
});

test('output length bounds', () => {
  assert.throws(() => hkdfExpand(new Uint8Array(32), new Uint8Array(0), 255 * 32 + 1), RangeError);
  assert.is(hkdfExpand(new Uint8Array(32), new Uint8Array(0), 0).length, 0);
  assert.is(hkdfExpand(new Uint8Array(32), new Uint8Array(0), 255 * 32).length, 255 * 32);
});

test.run();
