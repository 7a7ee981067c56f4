import path from 'node:path';
import { ChatError } from '../../shared/errors.js';
import { isValidName, nameKey } from '../../shared/names.js';
import { ReplayGuard, WhisperCounter } from '../../shared/crypto/envelope.js';
import { ensurePrivateDir, readPrivateFile, writePrivateFileAtomic } from './private-file.js';

/**
 * The whisper state that must outlive the process: the sender counter's last value (so a clock
 * set back across a restart cannot repeat counters) and one ReplayGuard per sender (so a relay
 * cannot replay old whispers after a restart). One JSON file in the user's data folder, mode
 * 0600, replaced atomically.
 *
 * Writes are batched: a change marks the state dirty and one write follows `flushDelayMs` later
 * (and on `flush()`, which the client calls when it closes). A crash loses at most that window,
 * which lets a relay replay the whispers received in it once (docs/crypto.md).
 *
 * Bounded: the `maxFullGuards` most recently active senders keep a full guard (256 counters);
 * older ones are compacted to their highest counter only (a late, out-of-order whisper from
 * them is then refused as a replay); beyond `maxSenders` the least recently active are
 * forgotten.
 *
 * File (v1): { v: 1, kind: 'securechat-whisper-state', counter: { v: 1, last },
 *              senders: [{ user, guard: ReplayGuardState }] }   // least recently active first
 */
export const WHISPER_STATE_FILE_NAME = 'whisper-state.json';
const FILE_KIND = 'securechat-whisper-state';
/** Far above what the bounds allow (about 1.5 MB); a bigger file is not ours. */
const MAX_FILE_BYTES = 8 * 1024 * 1024;

export interface WhisperStateOptions {
  /** Delay before a batched write, ms; default 1000. */
  flushDelayMs?: number;
  /** Senders with a full replay window; default 256. */
  maxFullGuards?: number;
  /** Senders remembered at all; default 10000. */
  maxSenders?: number;
  /** Clock for the counter, ms since the epoch; default `Date.now`. */
  now?: () => number;
  /** Told about a batched write that failed (the state stays dirty and is tried again). */
  onError?: (error: unknown) => void;
}

interface SenderEntry {
  /** Display spelling (first seen). */
  user: string;
  guard: ReplayGuard;
  /** Holds no remembered counters, only a floor. */
  compact: boolean;
}

export class WhisperState {
  /** Full path of the state file. */
  readonly path: string;
  /** The sender counter for whispers this user seals; call `changed()` after `next()`. */
  readonly counter: WhisperCounter;
  private readonly senders: Map<string, SenderEntry>;
  private readonly flushDelayMs: number;
  private readonly maxFullGuards: number;
  private readonly maxSenders: number;
  private readonly onError: (error: unknown) => void;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  private constructor(file: string, counter: WhisperCounter, senders: Map<string, SenderEntry>, options: WhisperStateOptions) {
    this.path = file;
    this.counter = counter;
    this.senders = senders;
    this.flushDelayMs = options.flushDelayMs ?? 1_000;
    this.maxFullGuards = options.maxFullGuards ?? 256;
    this.maxSenders = options.maxSenders ?? 10_000;
    this.onError = options.onError ?? (() => {});
  }

  /**
   * Opens the state in `dir` (a missing file is an empty state). Throws `E_CORRUPT_FILE` when
   * the file exists but is not a valid state file; it is left untouched.
   */
  static async open(dir: string, options: WhisperStateOptions = {}): Promise<WhisperState> {
    const file = path.join(dir, WHISPER_STATE_FILE_NAME);
    const text = await readPrivateFile(file, MAX_FILE_BYTES, []);
    if (text === undefined) {
      await ensurePrivateDir(dir);
      return new WhisperState(file, new WhisperCounter({ now: options.now }), new Map(), options);
    }
    const { counter, senders } = parseStateFile(file, text, options.now);
    return new WhisperState(file, counter, senders, options);
  }

  /** How many senders are remembered (full and compact). */
  get senderCount(): number {
    return this.senders.size;
  }

  /**
   * The replay guard of `user`, made on first use. It becomes the most recently active sender.
   * Call `changed()` once it accepted a counter.
   */
  guardFor(user: string): ReplayGuard {
    const key = nameKey(user);
    let entry = this.senders.get(key);
    if (entry) {
      this.senders.delete(key);
    } else {
      entry = { user, guard: new ReplayGuard(), compact: false };
    }
    entry.compact = false;
    this.senders.set(key, entry);
    this.enforceBounds();
    return entry.guard;
  }

  /** Marks the state changed; a write follows within `flushDelayMs`. */
  changed(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush().catch(this.onError);
    }, this.flushDelayMs);
    this.timer.unref();
  }

  /** Writes now if anything changed since the last write. Writes never overlap. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const run = async (): Promise<void> => {
      if (!this.dirty) return;
      this.dirty = false;
      try {
        await writePrivateFileAtomic(this.path, this.serialise());
      } catch (error) {
        this.dirty = true;
        throw error;
      }
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private enforceBounds(): void {
    let full = 0;
    for (const entry of this.senders.values()) if (!entry.compact) full += 1;
    // Oldest first: compact the least recently active full guards, then forget the oldest senders.
    for (const [key, entry] of this.senders) {
      if (full <= this.maxFullGuards) break;
      if (entry.compact) continue;
      this.senders.set(key, { ...entry, guard: compacted(entry.guard), compact: true });
      full -= 1;
    }
    for (const key of this.senders.keys()) {
      if (this.senders.size <= this.maxSenders) break;
      this.senders.delete(key);
    }
  }

  private serialise(): string {
    const senders = [...this.senders.values()].map((entry) => ({ user: entry.user, guard: entry.guard.toJSON() }));
    return JSON.stringify({ v: 1, kind: FILE_KIND, counter: this.counter.toJSON(), senders }) + '\n';
  }
}

/** A guard that refuses everything up to the highest counter `guard` accepted, remembering nothing else. */
function compacted(guard: ReplayGuard): ReplayGuard {
  const state = guard.toJSON();
  const highest = state.seen.length > 0 ? state.seen[state.seen.length - 1] : state.floor;
  return ReplayGuard.fromJSON({ v: 1, window: state.window, floor: highest, seen: [] });
}

function parseStateFile(file: string, text: string, now?: () => number): { counter: WhisperCounter; senders: Map<string, SenderEntry> } {
  const corrupt = (why: string) => new ChatError('E_CORRUPT_FILE', `${file}: ${why}; it was left untouched`, { path: file });
  let data: { v?: unknown; kind?: unknown; counter?: unknown; senders?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch {
    throw corrupt('not valid JSON');
  }
  if (typeof data !== 'object' || data === null || data.kind !== FILE_KIND) throw corrupt('not a securechat whisper state file');
  if (data.v !== 1) throw corrupt(`unsupported whisper state version ${String(data.v)}`);
  if (!Array.isArray(data.senders)) throw corrupt('no senders');
  let counter: WhisperCounter;
  try {
    counter = WhisperCounter.fromJSON(data.counter, now);
  } catch {
    throw corrupt('damaged counter');
  }
  const senders = new Map<string, SenderEntry>();
  for (const item of data.senders as unknown[]) {
    const entry = item as { user?: unknown; guard?: unknown } | null;
    if (typeof entry !== 'object' || entry === null || !isValidName(entry.user)) throw corrupt('bad sender entry');
    let guard: ReplayGuard;
    try {
      guard = ReplayGuard.fromJSON(entry.guard);
    } catch {
      throw corrupt(`damaged replay guard for ${entry.user}`);
    }
    senders.set(nameKey(entry.user), { user: entry.user, guard, compact: guard.toJSON().seen.length === 0 });
  }
  return { counter, senders };
}
