import { X509Certificate, createHash } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../helpers/errors.js';
import { ChatError } from '../../../shared/errors.js';
import { CERT_FILE_NAME, KEY_FILE_NAME, fingerprintOfPem, loadCertificateFiles, loadOrCreateCertificate } from '../../../relay/certs.js';
import { tempFolders } from '../../helpers/temp.js';

const FINGERPRINT = /^sha256:[0-9a-f]{64}$/;
// DER of the signature algorithm OIDs: ecdsa-with-SHA256 (1.2.840.10045.4.3.2) and ecdsa-with-SHA1 (1.2.840.10045.4.1).
const ECDSA_SHA256_OID = Buffer.from('06082a8648ce3d040302', 'hex');
const ECDSA_SHA1_OID = Buffer.from('06072a8648ce3d0401', 'hex');

const temp = tempFolders('securechat-certs-');

test.after(temp.removeAll);

test('a self-signed EC P-256 certificate is made once, stored (key 0600) and kept', async () => {
  const dir = join(await temp.make(), 'data');
  const made = await loadOrCreateCertificate(dir);
  assert.match(made.fingerprint, FINGERPRINT);
  assert.is((await stat(dir)).mode & 0o777, 0o700);
  assert.is((await stat(join(dir, KEY_FILE_NAME))).mode & 0o777, 0o600);
  assert.is(await readFile(join(dir, CERT_FILE_NAME), 'utf8'), made.cert);
  assert.is(await readFile(join(dir, KEY_FILE_NAME), 'utf8'), made.key);

  const x509 = new X509Certificate(made.cert);
  assert.is(x509.publicKey.asymmetricKeyType, 'ec');
  assert.is(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(x509.raw.includes(ECDSA_SHA256_OID), 'signed with ecdsa-with-SHA256');
  assert.not.ok(x509.raw.includes(ECDSA_SHA1_OID), 'not signed with SHA-1');
  assert.ok(x509.subjectAltName?.includes('DNS:localhost'));
  assert.ok(x509.subjectAltName?.includes('IP Address:127.0.0.1'));
  assert.ok(x509.subjectAltName?.includes('IP Address:0:0:0:0:0:0:0:1'));
  assert.ok(new Date(x509.validTo).getTime() > Date.now() + 5 * 365 * 24 * 3600_000);

  const again = await loadOrCreateCertificate(dir);
  assert.equal(again, made);
});

test('fingerprint is sha256 of the DER, lowercase hex without colons (not SHA-1)', async () => {
  const made = await loadOrCreateCertificate(await temp.make());
  const der = new X509Certificate(made.cert).raw;
  assert.is(made.fingerprint, 'sha256:' + createHash('sha256').update(der).digest('hex'));
  assert.is(fingerprintOfPem(made.cert), made.fingerprint);
  assert.throws(() => fingerprintOfPem('not a certificate'), (e: ChatError) => e.code === 'E_CERT');
});

test('regenerate makes a new certificate; extra host names and IPs go into the SAN', async () => {
  const dir = await temp.make();
  const first = await loadOrCreateCertificate(dir);
  const second = await loadOrCreateCertificate(dir, { regenerate: true, hostnames: ['chat.example.org', '203.0.113.7', '[2001:db8::7]', ' '] });
  assert.is.not(second.fingerprint, first.fingerprint);
  const san = new X509Certificate(second.cert).subjectAltName ?? '';
  assert.ok(san.includes('DNS:chat.example.org'));
  assert.ok(san.includes('IP Address:203.0.113.7'));
  assert.ok(san.includes('IP Address:2001:DB8:0:0:0:0:0:7') || san.includes('IP Address:2001:db8:0:0:0:0:0:7'));
  assert.ok(san.includes('DNS:localhost'));
  assert.equal(await loadOrCreateCertificate(dir), second);
  await rejectsWith(loadOrCreateCertificate(dir, { regenerate: true, hostnames: ['bad host/name'] }), 'E_USAGE');
  // The refused regeneration left the stored pair alone.
  assert.equal(await loadOrCreateCertificate(dir), second);
});

test('a damaged or half-missing stored pair is an error, never silently replaced', async () => {
  const dir = await temp.make();
  const made = await loadOrCreateCertificate(dir);
  await rm(join(dir, KEY_FILE_NAME));
  await rejectsWith(loadOrCreateCertificate(dir), 'E_CERT');
  await writeFile(join(dir, KEY_FILE_NAME), 'garbage');
  await rejectsWith(loadOrCreateCertificate(dir), 'E_CERT');
  const other = await loadOrCreateCertificate(await temp.make());
  await writeFile(join(dir, KEY_FILE_NAME), other.key);
  await rejectsWith(loadOrCreateCertificate(dir), 'E_CERT'); // key of another certificate
  assert.is(await readFile(join(dir, CERT_FILE_NAME), 'utf8'), made.cert);
});

test('loadCertificateFiles: a good pair, and E_CERT for missing, invalid or mismatched files', async () => {
  const dir = await temp.make();
  const made = await loadOrCreateCertificate(dir);
  const certFile = join(dir, CERT_FILE_NAME);
  const keyFile = join(dir, KEY_FILE_NAME);
  assert.equal(await loadCertificateFiles(certFile, keyFile), made);
  await rejectsWith(loadCertificateFiles(join(dir, 'missing.pem'), keyFile), 'E_CERT');
  await rejectsWith(loadCertificateFiles(certFile, join(dir, 'missing.pem')), 'E_CERT');
  await rejectsWith(loadCertificateFiles(keyFile, keyFile), 'E_CERT');
  await rejectsWith(loadCertificateFiles(certFile, certFile), 'E_CERT');
  const other = await loadOrCreateCertificate(await temp.make());
  const otherKey = join(dir, 'other-key.pem');
  await writeFile(otherKey, other.key);
  await rejectsWith(loadCertificateFiles(certFile, otherKey), 'E_CERT');
  // A chain file (leaf first) is accepted and the leaf is fingerprinted.
  const chain = join(dir, 'chain.pem');
  await writeFile(chain, `${made.cert.trimEnd()}\n${other.cert.trimEnd()}\n`);
  const loaded = await loadCertificateFiles(chain, keyFile);
  assert.is(loaded.fingerprint, made.fingerprint);
});

test('the certificate serves TLS 1.3: a client sees the same fingerprint and can verify it as a CA for localhost', async () => {
  const made = await loadOrCreateCertificate(await temp.make());
  const server = createServer({ cert: made.cert, key: made.key, minVersion: 'TLSv1.3' }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handshake = (options: ConnectionOptions) =>
    new Promise<TLSSocket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ...options }, () => resolve(socket));
      socket.once('error', reject);
    });
  try {
    const pinned = await handshake({ rejectUnauthorized: false });
    assert.is(pinned.getProtocol(), 'TLSv1.3');
    const der = pinned.getPeerX509Certificate()!.raw;
    assert.is('sha256:' + createHash('sha256').update(der).digest('hex'), made.fingerprint);
    pinned.destroy();
    const verified = await handshake({ ca: made.cert, servername: 'localhost' });
    assert.is(verified.authorized, true);
    verified.destroy();
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test.run();
