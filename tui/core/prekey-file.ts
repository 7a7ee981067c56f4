import path from 'node:path';
import { fromBase64Strict, toBase64 } from '../../shared/crypto/bytes.js';
import type { Identity } from '../../shared/crypto/identity.js';
import { generateKeyPair, keyPairFromSecret, MAX_PREKEY_ID, signPrekey, type KeyPair, type OneTimePrekey, type SignedPrekey } from '../../shared/crypto/prekeys.js';
import type { PrekeySecrets } from '../../shared/crypto/x3dh.js';
import { ChatError } from '../../shared/errors.js';
import { PREKEY_LIMITS, SESSION_STORE_LIMITS } from '../../shared/limits.js';
import type { StateBox } from './device-file.js';
import { readPrivateFile, writePrivateFileAtomic } from './private-file.js';

/**
 * This device's private prekeys (X3DH §2.4, §3.2; docs/crypto.md "Client files"):
 * `prekeys.json` beside identity.json, 0600, replaced atomically, sealed under the passphrase
 * when the identity has one (device-file.ts). It holds the signed prekey pairs (the current one
 * and those replaced less than `signedPrekeyKeepMs` ago), the one-time prekey pairs not yet used
 * (at most `maxLocalOneTime`, oldest dropped), which of them the relay has confirmed, the next
 * id, and the EKs of the sessions this device accepted (X3DH §4.2, bounded).
 *
 * Every change is on disk before it is relied on: new prekeys before they are uploaded (the
 * relay never serves a key whose private half could be lost), a used one-time prekey deleted
 * (and its EK recorded) once its first message decrypted.
 */
export const PREKEY_FILE_NAME = 'prekeys.json';
const KIND = 'securechat-prekeys';

interface SignedRecord { id: number; secret: string; createdMs: number; retiredMs?: number }
interface OneTimeRecord { id: number; secret: string; published: boolean }
interface PrekeyData { nextId: number; signed: SignedRecord[]; oneTime: OneTimeRecord[]; seen: string[] }

/** What a `prekeys` upload carries (the message's body besides `t`, `id`, `device`). */
export interface PrekeyUpload {
  signedPrekey: SignedPrekey;
  oneTime: OneTimePrekey[];
}

export class PrekeyFile implements PrekeySecrets {
  private readonly signedPairs = new Map<number, KeyPair>();
  private readonly oneTimePairs = new Map<number, KeyPair>();
  private readonly seen: Set<string>;
  private inflight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  private constructor(
    private readonly file: string,
    private readonly box: StateBox,
    private readonly data: PrekeyData,
  ) {
    for (const r of data.signed) this.signedPairs.set(r.id, pairOf(r.secret, file));
    for (const r of data.oneTime) this.oneTimePairs.set(r.id, pairOf(r.secret, file));
    this.seen = new Set(data.seen);
  }

  /** Loads `prekeys.json` from `dir` (empty on first run). `E_CORRUPT_FILE` when damaged. */
  static async open(dir: string, box: StateBox, warnings: string[]): Promise<PrekeyFile> {
    const file = path.join(dir, PREKEY_FILE_NAME);
    const text = await readPrivateFile(file, SESSION_STORE_LIMITS.maxPrekeyFileBytes, warnings);
    const data = text === undefined ? { nextId: 1, signed: [], oneTime: [], seen: [] } : checkData(box.decode(KIND, text, file), file);
    return new PrekeyFile(file, box, data);
  }

  signedPrekey(id: number): KeyPair | undefined {
    return this.signedPairs.get(id);
  }

  oneTimePrekey(id: number): KeyPair | undefined {
    return this.oneTimePairs.get(id);
  }

  /** X3DH §4.2: a session was already accepted from this EK. */
  seenEphemeral(ephemeral: Uint8Array): boolean {
    return this.seen.has(toBase64(ephemeral));
  }

  /**
   * The next upload: the current signed prekey (a new one when it is older than
   * `signedPrekeyRotateMs`, the old one kept `signedPrekeyKeepMs`), the one-time prekeys the
   * relay has not confirmed, and `more` new ones (at most one upload's worth). Written to disk
   * before it is returned.
   */
  async prepareUpload(identity: Identity, user: string, device: string, more: number, now = Date.now()): Promise<PrekeyUpload> {
    const d = this.data;
    const signedBefore = d.signed.length;
    d.signed = d.signed.filter((r) => r.retiredMs === undefined || now - r.retiredMs < PREKEY_LIMITS.signedPrekeyKeepMs);
    let changed = d.signed.length !== signedBefore;
    let current = d.signed.find((r) => r.retiredMs === undefined);
    if (!current || this.rotationDue(now)) {
      changed = true;
      if (current) current.retiredMs = now;
      current = { id: this.takeId(), secret: '', createdMs: now };
      current.secret = this.remember(this.signedPairs, current.id);
      d.signed.push(current);
    }
    for (const id of [...this.signedPairs.keys()]) if (!d.signed.some((r) => r.id === id)) this.signedPairs.delete(id);
    const unpublished = () => d.oneTime.filter((r) => !r.published);
    const add = Math.max(0, Math.min(more, PREKEY_LIMITS.maxOneTimePerUpload - unpublished().length));
    for (let i = 0; i < add; i += 1) {
      const id = this.takeId();
      d.oneTime.push({ id, secret: this.remember(this.oneTimePairs, id), published: false });
    }
    while (d.oneTime.length > PREKEY_LIMITS.maxLocalOneTime) this.oneTimePairs.delete((d.oneTime.shift() as OneTimeRecord).id);
    // Written only when something changed (new keys are added, so trimming implies add > 0):
    // an upload of what is on disk already needs no atomic replace of this file.
    if (changed || add > 0) await this.save();
    const pair = this.signedPairs.get(current.id) as KeyPair;
    return {
      signedPrekey: await signPrekey(identity, user, device, current.id, pair.publicKey),
      oneTime: unpublished().slice(0, PREKEY_LIMITS.maxOneTimePerUpload).map((r) => ({ id: r.id, key: toBase64((this.oneTimePairs.get(r.id) as KeyPair).publicKey) })),
    };
  }

  /** An upload has something the relay lacks: a signed prekey due (none yet, or due for rotation) or one-time prekeys it has not confirmed. */
  uploadDue(now = Date.now()): boolean {
    return this.rotationDue(now) || this.data.oneTime.some((r) => !r.published);
  }

  private rotationDue(now: number): boolean {
    const current = this.data.signed.find((r) => r.retiredMs === undefined);
    return !current || now - current.createdMs >= PREKEY_LIMITS.signedPrekeyRotateMs;
  }

  /** The relay stored these one-time prekeys (not written at once: an unconfirmed one is only uploaded again). */
  published(ids: readonly number[]): void {
    const set = new Set(ids);
    for (const r of this.data.oneTime) if (set.has(r.id)) r.published = true;
  }

  /** A session was accepted: its one-time prekey is deleted and its EK remembered (X3DH §3.4, §4.2); on disk when this resolves. */
  async accepted(oneTimePrekeyId: number | undefined, ephemeral: Uint8Array): Promise<void> {
    if (oneTimePrekeyId !== undefined) {
      this.data.oneTime = this.data.oneTime.filter((r) => r.id !== oneTimePrekeyId);
      this.oneTimePairs.delete(oneTimePrekeyId);
    }
    const ek = toBase64(ephemeral);
    this.seen.add(ek);
    this.data.seen.push(ek);
    while (this.data.seen.length > PREKEY_LIMITS.maxSeenEphemerals) this.seen.delete(this.data.seen.shift() as string);
    await this.save();
  }

  private takeId(): number {
    const id = this.data.nextId;
    this.data.nextId = id >= MAX_PREKEY_ID ? 1 : id + 1;
    return id;
  }

  private remember(into: Map<number, KeyPair>, id: number): string {
    const pair = generateKeyPair();
    into.set(id, pair);
    return toBase64(pair.privateKey);
  }

  /**
   * Durable when this resolves: every change made before the call is on disk. One write at a
   * time, of the state when it starts; the calls made while one runs share the next (group
   * commit: many first messages at once cost two writes of this file, not one each).
   */
  private save(): Promise<void> {
    if (!this.inflight) {
      this.inflight = writePrivateFileAtomic(this.file, this.box.encode(KIND, this.data)).finally(() => (this.inflight = null));
      return this.inflight;
    }
    this.queued ??= this.inflight.catch(() => {}).then(() => {
      this.queued = null;
      return this.save();
    });
    return this.queued;
  }
}

function pairOf(secret: string, file: string): KeyPair {
  const bytes = fromBase64Strict(secret, 32);
  if (!bytes) throw new ChatError('E_CORRUPT_FILE', `${file}: a prekey is damaged; it was left untouched`, { path: file });
  return keyPairFromSecret(bytes);
}

function checkData(value: unknown, file: string): PrekeyData {
  const d = value as Partial<PrekeyData> | null;
  const id = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= MAX_PREKEY_ID;
  const ok = typeof d === 'object' && d !== null && id(d.nextId)
    && Array.isArray(d.signed) && d.signed.every((r) => id(r?.id) && typeof r.secret === 'string' && Number.isFinite(r.createdMs))
    && Array.isArray(d.oneTime) && d.oneTime.length <= PREKEY_LIMITS.maxLocalOneTime && d.oneTime.every((r) => id(r?.id) && typeof r.secret === 'string' && typeof r.published === 'boolean')
    && Array.isArray(d.seen) && d.seen.every((s) => typeof s === 'string');
  if (!ok) throw new ChatError('E_CORRUPT_FILE', `${file} is damaged; it was left untouched`, { path: file });
  return d as PrekeyData;
}
