import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

/**
 * A fresh TLS identity for one transfer: an ECDSA P-256 key and a self-signed certificate
 * that names nobody. What makes it trustworthy is its fingerprint, which each side sends to
 * the other inside the end-to-end encrypted, identity-authenticated whisper channel (offer /
 * accept); a data connection is accepted only when the peer presents exactly that
 * certificate. A stranger who connects learns a random public key and nothing else.
 */
export interface TransferCredentials {
  /** PEM private key; never leaves this process. */
  key: string;
  /** PEM certificate presented in the TLS handshake. */
  cert: string;
  /** SHA-256 of the certificate's DER, `AB:CD:...` (node's `fingerprint256` format). */
  fingerprint: string;
}

/** Certificates live a day: long enough for a slow transfer with resumes, short enough to be disposable. */
const VALIDITY_MS = 24 * 60 * 60_000;

export async function createTransferCredentials(): Promise<TransferCredentials> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'securechat transfer' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    // A little slack for clocks that are off; validity is not what we check anyway.
    notBeforeDate: new Date(now - 60 * 60_000),
    notAfterDate: new Date(now + VALIDITY_MS),
  });
  return { key: pems.private, cert: pems.cert, fingerprint: certificateFingerprint(pems.cert) };
}

export function certificateFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}
