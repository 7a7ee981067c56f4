import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { fromBase64Strict } from '../../../shared/crypto/bytes.js';
import { PUBLIC_KEY_BYTES } from '../../../shared/crypto/identity.js';
import { ChatError, asChatError } from '../../../shared/errors.js';
import { isValidName } from '../../../shared/names.js';
import { CANDIDATE_KINDS } from './candidates.js';
import { FILE_HASH_HEX } from './file-hash.js';
import { MAX_RAW_NAME_CHARS } from '../../../shared/filename.js';
import { FOLDER_LIMITS } from '../../../shared/limits.js';
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
 *              ...TransferResumeState, folder? }
 *
 * A folder transfer (folders.ts) has a record of its own beside its files' records,
 * `folder-<hex of the id>.json`, written and read by the same code: { v: 1, kind:
 * 'securechat-folder', savedMs, peer, peerKeys, ...FolderResumeState }. Each file of the folder
 * keeps its ordinary transfer record (with `folder`: the folder's id) while it runs.
 */
export const TRANSFER_JOURNAL_DIR_NAME = 'transfers';
const RECORD_KIND = 'securechat-transfer';
const RECORD_VERSION = 1;
/** A record is a few KiB (two PEMs, 16 candidates, paths); anything larger is not ours. */
const MAX_RECORD_BYTES = 64 * 1024;
const RECORD_FILE = /^transfer-([0-9a-f]{16,128})\.json$/;
const FOLDER_KIND = 'securechat-folder';
const FOLDER_FILE = /^folder-([0-9a-f]{16,128})\.json$/;
/** Temp files of an interrupted write (private-file.ts names them `.<file>.<pid>.<random>.tmp`). */
const TEMP_FILE = /^\.(transfer|folder)-[0-9a-f]+\.json\.(\d+)\.[0-9a-f]+\.tmp$/;
/**
 * A temp file older than this is left over from a crash (a write takes milliseconds); so is one
 * whose writer (the pid in its name) no longer runs.
 */
const STALE_TEMP_MS = 60_000;

/** One journalled transfer: the transfer's own state plus who it is with. */
/** A peer's pinned public keys (base64), as journalled with a transfer agreed with them. */
export interface PeerKeys {
  sign: string;
  box: string;
}

export interface TransferJournalRecord extends TransferResumeState {
  /** The other user (as the relay spells the name). */
  peer: string;
  /**
   * The peer's pinned public keys (base64) when the transfer was agreed: the keys its sealed
   * offer/accept was sealed to or opened with. A different pin after a restart means another
   * identity, and the transfer is not resumed (E_KEY_CHANGED).
   */
  peerKeys: PeerKeys;
  /** When this record was written, ms since the epoch. */
  savedMs: number;
  /** The folder transfer this file is one of (its own record: {@link FolderJournalRecord}). */
  folder?: string;
}

/**
 * What a folder transfer needs to go on in a later run (folders.ts): the folder as agreed
 * (id, name, the counts the offer announced), where it is on this side, its files in order
 * and how many are done, and the transfer of the file under way.
 */
export interface FolderResumeState {
  folderId: string;
  role: 'sender' | 'receiver';
  /** The folder's name (receiver: as sanitized, the name of `dir`). */
  name: string;
  /** Files and bytes the folder offer announced. */
  files: number;
  size: number;
  /** Sender: the folder sent. Receiver: the folder made for it. */
  dir: string;
  /**
   * The files in order, each with its relative path (`/`-separated, as sent), size and hash
   * when known. Sender: every file, with the mtime it had when walked (a change since means
   * E_FILE_CHANGED). Receiver: the files offered so far.
   */
  entries: Array<{ path: string; size: number; mtimeMs?: number; hash?: string }>;
  /** Files done: entries[0 .. filesDone-1] arrived and their hashes were checked. */
  filesDone: number;
  /** The transfer id of entries[filesDone] once it was offered, else null. */
  current: string | null;
}

export interface FolderJournalRecord extends FolderResumeState {
  peer: string;
  peerKeys: PeerKeys;
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

/**
 * A whole-file hash as the release before issue 15 journalled it: BLAKE2b-512, 128 hex. Such a
 * record still loads (nothing is lost over an upgrade) and the hash is forgotten, as if not
 * known yet: the transfer learns it again at its end (the sender hashes while sending, the
 * receiver takes it from `end`), and a folder's entry only kept it to show.
 */
const PREVIOUS_HASH_HEX = /^[0-9a-f]{128}$/;
/** A journalled whole-file hash: today's (file-hash.ts) or the previous one, which the schemas below drop. */
const journalledHash = z.string().refine((text) => FILE_HASH_HEX.test(text) || PREVIOUS_HASH_HEX.test(text), 'not a whole-file hash');
const isFileHash = (hash: string | undefined): hash is string => hash !== undefined && FILE_HASH_HEX.test(hash);

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
    hash: z.union([z.literal(''), journalledHash]).transform((hash) => (isFileHash(hash) ? hash : '')),
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
    folder: z.string().regex(TRANSFER_ID_PATTERN).optional(),
  })
  .strict()
  .refine((r) => r.ackedBytes <= r.size, 'more bytes acknowledged than the file has')
  .refine((r) => (r.role === 'sender' ? r.file !== undefined && r.receive === undefined : r.receive !== undefined && r.file === undefined), 'the record does not match its role');

// Paths are checked again by FolderPathChecker when restored; here only their shape.
const folderEntry = z
  .object({ path: z.string().min(1).max(FOLDER_LIMITS.maxPathBytes), size: byteCount, mtimeMs: z.number().finite().nonnegative().optional(), hash: journalledHash.optional() })
  .strict()
  .transform(({ hash, ...entry }) => (isFileHash(hash) ? { ...entry, hash } : entry));

const FolderRecordSchema = z
  .object({
    v: z.literal(RECORD_VERSION),
    kind: z.literal(FOLDER_KIND),
    savedMs: byteCount,
    folderId: z.string().regex(TRANSFER_ID_PATTERN),
    role: z.enum(['sender', 'receiver']),
    peer: z.string().refine(isValidName, 'not a user name'),
    peerKeys: z.object({ sign: publicKey, box: publicKey }).strict(),
    name: z.string().min(1).max(MAX_RAW_NAME_CHARS),
    files: z.number().int().min(1).max(FOLDER_LIMITS.maxFiles),
    size: byteCount.max(FOLDER_LIMITS.maxTotalBytes),
    dir: absolutePath,
    entries: z.array(folderEntry).max(FOLDER_LIMITS.maxFiles),
    filesDone: z.number().int().nonnegative(),
    current: z.string().regex(TRANSFER_ID_PATTERN).nullable(),
  })
  .strict()
  .refine((r) => r.entries.length <= r.files && r.filesDone <= r.entries.length, 'more files done or listed than the folder has')
  .refine((r) => r.role === 'receiver' || (r.entries.length === r.files && r.entries.every((e) => e.mtimeMs !== undefined)), 'a sender lists every file with its mtime')
  .refine((r) => r.entries.reduce((n, e) => n + e.size, 0) <= r.size, 'more bytes listed than the folder has');

/** The record's file name: the id in hex, so ids that differ only in case never share a file. */
export function journalFileName(transferId: string): string {
  return `transfer-${Buffer.from(transferId, 'utf8').toString('hex')}.json`;
}

/** A folder transfer's record file name (as {@link journalFileName}). */
export function folderJournalFileName(folderId: string): string {
  return `folder-${Buffer.from(folderId, 'utf8').toString('hex')}.json`;
}

function parseRecord<T>(text: string, kind: string, schema: z.ZodType, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ChatError('E_CORRUPT_FILE', 'not valid JSON');
  }
  const head = value as { v?: unknown; kind?: unknown } | null;
  if (typeof head === 'object' && head !== null && head.kind === kind && typeof head.v === 'number' && head.v > RECORD_VERSION) {
    throw new ChatError('E_CORRUPT_FILE', `written by a newer version (v${head.v})`, { newer: true });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ChatError('E_CORRUPT_FILE', `not a ${what} record (${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'})`);
  }
  const { v: _v, kind: _kind, ...record } = parsed.data as { v: number; kind: string };
  return record as unknown as T;
}

/** Parses one record's text; throws E_CORRUPT_FILE (with `details.newer` for a later version). */
export function parseJournalRecord(text: string): TransferJournalRecord {
  return parseRecord<TransferJournalRecord>(text, RECORD_KIND, RecordSchema, 'transfer');
}

/** Parses one folder record's text, as {@link parseJournalRecord}. */
export function parseFolderRecord(text: string): FolderJournalRecord {
  return parseRecord<FolderJournalRecord>(text, FOLDER_KIND, FolderRecordSchema, 'folder transfer');
}

/**
 * The journal folder of one user. Writes for one transfer run in order; once a transfer is
 * removed, late writes for it are dropped, so an ended transfer never comes back.
 */
export class TransferJournal {
  /** Writes and deletes queued per record file, in order. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Record files deleted: later writes to them are dropped. */
  private readonly removed = new Set<string>();

  /** @param dir the journal folder (created 0700 on the first write) */
  constructor(readonly dir: string) {}

  /** Full path of a transfer's record. */
  fileOf(transferId: string): string {
    return path.join(this.dir, journalFileName(transferId));
  }

  /** Full path of a folder transfer's record. */
  folderFileOf(folderId: string): string {
    return path.join(this.dir, folderJournalFileName(folderId));
  }

  /** Writes (or replaces) a transfer's record, atomically, 0600. Rejects with the file system's error. */
  save(record: TransferJournalRecord): Promise<void> {
    if (!TRANSFER_ID_PATTERN.test(record.transferId)) return Promise.reject(new ChatError('E_PROTOCOL', 'bad transfer id'));
    return this.write(journalFileName(record.transferId), { v: RECORD_VERSION, kind: RECORD_KIND, ...record });
  }

  /** Writes (or replaces) a folder transfer's record, as {@link save}. */
  saveFolder(record: FolderJournalRecord): Promise<void> {
    if (!TRANSFER_ID_PATTERN.test(record.folderId)) return Promise.reject(new ChatError('E_PROTOCOL', 'bad folder transfer id'));
    return this.write(folderJournalFileName(record.folderId), { v: RECORD_VERSION, kind: FOLDER_KIND, ...record });
  }

  /**
   * Deletes a transfer's record (and its key) after any write still queued, and after `after`
   * settled when given (a folder's file: once the folder's record says it is done, so that a
   * crash in between never leaves a folder that forgot a file it finished); later saves are dropped.
   */
  remove(transferId: string, after?: Promise<unknown>): Promise<void> {
    if (!TRANSFER_ID_PATTERN.test(transferId)) return Promise.resolve();
    return this.delete(journalFileName(transferId), after);
  }

  /** Deletes a folder transfer's record, as {@link remove}. */
  removeFolder(folderId: string): Promise<void> {
    if (!TRANSFER_ID_PATTERN.test(folderId)) return Promise.resolve();
    return this.delete(folderJournalFileName(folderId));
  }

  /** Resolves once every write and delete queued so far is done (failed ones included). */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  /**
   * Reads every record (file transfers and folder transfers). Unusable ones come back as
   * `problems` and are deleted, except those of a newer version; temp files left by a crash in
   * the middle of a write are deleted too. A missing folder is an empty journal.
   */
  async load(): Promise<{ records: TransferJournalRecord[]; folders: FolderJournalRecord[]; problems: JournalProblem[] }> {
    const records: TransferJournalRecord[] = [];
    const folders: FolderJournalRecord[] = [];
    const problems: JournalProblem[] = [];
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records, folders, problems };
      throw error;
    }
    for (const name of names.sort()) {
      const file = path.join(this.dir, name);
      if (TEMP_FILE.test(name)) {
        await this.removeStaleTemp(file);
        continue;
      }
      const isFolder = FOLDER_FILE.test(name);
      if (!isFolder && !RECORD_FILE.test(name)) continue;
      try {
        const warnings: string[] = [];
        const text = await readPrivateFile(file, isFolder ? FOLDER_LIMITS.maxJournalRecordBytes : MAX_RECORD_BYTES, warnings);
        if (text === undefined) continue; // deleted meanwhile
        if (isFolder) {
          const record = parseFolderRecord(text);
          if (folderJournalFileName(record.folderId) !== name) throw new ChatError('E_CORRUPT_FILE', 'the record is not for the folder transfer its file name says');
          folders.push(record);
        } else {
          const record = parseJournalRecord(text);
          if (journalFileName(record.transferId) !== name) throw new ChatError('E_CORRUPT_FILE', 'the record is not for the transfer its file name says');
          records.push(record);
        }
      } catch (error) {
        const chatError = asChatError(error, 'E_CORRUPT_FILE');
        problems.push({ file, error: chatError });
        if (chatError.details.newer !== true) await fs.rm(file, { force: true }).catch(() => undefined);
      }
    }
    return { records, folders, problems };
  }

  private write(name: string, value: object): Promise<void> {
    const text = JSON.stringify(value, null, 2) + '\n';
    return this.enqueue(name, async () => {
      if (this.removed.has(name)) return;
      await ensurePrivateDir(this.dir);
      await writePrivateFileAtomic(path.join(this.dir, name), text);
    });
  }

  private delete(name: string, after?: Promise<unknown>): Promise<void> {
    this.removed.add(name);
    return this.enqueue(name, async () => {
      await after?.catch(() => undefined);
      await fs.rm(path.join(this.dir, name), { force: true });
    });
  }

  private async removeStaleTemp(file: string): Promise<void> {
    try {
      const writer = Number(TEMP_FILE.exec(path.basename(file))?.[2]);
      const stat = await fs.lstat(file);
      if (Date.now() - stat.mtimeMs > STALE_TEMP_MS || !processRuns(writer)) await fs.rm(file, { force: true });
    } catch {
      // gone already
    }
  }

  private enqueue(name: string, job: () => Promise<void>): Promise<void> {
    // The chain only ever holds settled promises: one failed write does not stop the next.
    const previous = this.chains.get(name) ?? Promise.resolve();
    const next = previous.then(job);
    const settled = next.catch(() => undefined);
    this.chains.set(name, settled);
    void settled.then(() => {
      if (this.chains.get(name) === settled) this.chains.delete(name);
    });
    return next;
  }
}

/** Whether process `pid` still runs (signal 0 checks without sending; EPERM: it runs as someone else). */
function processRuns(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
