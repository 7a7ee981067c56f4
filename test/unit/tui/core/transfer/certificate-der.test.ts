import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derInteger, selfSignedCertificate } from '../../../../../tui/core/transfer/certificate-der.js';

const hex = (b: Buffer): string => b.toString('hex');

test('an INTEGER has DER\'s one encoding: no leading zero unless the top bit needs it', () => {
  assert.is(hex(derInteger(Buffer.from([2]))), '020102');
  assert.is(hex(derInteger(Buffer.from([0x80]))), '02020080');
  // A random serial may start with zero bytes: they go (OpenSSL refuses them, "illegal padding").
  assert.is(hex(derInteger(Buffer.from([0x00, 0x01, 0x02]))), '02020102');
  assert.is(hex(derInteger(Buffer.from([0x00, 0x00, 0x80]))), '02020080');
  assert.is(hex(derInteger(Buffer.from([0x00, 0x00]))), '020100');
});

test('the certificate parses and belongs to its key', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const now = Date.now();
  // Bounded: 64 certificates (~1 ms each), each with a fresh random serial.
  for (let i = 0; i < 64; i += 1) {
    const pem = selfSignedCertificate(privateKey, 'securechat transfer', new Date(now - 60_000), new Date(now + 60_000));
    const certificate = new X509Certificate(pem);
    assert.ok(certificate.checkPrivateKey(privateKey));
  }
});

test.run();
