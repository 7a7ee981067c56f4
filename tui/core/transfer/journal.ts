import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fromBase64Strict } from '../../../shared/crypto/bytes.js';
import { PUBLIC_KEY_BYTES } from '../../../shared/crypto/identity.js';
import { ChatError, asChatError } from '../../../shared/errors.js';
import { isValidName } from '../../../shared/names.js';
import { CANDIDATE_KINDS } from './candidates.js';
import { MAX_RAW_NAME_CHARS } from '../../../shared/filename.js';
import { TRANSFER_ID_PATTERN } from './wire.js';
import { ensurePrivateDir, readPrivateFile, writePrivateFileAtomic } from '../private-file.js';
import type { TransferResumeState } from './transfer.js';

/**
 * The transfer journal: what a running peer-to-peer file transfer needs to survive a restart
 * of this client process. One small JSON file per transfer in the user's data folder
 * (`<data>/users/<name>/transfers/transfer-<hex of the id>.json`, folder 0700, files 0600,
 * replaced atomically), written once the transfer is accepted (and again when a session
 * starts or the peer's addresses change), deleted when it ends.
 *
 * A record holds this side's per-transfer TLS private key: the peer was told that
 * certificate's fingerprint in the sealed offer/accept and accepts no other, so a restarted
 * client must present the same one. That key only ever authenticates this one transfer, it
 * is deleted with the record, and it lives exactly as long (and as protected) as the identity
 * keys beside it.
 *
 * Records are read back like network input: parsed with zod, ids, names, paths and
 * credentials checked again by the code that uses them. A record that does not parse is
 * reported and deleted (it can never be resumed, and it may hold a key); one written by a
 * newer version is reported and left alone.
 *
 * File (v1): { v: 1, kind: 'securechat-transfer', savedMs, peer, peerKeys: { sign, box },
 *              ...TransferResumeState }
 */
export const TRANSFER_JOURNAL_DIR_NAME = 'transfers';
const RECORD_KIND = 'securechat-transfer';
const RECORD_VERSION = 1;
/** A record is a few KiB (two PEMs, 16 candidates, paths); anything larger is not ours. */
const MAX_RECORD_BYTES = 64 * 1024;
const RECORD_FILE = /^transfer-([0-9a-f]{16,128})\.json$/;
/** Temp files of an interrupted write (private-file.ts names them `.<file>.<pid>.<random>.tmp`). */
const TEMP_FILE = /^\.transfer-[0-9a-f]+\.json\.\d+\.[0-9a-f]+\.tmp$/;
/** A temp file older than this is left over from a crash (a write takes milliseconds). */
const STALE_TEMP_MS = 60_000;

/** One journalled transfer: the transfer's own state plus who it is with. */
export interface TransferJournalRecord extends TransferResumeState {
  /** The other user (as the relay spells the name). */
  peer: string;
  /**
   * The peer's pinned public keys (base64) when the transfer was agreed: the keys its sealed
   * offer/accept was sealed to or opened with. A different pin after a restart means another
   * identity, and the transfer is not resumed (E_KEY_CHANGED).
   */
  peerKeys: { sign: string; box: string };
  /** When this record was written, ms since the epoch. */
  savedMs: number;
}

/** A record that could not be used, for the user to see. */
export interface JournalProblem {
  file: string;
  error: ChatError;
}

const publicKey = z.string().refine((text) => fromBase64Strict(text, PUBLIC_KEY_BYTES) !== undefined, 'not a 32-byte base64 key');
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const absolutePath = z.string().min(1).max(4096).refine((p) => path.isAbsolute(p) && !p.includes('\0'), 'not an absolute path');
const pem = z.string().min(1).max(8192);

const RecordSchema = z
  .object({
    v: z.literal(RECORD_VERSION),
    kind: z.literal(RECORD_KIND),
    savedMs: byteCount,
    transferId: z.string().regex(TRANSFER_ID_PATTERN),
    role: z.enum(['sender', 'receiver']),
    peer: z.string().refine(isValidName, 'not a user name'),
    peerKeys: z.object({ sign: publicKey, box: publicKey }).strict(),
    name: z.string().min(1).max(MAX_RAW_NAME_CHARS),
    size: byteCount,
    /** '' until known: a sender learns it while sending, a receiver from the sender's `end`. */
    hash: z.string().regex(/^([0-9a-f]{128})?$/),
    credentials: z.object({ key: pem, cert: pem }).strict(),
    peerFingerprint: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/),
    // Checked in detail (IP literals, loopback policy) by checkCandidates when restored.
    peerCandidates: z
      .array(z.object({ kind: z.enum(CANDIDATE_KINDS as [string, ...string[]]), host: z.string().max(64), port: z.number().int().min(1).max(65535) }).strict())
      .max(64),
    sessions: z.number().int().nonnegative().max(1_000_000),
    ackedBytes: byteCount,
    file: z.object({ path: absolutePath, mtimeMs: z.number().finite().nonnegative() }).strict().optional(),
    receive: z.object({ partPath: absolutePath, directory: absolutePath }).strict().optional(),
  })
  .strict()
  .refine((r) => r.ackedBytes <= r.size, 'more bytes acknowledged than the file has')
  .refine((r) => (r.role === 'sender' ? r.file !== undefined && r.receive === undefined : r.receive !== undefined && r.file === undefined), 'the record does not match its role');

/** The record's file name: the id in hex, so ids that differ only in case never share a file. */
export function journalFileName(transferId: string): string {
  return `transfer-${Buffer.from(transferId, 'utf8').toString('hex')}.json`;
}

/** Parses one record's text; throws E_CORRUPT_FILE (with `details.newer` for a later version). */
export function parseJournalRecord(text: string): TransferJournalRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ChatError('E_CORRUPT_FILE', 'not valid JSON');
  }
  const head = value as { v?: unknown; kind?: unknown } | null;
  if (typeof head === 'object' && head !== null && head.kind === RECORD_KIND && typeof head.v === 'number' && head.v > RECORD_VERSION) {
    throw new ChatError('E_CORRUPT_FILE', `written by a newer version (v${head.v})`, { newer: true });
  }
  const parsed = RecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ChatError('E_CORRUPT_FILE', `not a transfer record (${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'})`);
  }
  const { v: _v, kind: _kind, ...record } = parsed.data;
  return record as TransferJournalRecord;
}

/**
 * The journal folder of one user. Writes for one transfer run in order; once a transfer is
 * removed, late writes for it are dropped, so an ended transfer never comes back.
 */
export class TransferJournal {
  private readonly chains = new Map<string, Promise<void>>();
  private readonly removed = new Set<string>();

  /** @param dir the journal folder (created 0700 on the first write) */
  constructor(readonly dir: string) {}

  /** Full path of a transfer's record. */
  fileOf(transferId: string): string {
    return path.join(this.dir, journalFileName(transferId));
  }

  /** Writes (or replaces) a transfer's record, atomically, 0600. Rejects with the file system's error. */
  save(record: TransferJournalRecord): Promise<void> {
    const id = record.transferId;
    if (!TRANSFER_ID_PATTERN.test(id)) return Promise.reject(new ChatError('E_PROTOCOL', 'bad transfer id'));
    const text = JSON.stringify({ v: RECORD_VERSION, kind: RECORD_KIND, ...record }, null, 2) + '\n';
    return this.enqueue(id, async () => {
      if (this.removed.has(id)) return;
      await ensurePrivateDir(this.dir);
      await writePrivateFileAtomic(this.fileOf(id), text);
    });
  }

  /** Deletes a transfer's record (and its key) after any write still queued; later saves are dropped. */
  remove(transferId: string): Promise<void> {
    this.removed.add(transferId);
    if (!TRANSFER_ID_PATTERN.test(transferId)) return Promise.resolve();
    return this.enqueue(transferId, () => fs.rm(this.fileOf(transferId), { force: true }));
  }

  /** Resolves once every write and delete queued so far is done (failed ones included). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /**
   * Reads every record. Unusable ones come back as `problems` and are deleted, except those
   * of a newer version; temp files left by a crash in the middle of a write are deleted too.
   * A missing folder is an empty journal.
   */
  async load(): Promise<{ records: TransferJournalRecord[]; problems: JournalProblem[] }> {
    const records: TransferJournalRecord[] = [];
    const problems: JournalProblem[] = [];
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records, problems };
      throw error;
    }
    for (const name of names.sort()) {
      const file = path.join(this.dir, name);
      if (TEMP_FILE.test(name)) {
        await this.removeStaleTemp(file);
        continue;
      }
      const match = RECORD_FILE.exec(name);
      if (match === null) continue;
      try {
        const warnings: string[] = [];
        const text = await readPrivateFile(file, MAX_RECORD_BYTES, warnings);
        if (text === undefined) continue; // deleted meanwhile
        const record = parseJournalRecord(text);
        if (journalFileName(record.transferId) !== name) throw new ChatError('E_CORRUPT_FILE', 'the record is not for the transfer its file name says');
        records.push(record);
      } catch (error) {
        const chatError = asChatError(error, 'E_CORRUPT_FILE');
        problems.push({ file, error: chatError });
        if (chatError.details.newer !== true) await fs.rm(file, { force: true }).catch(() => undefined);
      }
    }
    return { records, problems };
  }

  private async removeStaleTemp(file: string): Promise<void> {
    try {
      const stat = await fs.lstat(file);
      if (Date.now() - stat.mtimeMs > STALE_TEMP_MS) await fs.rm(file, { force: true });
    } catch {
      // gone already
    }
  }

  private enqueue(id: string, job: () => Promise<void>): Promise<void> {
    // The chain only ever holds settled promises: one failed write does not stop the next.
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(job);
    const settled = next.catch(() => undefined);
    this.chains.set(id, settled);
    void settled.then(() => {
      if (this.chains.get(id) === settled) this.chains.delete(id);
    });
    return next;
  }
}
