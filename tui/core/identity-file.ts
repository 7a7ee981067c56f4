import path from 'node:path';
import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../../shared/errors.js';
import { fromBase64Strict, toBase64 } from '../../shared/crypto/bytes.js';
import { generateIdentity, identityFromSecrets, type Identity } from '../../shared/crypto/identity.js';
import { createPrivateFileExclusive, ensurePrivateDir, readPrivateFile } from './private-file.js';

/**
 * The user's private keys on this device: one JSON file in the client's data folder, mode 0600,
 * optionally sealed with a passphrase (argon2id via `crypto_pwhash`, then `crypto_secretbox`).
 * An existing file is never overwritten: a damaged one is reported with `E_CORRUPT_FILE` and left
 * for the user to restore or move aside.
 *
 * File (v1):
 *   { v: 1, kind: 'securechat-identity', created: ISO time,
 *     public: { sign, box },                                  // base64, for checks and display
 *     secret: { sign, box }                                   // when not protected, or
 *     sealed: { kdf: 'argon2id13', opsLimit, memLimitBytes, salt, nonce, box } }
 * `sealed.box` is `crypto_secretbox_easy` of signSecretKey (64 bytes) || boxSecretKey (32 bytes).
 */
export const IDENTITY_FILE_NAME = 'identity.json';
const FILE_KIND = 'securechat-identity';
/** Far larger than any identity file; a bigger file is not ours. */
const MAX_FILE_BYTES = 64 * 1024;

/** argon2id cost. Stored in the file, so the cost chosen at creation is the cost of every unlock. */
export interface KdfLimits {
  /** Passes over memory (`opslimit`). */
  opsLimit: number;
  /** Memory used, in bytes (`memlimit`). */
  memLimitBytes: number;
}

/** libsodium MODERATE: 3 passes, 256 MiB (about 1.4 s here). The default: see docs/crypto.md. */
export const KDF_MODERATE: KdfLimits = { opsLimit: 3, memLimitBytes: 256 * 1024 * 1024 };
/** libsodium INTERACTIVE: 2 passes, 64 MiB (about 0.13 s here). */
export const KDF_INTERACTIVE: KdfLimits = { opsLimit: 2, memLimitBytes: 64 * 1024 * 1024 };
/** Bounds accepted when reading a file, so a tampered file cannot demand hours or gigabytes. */
const KDF_MAX: KdfLimits = { opsLimit: 16, memLimitBytes: 1024 * 1024 * 1024 };

export interface IdentityFileOptions {
  /** Protects a new file, or unlocks an existing protected one. Empty counts as none. */
  passphrase?: string;
  /** argon2id cost for a NEW protected file; default `KDF_MODERATE`. Tests use cheaper limits. */
  kdf?: KdfLimits;
}

export interface LoadedIdentity {
  identity: Identity;
  /** Full path of the identity file. */
  path: string;
  /** True when this call made the keys (first run on this device). */
  created: boolean;
  /** True when the file is sealed with a passphrase. */
  protected: boolean;
  /** The argon2id limits the file is sealed with (when protected): the device's state files use them too. */
  kdf?: KdfLimits;
  /** Things the user should see: a mode that was tightened, a passphrase that was not needed. */
  warnings: string[];
}

interface SealedSecrets {
  kdf: 'argon2id13';
  opsLimit: number;
  memLimitBytes: number;
  salt: string;
  nonce: string;
  box: string;
}

interface IdentityFileV1 {
  v: 1;
  kind: typeof FILE_KIND;
  created: string;
  public: { sign: string; box: string };
  secret?: { sign: string; box: string };
  sealed?: SealedSecrets;
}

/** Where the identity file lives in `dir`. */
export function identityFilePath(dir: string): string {
  return path.join(dir, IDENTITY_FILE_NAME);
}

/**
 * Loads this device's identity from `dir`, or makes one on first run. Creates `dir` (0700) if
 * missing. Throws `E_PASSPHRASE` (protected file and a wrong or missing passphrase),
 * `E_CORRUPT_FILE` (not a valid identity file; it is left untouched).
 */
export async function loadOrCreateIdentity(dir: string, options: IdentityFileOptions = {}): Promise<LoadedIdentity> {
  await sodium.ready;
  const file = identityFilePath(dir);
  const passphrase = options.passphrase ? options.passphrase.normalize('NFC') : undefined;
  const warnings: string[] = [];
  const existing = await readPrivateFile(file, MAX_FILE_BYTES, warnings);
  if (existing !== undefined) return loadExisting(file, existing, passphrase, warnings);

  await ensurePrivateDir(dir);
  const identity = await generateIdentity();
  const text = JSON.stringify(encodeIdentityFile(identity, passphrase, options.kdf ?? KDF_MODERATE), null, 2) + '\n';
  if (!(await createPrivateFileExclusive(file, text))) {
    // Another process created it between our read and our write: use theirs, never replace it.
    const raced = await readPrivateFile(file, MAX_FILE_BYTES, warnings);
    if (raced === undefined) throw new ChatError('E_CORRUPT_FILE', `${file} vanished while being created`, { path: file });
    return loadExisting(file, raced, passphrase, warnings);
  }
  const kdf = passphrase !== undefined ? { kdf: options.kdf ?? KDF_MODERATE } : {};
  return { identity, path: file, created: true, protected: passphrase !== undefined, ...kdf, warnings };
}

function encodeIdentityFile(identity: Identity, passphrase: string | undefined, kdf: KdfLimits): IdentityFileV1 {
  const base = {
    v: 1 as const,
    kind: FILE_KIND as typeof FILE_KIND,
    created: new Date().toISOString(),
    public: { sign: toBase64(identity.signPublicKey), box: toBase64(identity.boxPublicKey) },
  };
  if (passphrase === undefined) {
    return { ...base, secret: { sign: toBase64(identity.signSecretKey), box: toBase64(identity.boxSecretKey) } };
  }
  checkKdf(kdf, 'E_USAGE');
  const salt = sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES);
  const nonce = sodium.randombytes_buf(sodium.crypto_secretbox_NONCEBYTES);
  const key = deriveKey(passphrase, salt, kdf);
  const secrets = new Uint8Array([...identity.signSecretKey, ...identity.boxSecretKey]);
  const box = sodium.crypto_secretbox_easy(secrets, nonce, key);
  sodium.memzero(key);
  sodium.memzero(secrets);
  return {
    ...base,
    sealed: { kdf: 'argon2id13', opsLimit: kdf.opsLimit, memLimitBytes: kdf.memLimitBytes, salt: toBase64(salt), nonce: toBase64(nonce), box: toBase64(box) },
  };
}

/** argon2id (`crypto_pwhash`) of an NFC passphrase: a secretbox key. Also seals the device's state files (device-file.ts). */
export function derivePassphraseKey(passphrase: string, salt: Uint8Array, kdf: KdfLimits): Uint8Array {
  return deriveKey(passphrase.normalize('NFC'), salt, kdf);
}

function deriveKey(passphrase: string, salt: Uint8Array, kdf: KdfLimits): Uint8Array {
  return sodium.crypto_pwhash(
    sodium.crypto_secretbox_KEYBYTES, passphrase, salt, kdf.opsLimit, kdf.memLimitBytes, sodium.crypto_pwhash_ALG_ARGON2ID13,
  );
}

function checkKdf(kdf: unknown, code: 'E_USAGE' | 'E_CORRUPT_FILE'): asserts kdf is KdfLimits {
  const limits = kdf as Partial<KdfLimits> | null;
  const ok = typeof limits === 'object' && limits !== null
    && Number.isSafeInteger(limits.opsLimit) && (limits.opsLimit as number) >= sodium.crypto_pwhash_OPSLIMIT_MIN
    && (limits.opsLimit as number) <= KDF_MAX.opsLimit
    && Number.isSafeInteger(limits.memLimitBytes) && (limits.memLimitBytes as number) >= sodium.crypto_pwhash_MEMLIMIT_MIN
    && (limits.memLimitBytes as number) <= KDF_MAX.memLimitBytes;
  if (!ok) throw new ChatError(code, 'argon2id limits out of range');
}

function corrupt(file: string, why: string): ChatError {
  return new ChatError('E_CORRUPT_FILE', `${file}: ${why}; it was left untouched`, { path: file });
}

async function loadExisting(file: string, text: string, passphrase: string | undefined, warnings: string[]): Promise<LoadedIdentity> {
  let data: Partial<IdentityFileV1>;
  try {
    data = JSON.parse(text) as Partial<IdentityFileV1>;
  } catch {
    throw corrupt(file, 'not valid JSON');
  }
  if (typeof data !== 'object' || data === null || data.kind !== FILE_KIND) throw corrupt(file, 'not a securechat identity file');
  if (data.v !== 1) throw corrupt(file, `unsupported identity file version ${String(data.v)}`);
  const publicSign = fromBase64Strict(data.public?.sign, sodium.crypto_sign_PUBLICKEYBYTES);
  const publicBox = fromBase64Strict(data.public?.box, sodium.crypto_box_PUBLICKEYBYTES);
  if (!publicSign || !publicBox) throw corrupt(file, 'public keys missing or malformed');

  let signSecret: Uint8Array | undefined;
  let boxSecret: Uint8Array | undefined;
  let kdf: KdfLimits | undefined;
  const isProtected = data.sealed !== undefined;
  if (data.sealed !== undefined && data.secret === undefined) {
    [signSecret, boxSecret] = unseal(file, data.sealed, passphrase);
    kdf = { opsLimit: data.sealed.opsLimit, memLimitBytes: data.sealed.memLimitBytes };
  } else if (data.secret !== undefined && data.sealed === undefined) {
    signSecret = fromBase64Strict(data.secret.sign, sodium.crypto_sign_SECRETKEYBYTES);
    boxSecret = fromBase64Strict(data.secret.box, sodium.crypto_box_SECRETKEYBYTES);
    if (passphrase !== undefined) warnings.push(`${file} is not protected by a passphrase; the passphrase was not used`);
  }
  if (!signSecret || !boxSecret) throw corrupt(file, 'secret keys missing or malformed');

  let identity: Identity;
  try {
    identity = await identityFromSecrets(signSecret, boxSecret);
  } catch {
    throw corrupt(file, 'secret keys are inconsistent');
  }
  if (!sodium.memcmp(identity.signPublicKey, publicSign) || !sodium.memcmp(identity.boxPublicKey, publicBox)) {
    throw corrupt(file, 'public keys do not match the secret keys');
  }
  return { identity, path: file, created: false, protected: isProtected, ...(kdf ? { kdf } : {}), warnings };
}

function unseal(file: string, sealed: unknown, passphrase: string | undefined): [Uint8Array, Uint8Array] {
  const s = sealed as Partial<SealedSecrets> | null;
  if (typeof s !== 'object' || s === null || s.kdf !== 'argon2id13') throw corrupt(file, 'unknown key protection');
  const limits = { opsLimit: s.opsLimit, memLimitBytes: s.memLimitBytes };
  try {
    checkKdf(limits, 'E_CORRUPT_FILE');
  } catch {
    throw corrupt(file, 'argon2id limits out of range');
  }
  const salt = fromBase64Strict(s.salt, sodium.crypto_pwhash_SALTBYTES);
  const nonce = fromBase64Strict(s.nonce, sodium.crypto_secretbox_NONCEBYTES);
  const box = fromBase64Strict(s.box, sodium.crypto_secretbox_MACBYTES + sodium.crypto_sign_SECRETKEYBYTES + sodium.crypto_box_SECRETKEYBYTES);
  if (!salt || !nonce || !box) throw corrupt(file, 'sealed keys malformed');
  if (passphrase === undefined) {
    throw new ChatError('E_PASSPHRASE', 'this identity key file is protected; a passphrase is needed', { path: file, needsPassphrase: true });
  }
  const key = deriveKey(passphrase, salt, limits);
  let secrets: Uint8Array;
  try {
    secrets = sodium.crypto_secretbox_open_easy(box, nonce, key);
  } catch {
    // secretbox cannot tell a wrong passphrase from a damaged box; the public keys being intact
    // makes the passphrase the likely cause.
    throw new ChatError('E_PASSPHRASE', 'wrong passphrase for the identity key file', { path: file });
  } finally {
    sodium.memzero(key);
  }
  return [secrets.slice(0, sodium.crypto_sign_SECRETKEYBYTES), secrets.slice(sodium.crypto_sign_SECRETKEYBYTES)];
}
