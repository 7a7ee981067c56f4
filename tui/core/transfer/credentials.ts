import { X509Certificate, createPrivateKey, generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { ChatError } from '../../../shared/errors.js';
import { selfSignedCertificate } from './certificate-der.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * A fresh TLS identity for one transfer: an ECDSA P-256 key and a self-signed certificate
 * that names nobody. What makes it trustworthy is its fingerprint, which each side sends to
 * the other inside the end-to-end encrypted, identity-authenticated whisper channel (offer /
 * accept); a data connection is accepted only when the peer presents exactly that
 * certificate. A stranger who connects learns a random public key and nothing else.
 */
export interface TransferCredentials {
  /**
   * PEM private key. It never leaves this machine: only the transfer journal keeps it (0600,
   * in the user's data folder) while the transfer can still resume, so that a restarted
   * client presents the certificate the peer was told about.
   */
  key: string;
  /** PEM certificate presented in the TLS handshake. */
  cert: string;
  /** SHA-256 of the certificate's DER, `AB:CD:...` (node's `fingerprint256` format). */
  fingerprint: string;
}

/** Certificates live a day: long enough for a slow transfer with resumes, short enough to be disposable. */
const VALIDITY_MS = 24 * 60 * 60_000;

/** A new key and certificate (certificate-der.ts), made on this thread in about a millisecond. */
export async function createTransferCredentials(): Promise<TransferCredentials> {
  const now = Date.now();
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  // A little slack for clocks that are off; validity is not what we check anyway.
  const cert = selfSignedCertificate(privateKey, 'securechat transfer', new Date(now - 60 * 60_000), new Date(now + VALIDITY_MS));
  // Checked like anything that crosses a boundary: the key must be the certificate's.
  return credentialsFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert);
}

export function certificateFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Longest PEM accepted back from the journal (a P-256 key or certificate is well under 1 KiB). */
const MAX_PEM_CHARS = 8 * 1024;

/**
 * Credentials read back from the transfer journal, checked as if they came from outside: the
 * certificate and the key must parse, the key must be an EC P-256 private key, and it must be
 * the certificate's key. The fingerprint is recomputed, never taken from the file. Throws
 * E_CORRUPT_FILE otherwise.
 */
export function credentialsFromPem(key: string, cert: string): TransferCredentials {
  if (key.length > MAX_PEM_CHARS || cert.length > MAX_PEM_CHARS) throw new ChatError('E_CORRUPT_FILE', 'transfer credentials too long');
  try {
    const certificate = new X509Certificate(cert);
    const privateKey = createPrivateKey({ key, format: 'pem' });
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('not an EC P-256 key');
    }
    if (!certificate.checkPrivateKey(privateKey)) throw new Error('the key does not belong to the certificate');
    return { key, cert, fingerprint: certificate.fingerprint256 };
  } catch (error) {
    throw new ChatError('E_CORRUPT_FILE', `bad transfer credentials: ${error instanceof Error ? error.message : String(error)}`);
  }
}
