import path from 'node:path';
import sodium from 'libsodium-wrappers-sumo';
import { fromBase64Strict, randomBytes, toBase64 } from '../../shared/crypto/bytes.js';
import { DEVICE_ID } from '../../shared/crypto/prekeys.js';
import { ChatError } from '../../shared/errors.js';
import { derivePassphraseKey, type KdfLimits } from './identity-file.js';
import { createPrivateFileExclusive, readPrivateFile } from './private-file.js';

/**
 * This device's id and the key that seals its session state (docs/crypto.md "Client files").
 *
 * `device.json` beside identity.json, 0600, made once (no-overwrite create, as the identity):
 *   { v: 1, kind: 'securechat-device', device: '<16 base64url chars>', salt: '<16 bytes>' }
 * The device id names this install in prekey bundles and session bodies (one device per user
 * for now; several are issue 16's next part). `salt` is for the state key: when the identity is
 * protected by a passphrase, the prekey and sessions files are sealed with
 * `crypto_secretbox_easy` under argon2id(passphrase, salt, the identity file's limits), derived
 * once at start and kept in memory, because those files are written for every whisper.
 */
export const DEVICE_FILE_NAME = 'device.json';
const FILE_KIND = 'securechat-device';
const MAX_FILE_BYTES = 4 * 1024;

export interface DeviceFile {
  device: string;
  /** Seals and opens the state files: a secretbox under the passphrase key, or plain JSON without a passphrase. */
  box: StateBox;
  warnings: string[];
}

/** Loads or makes `device.json` in `dir`; with a passphrase, derives the state key (argon2id, once). */
export async function openDeviceFile(dir: string, passphrase: { passphrase: string; kdf: KdfLimits } | undefined): Promise<DeviceFile> {
  await sodium.ready;
  const file = path.join(dir, DEVICE_FILE_NAME);
  const warnings: string[] = [];
  let text = await readPrivateFile(file, MAX_FILE_BYTES, warnings);
  if (text === undefined) {
    const made = { v: 1, kind: FILE_KIND, device: Buffer.from(randomBytes(12)).toString('base64url'), salt: toBase64(randomBytes(sodium.crypto_pwhash_SALTBYTES)) };
    // Another client starting at once may win the create: theirs is then read back and used.
    await createPrivateFileExclusive(file, JSON.stringify(made, null, 2) + '\n');
    text = await readPrivateFile(file, MAX_FILE_BYTES, warnings);
  }
  let data: { v?: unknown; kind?: unknown; device?: unknown; salt?: unknown };
  try {
    data = JSON.parse(text ?? '') as typeof data;
  } catch {
    data = {};
  }
  const salt = fromBase64Strict(data.salt, sodium.crypto_pwhash_SALTBYTES);
  if (data?.v !== 1 || data.kind !== FILE_KIND || typeof data.device !== 'string' || !DEVICE_ID.test(data.device) || !salt) {
    throw new ChatError('E_CORRUPT_FILE', `${file} is not a securechat device file; it was left untouched`, { path: file });
  }
  const key = passphrase ? derivePassphraseKey(passphrase.passphrase, salt, passphrase.kdf) : null;
  return { device: data.device, box: new StateBox(key), warnings };
}

/**
 * One state file's JSON, sealed or plain. Sealed: `{ v: 1, kind, nonce, box }` with a random
 * 24-byte nonce per write (`crypto_secretbox_easy`, XSalsa20-Poly1305); the kind is the
 * additional check that a file is read as what it was written as.
 */
export class StateBox {
  constructor(private readonly key: Uint8Array | null) {}

  get sealed(): boolean {
    return this.key !== null;
  }

  encode(kind: string, value: unknown): string {
    if (!this.key) return JSON.stringify({ v: 1, kind, data: value });
    const nonce = randomBytes(sodium.crypto_secretbox_NONCEBYTES);
    const box = sodium.crypto_secretbox_easy(new TextEncoder().encode(JSON.stringify({ kind, data: value })), nonce, this.key);
    return JSON.stringify({ v: 1, kind, nonce: toBase64(nonce), box: toBase64(box) });
  }

  /** The stored value; `E_CORRUPT_FILE` (damaged, another kind, sealed without a key or plain with one). */
  decode(kind: string, text: string, file: string): unknown {
    const corrupt = (why: string) => new ChatError('E_CORRUPT_FILE', `${file}: ${why}; it was left untouched`, { path: file });
    let outer: { v?: unknown; kind?: unknown; data?: unknown; nonce?: unknown; box?: unknown };
    try {
      outer = JSON.parse(text) as typeof outer;
    } catch {
      throw corrupt('not valid JSON');
    }
    if (outer?.v !== 1 || outer.kind !== kind) throw corrupt(`not a ${kind} file`);
    if (!this.key) {
      if (!('data' in outer)) throw corrupt('sealed, but the identity has no passphrase');
      return outer.data;
    }
    const nonce = fromBase64Strict(outer.nonce, sodium.crypto_secretbox_NONCEBYTES);
    const box = fromBase64Strict(outer.box);
    if (!nonce || !box) throw corrupt('not sealed, but the identity has a passphrase');
    let inner: { kind?: unknown; data?: unknown };
    try {
      inner = JSON.parse(new TextDecoder().decode(sodium.crypto_secretbox_open_easy(box, nonce, this.key))) as typeof inner;
    } catch {
      throw corrupt('the sealed state does not open with this passphrase');
    }
    if (inner?.kind !== kind) throw corrupt(`not a ${kind} file`);
    return inner.data;
  }
}
