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
  private pins: Map<string, PinRecord>;
  private readonly now: () => number;
  /** Changes run one at a time so each write sees the previous one's result. */
  private queue: Promise<unknown> = Promise.resolve();

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
    return this.change<ObserveResult>(() => {
      const key = nameKey(user);
      const record = this.pins.get(key);
      const now = this.now();
      if (!record) {
        this.pins.set(key, { user, bundle: verified.bundle, pinnedMs: now, verified: false });
        return { result: { status: 'new' }, write: true };
      }
      if (sameKeys(record.bundle, verified.bundle)) {
        const hadPending = record.pending !== undefined;
        delete record.pending;
        return { result: { status: 'same' }, write: hadPending };
      }
      const alreadyPending = record.pending !== undefined && sameKeys(record.pending.bundle, verified.bundle);
      if (!alreadyPending) record.pending = { bundle: verified.bundle, seenMs: now };
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
    return this.change(() => {
      const record = this.pins.get(nameKey(user));
      if (!record) throw new ChatError('E_NO_KEY', `no key is known for ${user}`, { user });
      const now = this.now();
      if (record.pending) {
        record.bundle = record.pending.bundle;
        record.pinnedMs = now;
        delete record.pending;
      }
      record.verified = true;
      record.verifiedMs = now;
      return { result: copyRecord(record), write: true };
    });
  }

  /** True when the pinned key was verified with `/trust` and no different key is pending. */
  isVerified(user: string): boolean {
    const record = this.pins.get(nameKey(user));
    return record !== undefined && record.verified && record.pending === undefined;
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

  /**
   * Runs `mutate` on a copy of the pins, writes the copy if `mutate` says it changed, and only
   * then makes it current, so a failed write leaves memory and disk agreeing.
   */
  private change<T>(mutate: () => { result: T; write: boolean }): Promise<T> {
    const run = async (): Promise<T> => {
      const committed = this.pins;
      this.pins = new Map([...committed].map(([key, record]) => [key, copyRecord(record)]));
      try {
        const { result, write } = mutate();
        if (write) await writePrivateFileAtomic(this.path, serialise(this.pins));
        return result;
      } catch (error) {
        this.pins = committed;
        throw error;
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }
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
