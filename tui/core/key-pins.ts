import path from 'node:path';
import { ChatError } from '../../shared/errors.js';
import { isValidName, nameKey } from '../../shared/names.js';
import { fromBase64Strict } from '../../shared/crypto/bytes.js';
import {
  PUBLIC_KEY_BYTES, PublicKeyBundleSchema, sameKeys, SIGNATURE_BYTES, verifyPublicBundle, type PublicKeyBundle,
} from '../../shared/crypto/identity.js';
import { ensurePrivateDir, readPrivateFile, writePrivateFileAtomic } from './private-file.js';

/**
 * Trust on first use for contacts' public keys, like SSH's known_hosts: the first bundle seen for
 * a user is pinned; a different one later is NOT used but kept as `pending` until the user
 * accepts it with `/trust`. One JSON file in the client's data folder, mode 0600, replaced
 * atomically on every change.
 *
 * File (v1): { v: 1, kind: 'securechat-key-pins', pins: { [nameKey]: PinRecord } }
 */
export const KEY_PINS_FILE_NAME = 'key-pins.json';
const FILE_KIND = 'securechat-key-pins';
/** Room for tens of thousands of contacts; a larger file is not ours. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export interface PendingKey {
  bundle: PublicKeyBundle;
  /** When this key was first offered, ms since the epoch. */
  seenMs: number;
}

export interface PinRecord {
  /** The user's name as first seen (display only; lookups use `nameKey`). */
  user: string;
  /** The pinned bundle: the only one whitelisted for encryption. */
  bundle: PublicKeyBundle;
  /** When it was pinned, ms since the epoch. */
  pinnedMs: number;
  /** True after `/trust` (the safety number was compared, or a key change was accepted). */
  verified: boolean;
  verifiedMs?: number;
  /** A different bundle the relay served after pinning, waiting for `/trust`. */
  pending?: PendingKey;
}

export type ObserveResult =
  | { status: 'new' }
  | { status: 'same' }
  /** `previous` is the pinned bundle (still the one used), `pending` the one just seen. */
  | { status: 'changed'; previous: PublicKeyBundle; pending: PublicKeyBundle };

interface PinsFileV1 {
  v: 1;
  kind: typeof FILE_KIND;
  pins: Record<string, PinRecord>;
}

function copyRecord(record: PinRecord): PinRecord {
  return structuredClone(record);
}

export class KeyPins {
  /** Full path of the pins file. */
  readonly path: string;
  /** Things the user should see after opening (e.g. a file mode that was tightened). */
  readonly warnings: readonly string[];
  /** What is on disk: the only state readers see. Records are replaced, never changed in place. */
  private pins: Map<string, PinRecord>;
  private readonly now: () => number;
  /** Changes waiting for the next write (group commit, see `change`). */
  private batch: Array<PendingChange<unknown>> = [];
  private committing = false;
  private scheduled = false;
  private writeCount = 0;

  private constructor(file: string, pins: Map<string, PinRecord>, warnings: string[], now: () => number) {
    this.path = file;
    this.pins = pins;
    this.warnings = warnings;
    this.now = now;
  }

  /**
   * Opens (or starts) the pins file in `dir`; the file is written on the first change. Throws
   * `E_CORRUPT_FILE` if the file exists but is not a valid pins file (it is left untouched).
   * @param options.now clock in ms since the epoch; default `Date.now`
   */
  static async open(dir: string, options: { now?: () => number } = {}): Promise<KeyPins> {
    const file = path.join(dir, KEY_PINS_FILE_NAME);
    const warnings: string[] = [];
    const text = await readPrivateFile(file, MAX_FILE_BYTES, warnings);
    const pins = text === undefined ? new Map<string, PinRecord>() : parsePinsFile(file, text);
    if (text === undefined) await ensurePrivateDir(dir);
    return new KeyPins(file, pins, warnings, options.now ?? Date.now);
  }

  /**
   * Records the bundle the relay served for `user`. The bundle is verified first (`E_BAD_KEYS`
   * if bad, and nothing is recorded). `new`: pinned now (not verified). `same`: matches the pin
   * (a pending key, if any, is dropped: the relay is back to the pinned one). `changed`: differs
   * from the pin; kept as pending, the pin stays in force until `trust(user)`.
   */
  async observe(user: string, bundle: unknown): Promise<ObserveResult> {
    const verified = await verifyPublicBundle(user, bundle);
    return this.change<ObserveResult>((pins) => {
      const key = nameKey(user);
      const record = pins.get(key);
      const now = this.now();
      if (!record) {
        pins.set(key, { user, bundle: verified.bundle, pinnedMs: now, verified: false });
        return { result: { status: 'new' }, write: true };
      }
      if (sameKeys(record.bundle, verified.bundle)) {
        // The same keys signed as version 2 (the contact now publishes prekeys) replace the
        // version 1 pin; never the reverse: a relay serving the old version 1 bundle again
        // would be undoing the refusal of the v1 envelope (docs/crypto.md).
        const upgraded = verified.bundle.v > record.bundle.v;
        if (record.pending === undefined && !upgraded) return { result: { status: 'same' }, write: false };
        const { pending: _dropped, ...rest } = record;
        pins.set(key, upgraded ? { ...rest, bundle: verified.bundle } : rest);
        return { result: { status: 'same' }, write: true };
      }
      const alreadyPending = record.pending !== undefined && sameKeys(record.pending.bundle, verified.bundle);
      if (!alreadyPending) pins.set(key, { ...record, pending: { bundle: verified.bundle, seenMs: now } });
      return {
        result: { status: 'changed', previous: { ...record.bundle }, pending: { ...verified.bundle } },
        write: !alreadyPending,
      };
    });
  }

  /**
   * `/trust USER`: accepts the pending key if there is one (it becomes the pin), and marks the
   * pin verified. Returns the updated record. Throws `E_NO_KEY` if nothing is pinned for `user`.
   */
  async trust(user: string): Promise<PinRecord> {
    return this.change((pins) => {
      const key = nameKey(user);
      const record = pins.get(key);
      if (!record) throw new ChatError('E_NO_KEY', `no key is known for ${user}`, { user });
      const now = this.now();
      const { pending, ...rest } = record;
      const updated: PinRecord = pending ? { ...rest, bundle: pending.bundle, pinnedMs: now } : rest;
      updated.verified = true;
      updated.verifiedMs = now;
      pins.set(key, updated);
      return { result: copyRecord(updated), write: true };
    });
  }

  /** True when the pinned key was verified with `/trust` and no different key is pending. */
  isVerified(user: string): boolean {
    const record = this.pins.get(nameKey(user));
    return record !== undefined && record.verified && record.pending === undefined;
  }

  /** Whether a key is pinned for `user` (no copy: for the per-whisper path). */
  has(user: string): boolean {
    return this.pins.has(nameKey(user));
  }

  /** The spelling `user` was first pinned under, or undefined (no copy: for the per-whisper path). */
  displayName(user: string): string | undefined {
    return this.pins.get(nameKey(user))?.user;
  }

  /** A copy of the record for `user`, or undefined if none is pinned. */
  get(user: string): PinRecord | undefined {
    const record = this.pins.get(nameKey(user));
    return record && copyRecord(record);
  }

  /** The changed bundle waiting for `/trust`, or undefined. */
  pending(user: string): PublicKeyBundle | undefined {
    const pending = this.pins.get(nameKey(user))?.pending;
    return pending && { ...pending.bundle };
  }

  /**
   * The X25519 key to encrypt a whisper to `user` (32 bytes). Throws `E_NO_KEY` if none is
   * pinned and `E_KEY_CHANGED` while a changed key waits for `/trust`: the client must not
   * encrypt to the old key either, since the contact may no longer hold it.
   */
  encryptionKey(user: string): Uint8Array {
    const record = this.pins.get(nameKey(user));
    if (!record) throw new ChatError('E_NO_KEY', `no key is known for ${user}`, { user });
    if (record.pending) throw new ChatError('E_KEY_CHANGED', undefined, { user });
    return fromBase64Strict(record.bundle.box, PUBLIC_KEY_BYTES) as Uint8Array;
  }

  /**
   * The X25519 key that authenticates whispers from `user` (32 bytes): always the pinned one,
   * so a whisper sealed with an unaccepted new key fails with `E_DECRYPT`. Throws `E_NO_KEY`.
   */
  senderKey(user: string): Uint8Array {
    const record = this.pins.get(nameKey(user));
    if (!record) throw new ChatError('E_NO_KEY', `no key is known for ${user}`, { user });
    return fromBase64Strict(record.bundle.box, PUBLIC_KEY_BYTES) as Uint8Array;
  }

  /** Display names of every pinned user. */
  users(): string[] {
    return [...this.pins.values()].map((record) => record.user);
  }

  /** Times the file was replaced since opening (tests: many pins in one turn are one write). */
  get writes(): number {
    return this.writeCount;
  }

  /**
   * Group commit. Every change asked for in one turn of the event loop (or while the previous
   * write is in flight) is applied, in call order, to one copy of the pins, which is written
   * once (temp file, fsync, rename, folder fsync) and only then made current: each change
   * resolves once it is durable, readers never see a pin that is not on disk yet, and a failed
   * write fails every change of its batch and leaves memory and disk agreeing. A crash at any
   * point leaves the old file or the new one, whole. `mutate` replaces the records it changes
   * (never edits one in place: the copy shares them with the current pins) and throws, if it
   * must, before changing anything; a throw fails that change alone.
   */
  private change<T>(mutate: (pins: Map<string, PinRecord>) => { result: T; write: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.batch.push({ mutate, resolve: resolve as (value: unknown) => void, reject });
      this.scheduleCommit();
    });
  }

  private scheduleCommit(): void {
    if (this.committing || this.scheduled || this.batch.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.commit();
    });
  }

  private async commit(): Promise<void> {
    this.committing = true;
    const batch = this.batch;
    this.batch = [];
    const working = new Map(this.pins);
    const applied: Array<{ change: PendingChange<unknown>; result: unknown }> = [];
    let write = false;
    for (const change of batch) {
      try {
        const outcome = change.mutate(working);
        applied.push({ change, result: outcome.result });
        write ||= outcome.write;
      } catch (error) {
        change.reject(error);
      }
    }
    try {
      if (write) {
        await writePrivateFileAtomic(this.path, serialise(working));
        this.writeCount += 1;
      }
      this.pins = working;
      for (const { change, result } of applied) change.resolve(result);
    } catch (error) {
      for (const { change } of applied) change.reject(error);
    } finally {
      this.committing = false;
      this.scheduleCommit();
    }
  }
}

interface PendingChange<T> {
  mutate(pins: Map<string, PinRecord>): { result: T; write: boolean };
  resolve(value: T): void;
  reject(error: unknown): void;
}

function serialise(pins: Map<string, PinRecord>): string {
  const file: PinsFileV1 = { v: 1, kind: FILE_KIND, pins: Object.fromEntries(pins) };
  return JSON.stringify(file, null, 2) + '\n';
}

/** Shape check only: signatures were verified before anything was pinned. */
function isStoredBundle(value: unknown): value is PublicKeyBundle {
  const parsed = PublicKeyBundleSchema.strict().safeParse(value);
  return parsed.success
    && fromBase64Strict(parsed.data.sign, PUBLIC_KEY_BYTES) !== undefined
    && fromBase64Strict(parsed.data.box, PUBLIC_KEY_BYTES) !== undefined
    && fromBase64Strict(parsed.data.sig, SIGNATURE_BYTES) !== undefined;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isPinRecord(key: string, value: unknown): value is PinRecord {
  const r = value as Partial<PinRecord> | null;
  return typeof r === 'object' && r !== null
    && isValidName(r.user) && nameKey(r.user) === key
    && isStoredBundle(r.bundle)
    && isTime(r.pinnedMs)
    && typeof r.verified === 'boolean'
    && (r.verifiedMs === undefined || isTime(r.verifiedMs))
    && (r.pending === undefined || (typeof r.pending === 'object' && r.pending !== null
      && isStoredBundle(r.pending.bundle) && isTime(r.pending.seenMs)));
}

function parsePinsFile(file: string, text: string): Map<string, PinRecord> {
  const corrupt = (why: string) => new ChatError('E_CORRUPT_FILE', `${file}: ${why}; it was left untouched`, { path: file });
  let data: Partial<PinsFileV1>;
  try {
    data = JSON.parse(text) as Partial<PinsFileV1>;
  } catch {
    throw corrupt('not valid JSON');
  }
  if (typeof data !== 'object' || data === null || data.kind !== FILE_KIND) throw corrupt('not a securechat key pins file');
  if (data.v !== 1) throw corrupt(`unsupported key pins file version ${String(data.v)}`);
  if (typeof data.pins !== 'object' || data.pins === null || Array.isArray(data.pins)) throw corrupt('no pins');
  const pins = new Map<string, PinRecord>();
  for (const [key, record] of Object.entries(data.pins)) {
    if (!isPinRecord(key, record)) throw corrupt(`bad entry for ${JSON.stringify(key).slice(0, 40)}`);
    pins.set(key, record);
  }
  return pins;
}
