/**
 * The relay's TLS identity: a CA-issued certificate from files, or a self-signed EC P-256
 * certificate made on first start and kept in the data folder so pinned clients keep trusting
 * it across restarts. Clients pin the SHA-256 of the certificate's DER (never SHA-1).
 */
import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ChatError } from '../shared/errors.js';

export interface RelayCertificate {
  /** PEM certificate (chain allowed, leaf first). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** 'sha256:' + lowercase hex of the leaf certificate's DER. */
  fingerprint: string;
}

export const CERT_FILE_NAME = 'relay-cert.pem';
export const KEY_FILE_NAME = 'relay-key.pem';
/** Self-signed certificates live ten years: clients pin the fingerprint, so renewal would only break pins. */
const SELF_SIGNED_VALIDITY_DAYS = 3650;
const DEFAULT_ALT_NAMES = ['localhost', '127.0.0.1', '::1'];
const HOSTNAME_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/;

/** The first certificate of a PEM file: in a chain file the leaf comes first. */
function leafPem(certPem: string): string {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(certPem);
  return first ? first[0] : certPem;
}

/** 'sha256:' + lowercase hex of the (leaf) certificate's DER, computed by node:crypto. */
export function fingerprintOfPem(certPem: string): string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(leafPem(certPem));
  } catch (error) {
    throw new ChatError('E_CERT', `not a PEM certificate: ${(error as Error).message}`);
  }
  return 'sha256:' + cert.fingerprint256.replaceAll(':', '').toLowerCase();
}

/** Parse and cross-check a certificate and its key; throws E_CERT naming `source` on any problem. */
function checkPair(certPem: string, keyPem: string, source: { cert: string; key: string }): RelayCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(leafPem(certPem));
  } catch (error) {
    throw new ChatError('E_CERT', `${source.cert} is not a PEM certificate (${(error as Error).message})`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new ChatError('E_CERT', `${source.key} is not a PEM private key (${(error as Error).message})`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new ChatError('E_CERT', `the key in ${source.key} does not belong to the certificate in ${source.cert}`);
  }
  return { cert: certPem, key: keyPem, fingerprint: fingerprintOfPem(certPem) };
}

async function readPem(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ChatError('E_CERT', `cannot read the ${what} file ${file}: ${reason}`, { file });
  }
}

/** Load a certificate (chain) and key from PEM files, e.g. a CA-issued pair; E_CERT when missing, invalid or mismatched. */
export async function loadCertificateFiles(certFile: string, keyFile: string): Promise<RelayCertificate> {
  const [certPem, keyPem] = await Promise.all([readPem(certFile, 'certificate'), readPem(keyFile, 'key')]);
  return checkPair(certPem, keyPem, { cert: certFile, key: keyFile });
}

function altNames(hostnames: string[]): Array<{ type: 2; value: string } | { type: 7; ip: string }> {
  const names = [...new Set([...DEFAULT_ALT_NAMES, ...hostnames.map((h) => h.trim()).filter((h) => h.length > 0)])];
  return names.map((name) => {
    const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    if (isIP(bare) !== 0) return { type: 7 as const, ip: bare };
    if (!HOSTNAME_PATTERN.test(name)) throw new ChatError('E_USAGE', `not a host name or IP address: ${JSON.stringify(name)}`);
    return { type: 2 as const, value: name };
  });
}

async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, data, { mode });
  await chmod(temp, mode); // writeFile's mode is filtered by the umask
  await rename(temp, file);
}

/** Make a new self-signed EC P-256 certificate (sha256 signature) for the given extra host names / IPs. */
export async function createSelfSignedCertificate(hostnames: string[] = []): Promise<RelayCertificate> {
  const notBeforeDate = new Date(Date.now() - 60_000); // tolerate small clock skew on clients
  const notAfterDate = new Date(notBeforeDate.getTime() + SELF_SIGNED_VALIDITY_DAYS * 24 * 60 * 60_000);
  // Loaded on demand: selfsigned pulls in a large ASN.1 stack that most runs never need.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'securechat relay' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: altNames(hostnames) },
    ],
  });
  return checkPair(pems.cert, pems.private, { cert: 'generated certificate', key: 'generated key' });
}

/**
 * The relay's self-signed certificate in `dataDir` (`relay-cert.pem`, `relay-key.pem` with
 * mode 0600), made on first use and kept across restarts. `regenerate` replaces it (clients
 * pinned to the old fingerprint will refuse the new one). `hostnames` (DNS names or IPs, added
 * to localhost/127.0.0.1/::1) are used only when a certificate is made.
 */
export async function loadOrCreateCertificate(
  dataDir: string,
  opts: { regenerate?: boolean; hostnames?: string[] } = {},
): Promise<RelayCertificate> {
  const certFile = join(dataDir, CERT_FILE_NAME);
  const keyFile = join(dataDir, KEY_FILE_NAME);
  if (!opts.regenerate) {
    const existing = await existingPair(certFile, keyFile);
    if (existing !== undefined) return existing;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const made = await createSelfSignedCertificate(opts.hostnames ?? []);
  // Key first: a certificate file never exists without its key.
  await writeFileAtomic(keyFile, made.key, 0o600);
  await writeFileAtomic(certFile, made.cert, 0o644);
  return made;
}

/** The stored pair, undefined when neither file exists; E_CERT when only one exists or they are invalid. */
async function existingPair(certFile: string, keyFile: string): Promise<RelayCertificate | undefined> {
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    const missing = certPem === undefined ? certFile : keyFile;
    throw new ChatError(
      'E_CERT',
      `${missing} is missing but its partner file exists; restore it, or run "relay cert --regenerate" (clients pinned to the old fingerprint will refuse the new one)`,
    );
  }
  return checkPair(certPem, keyPem, { cert: certFile, key: keyFile });
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ChatError('E_CERT', `cannot read ${file}: ${(error as Error).message}`, { file });
  }
}

/**
 * The TLS 1.3 endpoint on `host:port` and its certificate's fingerprint ('sha256:' + hex of
 * the DER), or null when nothing answers there in TLS 1.3 within `timeoutMs`. Nothing is
 * trusted here: `npm start` shows it to the user, who decides (tui/local-relay.ts).
 */
export function listenerFingerprint(host: string, port: number, timeoutMs = 2_000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, minVersion: 'TLSv1.3', rejectUnauthorized: false, timeout: timeoutMs });
    const done = (fingerprint: string | null) => {
      socket.destroy();
      resolve(fingerprint);
    };
    socket.once('secureConnect', () => {
      const raw = socket.getPeerCertificate()?.raw;
      done(Buffer.isBuffer(raw) ? `sha256:${createHash('sha256').update(raw).digest('hex')}` : null);
    });
    socket.once('timeout', () => done(null));
    socket.once('error', () => done(null));
  });
}
