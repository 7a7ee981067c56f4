import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ChatError } from '../../shared/errors.js';
import { SESSION_STORE_LIMITS } from '../../shared/limits.js';
import { PRIVATE_FILE_MODE, readPrivateFile, syncDir, writePrivateFileAtomic } from './private-file.js';

/**
 * An append-only journal in front of a folder of per-key snapshot files (the sessions of each
 * contact, session-store.ts): the cheap write that lets a session body leave only after its
 * advanced sending state is written (docs/crypto.md "The rule that keeps message keys
 * single-use").
 *
 * Why: replacing a contact's file atomically (temp file, fsync, rename, fsync of the folder)
 * cost 1.4-3 ms here and was most of a whisper's round trip; an append and an fdatasync 0.6-0.7
 * ms; a write into blocks already written (zeros, `JOURNAL_PREALLOCATE`) and an fdatasync
 * 0.4-0.5 ms, as the file's size and extents do not change (no file system journal commit).
 * That last is what this does, in two steps with a promise each (`append`): `written` once the
 * record is in the file (write(2) into the page cache returned: a kill -9 of the process loses
 * nothing of it), `durable` once an fdatasync that began after that write has returned (a
 * power loss or an OS crash loses nothing of it). Every `append` made in one turn of the event
 * loop (and those made while a write is under way) goes out in one write. The fdatasyncs run in
 * the background, one at a time, each covering every record written before it began (group
 * commit), and never hold the next write back: at once when a caller needs a record durable
 * (`sync`), else within `journalSyncMs` of the record's write. Why not always at once: nothing
 * waits for most of them, and they share Node's four I/O threads with the writes something
 * waits for (a new session's, the key pins'); in the bench's whisper-mesh the 50 clients share
 * one process's four, and a run with 32 threads had whisper p99 11.5 s against 34-35 s with four
 * (one loaded machine; docs/crypto.md "Bench figures").
 *
 * Format: one line per record, `{"k": key, "s": text}\n`, where `text` is the whole snapshot of
 * that key as the caller encoded it (sealed under the passphrase when one is set: the journal
 * holds nothing the snapshot files would not), then zeros to the end of the file (the first NUL
 * ends the journal; JSON never holds one). The last record of a key wins.
 *
 * Recovery (`open`): complete records are replayed into the snapshot files (each replaced
 * atomically), then the journal is emptied. What a crash leaves is always a prefix of the
 * records written, cut at the first NUL: records only ever go into zeros, so a block the disk
 * never got reads as zeros and ends the journal there, whatever later blocks it did get. A torn
 * tail (a record without its newline, or bytes that do not parse, after the last good record) is
 * the end of that prefix: dropped, the state before it continues (session-store.ts's
 * reservations make that safe). A bad record followed by good ones is no prefix of what was
 * written: `E_CORRUPT_FILE`, the journal left untouched.
 *
 * Compaction: once the journal passes `journalCompactBytes`, and at close, the fdatasyncs under
 * way are waited for, the last record of each key is written to its snapshot file (atomically,
 * durably), then the journal's first byte is zeroed and synced (from then on it reads as empty,
 * whatever else a crash leaves), then the rest of what was written, synced before the next
 * record goes in; appends made meanwhile wait for the next batch.
 */
const JOURNAL_PREALLOCATE = SESSION_STORE_LIMITS.journalCompactBytes + 256 * 1024;

/** What one `append` promises: the record in the file, and later on the disk. */
export interface Appended {
  /** The record is in the file (write(2) returned): it survives the process being killed. */
  readonly written: Promise<void>;
  /** An fdatasync covering the record returned (within `journalSyncMs`): it survives a power loss. */
  readonly durable: Promise<void>;
  /** Asks for that fdatasync now; returns `durable`. */
  sync(): Promise<void>;
}

class Deferred {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(() => {}); // a caller may look at only one of the two promises
  }
}

interface Waiting {
  key: string;
  text: string;
  line: string;
  written: Deferred;
  durable: Deferred;
  /** An fdatasync that covers it has begun. */
  covered: boolean;
}

export class StateJournal {
  private waiting: Waiting[] = [];
  /** Records written and not yet covered by an fdatasync that began after them. */
  private unsynced: Waiting[] = [];
  /** The background fdatasync loop, while it runs (it never rejects). */
  private syncing: Promise<void> | null = null;
  /** An fdatasync was asked for (`sync`, `settle`, or `journalSyncMs` passed): the loop runs until none is. */
  private urgent = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Batches and checkpoints run one after the other, chained here (no polling: a close stays quick). */
  private tail: Promise<void> = Promise.resolve();
  /** The last text of each key written to the journal and not yet to its snapshot file. */
  private readonly latest = new Map<string, string>();
  private broken: unknown = null;

  private constructor(
    private readonly file: string,
    private handle: fs.FileHandle | null,
    private readonly snapshot: (key: string) => string,
    private size: number,
  ) {}

  /**
   * Opens (or makes) the journal `file`, 0600, replaying any records left by the last run into
   * `snapshot(key)` first. `validKey` guards the file names a damaged journal could name.
   */
  static async open(file: string, snapshot: (key: string) => string, validKey: (key: string) => boolean, warnings: string[]): Promise<StateJournal> {
    const text = await readPrivateFile(file, SESSION_STORE_LIMITS.maxJournalBytes, warnings);
    const used = text?.split('\0', 1)[0];
    if (used) {
      const records = parseJournal(used, file, validKey);
      await Promise.all([...records].map(([key, value]) => writePrivateFileAtomic(snapshot(key), value)));
      await (await openJournal(file)).close(); // emptied: everything in it is in the snapshot files now
    }
    // Opened at the first append: a client that never whispers touches nothing at close.
    return new StateJournal(file, null, snapshot, 0);
  }

  /** Queues `text` as `key`'s newest state: `written`, then `durable` (see `Appended`). */
  append(key: string, text: string): Appended {
    const waiting: Waiting = { key, text, line: `${JSON.stringify({ k: key, s: text })}\n`, written: new Deferred(), durable: new Deferred(), covered: false };
    if (this.broken) {
      waiting.written.reject(this.broken);
      waiting.durable.reject(this.broken);
    } else {
      this.waiting.push(waiting);
      if (this.waiting.length === 1) setImmediate(() => void this.exclusive(() => this.run()));
    }
    return {
      written: waiting.written.promise,
      durable: waiting.durable.promise,
      sync: () => {
        if (!waiting.covered) {
          this.urgent = true;
          this.kick();
        }
        return waiting.durable.promise;
      },
    };
  }

  /** `key`'s snapshot file was removed: compaction must not write it back. */
  forget(key: string): void {
    this.latest.delete(key);
  }

  /**
   * Writes the latest state of every key to its snapshot file, empties the journal and closes it
   * (the client closes); an append after it opens the journal again.
   */
  async checkpoint(): Promise<void> {
    return this.exclusive(async () => {
      if (this.broken) throw this.broken;
      await this.settle();
      await this.compact();
      await this.handle?.close();
      this.handle = null;
    });
  }

  private exclusive(job: () => Promise<void>): Promise<void> {
    const done = this.tail.then(job);
    this.tail = done.catch(() => {});
    return done;
  }

  /** Writes what waits, batch after batch (appends made during a write form the next batch). */
  private async run(): Promise<void> {
    while (this.waiting.length > 0 && !this.broken) {
      const batch = this.waiting;
      this.waiting = [];
      const lines = Buffer.from(batch.map((w) => w.line).join(''));
      try {
        this.handle ??= await openJournal(this.file);
        // On the thread pool, not writeSync: a write(2) into the page cache is microseconds, but
        // not always (pages under writeback, a busy disk), and the event loop must not wait for it.
        await writeAt(this.handle, lines, this.size);
      } catch (error) {
        await this.undo(error, lines.length);
        for (const w of batch) {
          w.written.reject(error);
          w.durable.reject(error);
        }
        continue;
      }
      this.size += lines.length;
      for (const w of batch) this.latest.set(w.key, w.text);
      for (const w of batch) w.written.resolve();
      this.unsynced.push(...batch);
      this.kick();
      if (this.size >= SESSION_STORE_LIMITS.journalCompactBytes) {
        try {
          await this.settle();
          if (this.broken) break;
          await this.compact();
        } catch (error) {
          this.broken = error; // the journal still holds every record; the next start replays it
        }
      }
    }
    if (this.broken) {
      for (const w of this.waiting.splice(0)) {
        w.written.reject(this.broken);
        w.durable.reject(this.broken);
      }
    }
  }

  /** Starts the fdatasync loop if one is asked for, else makes sure one comes within `journalSyncMs`. */
  private kick(): void {
    if (this.syncing || this.unsynced.length === 0 || !this.handle) return; // a running loop looks again when its fdatasync returns
    if (this.urgent) {
      if (this.syncTimer) clearTimeout(this.syncTimer);
      this.syncTimer = null;
      this.syncing = this.syncLoop(this.handle);
    } else {
      this.syncTimer ??= setTimeout(() => {
        this.syncTimer = null;
        this.urgent = true;
        this.kick();
      }, SESSION_STORE_LIMITS.journalSyncMs);
      this.syncTimer.unref(); // an exit without a close leaves the records in the page cache, as a kill would
    }
  }

  /** fdatasync after fdatasync while one is asked for; each covers what was written before it began. */
  private async syncLoop(handle: fs.FileHandle): Promise<void> {
    try {
      while (this.unsynced.length > 0 && this.urgent) {
        this.urgent = false;
        const covered = this.unsynced;
        this.unsynced = [];
        for (const w of covered) w.covered = true;
        try {
          await handle.datasync();
        } catch (error) {
          // Nothing written since can be trusted to reach the disk either (Linux may drop the pages).
          this.broken ??= new ChatError('E_CORRUPT_FILE', `${this.file} could not be synced: ${(error as Error).message}`, { path: this.file });
          for (const w of [...covered, ...this.unsynced.splice(0)]) w.durable.reject(this.broken);
          return;
        }
        for (const w of covered) w.durable.resolve();
      }
    } finally {
      this.syncing = null;
    }
    this.kick(); // records written since, not asked for: within journalSyncMs
  }

  /** Waits until every record written is durable (or the journal broke). */
  private async settle(): Promise<void> {
    this.urgent = true;
    this.kick();
    while (this.syncing) await this.syncing;
  }

  /** A failed write may have left part of a record: zeros over it again (good records may follow it), or stop. */
  private async undo(error: unknown, length: number): Promise<void> {
    try {
      if (this.handle) {
        await writeAt(this.handle, Buffer.alloc(length), this.size);
        await this.handle.datasync();
      }
    } catch {
      this.broken = new ChatError('E_CORRUPT_FILE', `${this.file} could not be written: ${(error as Error).message}`, { path: this.file });
    }
  }

  private async compact(): Promise<void> {
    if (!this.handle) return; // closed: compacted then, nothing written since
    const entries = [...this.latest];
    await Promise.all(entries.map(([key, text]) => writePrivateFileAtomic(this.snapshot(key), text)));
    if (this.size > 0) {
      await writeAt(this.handle, Buffer.alloc(1), 0);
      await this.handle.datasync(); // empty from here on, even if a crash leaves the rest
      await writeAt(this.handle, Buffer.alloc(this.size - 1), 1);
      await this.handle.datasync(); // all zeros before the next record goes in at 0
    }
    this.size = 0;
    this.latest.clear(); // no batch is written while this runs: the journal held exactly `entries`
  }
}

/** Opens the journal emptied and filled with zeros, 0600; its name and blocks durable before its first record counts. */
async function openJournal(file: string): Promise<fs.FileHandle> {
  const handle = await fs.open(file, 'w', PRIVATE_FILE_MODE);
  try {
    await handle.chmod(PRIVATE_FILE_MODE); // the umask may have cleared bits we asked for; never loosened
    await writeAt(handle, Buffer.alloc(JOURNAL_PREALLOCATE), 0);
    await handle.sync();
    await syncDir(path.dirname(file));
  } catch (error) {
    await handle.close();
    throw error;
  }
  return handle;
}

/** Writes all of `bytes` at `position` (one write(2) may be short). */
async function writeAt(handle: fs.FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** The last record of each key; a torn tail is dropped, damage before a good record is E_CORRUPT_FILE. */
function parseJournal(text: string, file: string, validKey: (key: string) => boolean): Map<string, string> {
  const records = new Map<string, string>();
  let damaged = false;
  let start = 0;
  for (let end = text.indexOf('\n'); end !== -1; start = end + 1, end = text.indexOf('\n', start)) {
    const record = parseRecord(text.slice(start, end), validKey);
    if (!record) {
      damaged = true;
      continue;
    }
    if (damaged) throw new ChatError('E_CORRUPT_FILE', `${file} has a damaged record before good ones; it was left untouched`, { path: file });
    records.set(record.k, record.s);
  }
  return records;
}

function parseRecord(line: string, validKey: (key: string) => boolean): { k: string; s: string } | null {
  try {
    const record = JSON.parse(line) as { k?: unknown; s?: unknown };
    return typeof record?.k === 'string' && typeof record.s === 'string' && validKey(record.k) ? { k: record.k, s: record.s } : null;
  } catch {
    return null;
  }
}
