import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { encodeControl } from '../shared/codec.js';
import { ChatError } from '../shared/errors.js';
import type { Limits } from '../shared/limits.js';
import { blake2bHex as blake2bHexSchema, fileSize, roomFileId, type RoomFileInfo } from '../shared/messages.js';
import { nameKey } from '../shared/names.js';
import { sanitizeFileName } from '../shared/filename.js';
import { z } from 'zod';
import type { ClusterBus } from './bus.js';
import { parseChecked } from './checked-json.js';
import type { RelayStore, StoredRoomFile } from './store.js';

type RoomFileLimits = Pick<
  Limits,
  | 'roomFileMaxBytes'
  | 'roomFilesPerUserBytes'
  | 'roomFilesTotalBytes'
  | 'roomFileMaxAgeMs'
  | 'roomFileTicketTtlMs'
  | 'roomFileTicketsPerUser'
  | 'roomFileStallMs'
>;

/** Who asks, and in which room (the caller checked they are logged in and in it). */
export interface RoomFileRequester {
  userName: string;
  userKey: string;
  roomName: string;
  roomKey: string;
}

const key = z.string().min(1).max(256);

/** What an upload ticket carries (in the cluster bus, so checked again when redeemed). */
const UploadTicketSchema = z.object({
  userKey: key,
  roomKey: key,
  file: z.object({
    id: roomFileId,
    room: key,
    name: z.string().min(1).max(1024),
    size: fileSize,
    hash: blake2bHexSchema,
    from: key,
    time: z.number(),
    path: z.string().regex(/^[0-9a-f]{32}$/),
  }),
});

const DownloadTicketSchema = z.object({ userKey: key, roomKey: key, fileId: roomFileId });

type UploadTicket = z.infer<typeof UploadTicketSchema>;
type DownloadTicket = z.infer<typeof DownloadTicketSchema>;

const TICKET_SCHEMAS = { put: UploadTicketSchema, get: DownloadTicketSchema } as const;
type FileTicketKind = keyof typeof TICKET_SCHEMAS;
type FileTicketOf<K extends FileTicketKind> = z.infer<(typeof TICKET_SCHEMAS)[K]>;

/** Disk names are ours alone: 32 lowercase hex characters. */
const DISK_NAME = /^[0-9a-f]{32}$/;
const SWEEP_EVERY_MS = 60 * 60_000;
/** A stored file nothing indexes is deleted at start only when older than this (another relay may be about to index it). */
const ORPHAN_AGE_MS = 24 * 60 * 60_000;

export function blake2bHex(data: Buffer): string {
  return createHash('blake2b512').update(data).digest('hex');
}

/** A ticket's record as the bus gave it back, checked; undefined when it is not one. */
function parseTicket<K extends FileTicketKind>(kind: K, record: string): FileTicketOf<K> | undefined {
  return parseChecked(TICKET_SCHEMAS[kind], record) as FileTicketOf<K> | undefined;
}

function toInfo(file: StoredRoomFile): RoomFileInfo {
  return { id: file.id, name: file.name, size: file.size, hash: file.hash, from: file.from, time: file.time };
}

/**
 * Files stored on the relay for a room (/upload, /files, /download). The bytes are written
 * under generated names in `<dataDir>/files`; LevelDB holds only the index. Uploads and
 * downloads run on their own side connections opened with one-time tickets, so the chat
 * connection never carries file bytes. Tickets live on the cluster bus, so a side connection
 * may reach any relay of a cluster. Quotas count stored files, live upload tickets (cluster
 * wide) and uploads arriving at this relay: an upload streaming into another relay counts
 * there, so in a cluster a user can overshoot by the uploads they have in flight at once.
 */
export class RoomFiles {
  readonly directory: string;
  /** Bytes of uploads arriving at this relay (ticket redeemed, not yet stored), per user. */
  private readonly reserved = new Map<string, number>();
  private readonly open = new Set<TLSSocket>();
  private sweepTimer: NodeJS.Timeout | undefined;

  /**
   * `directory`: where the bytes live (`--files`; default `<data folder>/files`), shared by
   * every relay of a cluster, as is the index (the store). `relayId` names this relay's
   * uploads in progress, so no relay's clean-up touches another's.
   */
  constructor(
    private readonly store: RelayStore,
    private readonly bus: ClusterBus,
    directory: string,
    private readonly relayId: string,
    private readonly limits: RoomFileLimits,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.directory = directory;
  }

  /**
   * Deletes expired files, this relay's uploads cut short by a crash, and stored files that
   * nothing indexes (older than a day: a file another relay has just moved into place is
   * indexed a moment later); starts the hourly sweep.
   */
  async init(): Promise<void> {
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    await this.sweep();
    const indexed = new Set((await this.store.allRoomFiles()).map((entry) => entry.file.path));
    const orphanBefore = this.now() - ORPHAN_AGE_MS;
    for (const name of await readdir(this.directory)) {
      const path = join(this.directory, name);
      const mine = name.endsWith(this.partSuffix);
      const orphan = DISK_NAME.test(name) && !indexed.has(name) && ((await stat(path).catch(() => undefined))?.mtimeMs ?? Infinity) < orphanBefore;
      if (mine || orphan) await unlink(path).catch(() => undefined);
    }
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((error) => this.log(`room files sweep: ${(error as Error)?.message ?? error}`));
    }, SWEEP_EVERY_MS);
    this.sweepTimer.unref();
  }

  /** Deletes files older than roomFileMaxAgeMs. */
  async sweep(): Promise<number> {
    const oldest = this.now() - this.limits.roomFileMaxAgeMs;
    let removed = 0;
    // Every relay of a cluster sweeps; deleting a file twice is harmless.
    for (const { roomKey, file } of await this.store.allRoomFiles()) {
      if (file.time >= oldest) continue;
      await this.store.deleteRoomFile(roomKey, file.id);
      await unlink(this.diskPath(file.path)).catch(() => undefined);
      removed++;
    }
    if (removed > 0) this.log(`room files: ${removed} expired file(s) deleted`);
    return removed;
  }

  /** Stops the sweep and ends every side connection (shutdown). */
  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const socket of this.open) socket.destroy();
  }

  /** Bytes stored and reserved (live upload tickets, uploads arriving here) by one user, and by everyone. */
  async usage(userKey: string): Promise<{ user: number; total: number }> {
    let ticketed = 0;
    for (const record of await this.bus.liveTickets('put', userKey)) ticketed += parseTicket('put', record)?.file.size ?? 0;
    let user = (this.reserved.get(userKey) ?? 0) + ticketed;
    let total = ticketed;
    for (const bytes of this.reserved.values()) total += bytes;
    for (const { file } of await this.store.allRoomFiles()) {
      total += file.size;
      if (nameKey(file.from) === userKey) user += file.size;
    }
    return { user, total };
  }

  async list(roomKey: string): Promise<RoomFileInfo[]> {
    return (await this.store.listRoomFiles(roomKey)).map(toInfo).sort((a, b) => a.time - b.time);
  }

  /** Checks name, size and quotas, reserves the bytes and issues an upload ticket. */
  async requestUpload(who: RoomFileRequester, upload: { name: string; size: number; hash: string }): Promise<{ ticket: string; fileId: string }> {
    const checked = sanitizeFileName(upload.name);
    if (!checked.ok) throw new ChatError('E_PATH_REFUSED', `file name refused: ${checked.reason}`);
    if (upload.size > this.limits.roomFileMaxBytes) throw new ChatError('E_TOO_LARGE', `room files are limited to ${this.limits.roomFileMaxBytes} bytes`);
    const usage = await this.usage(who.userKey);
    if (usage.user + upload.size > this.limits.roomFilesPerUserBytes) {
      throw new ChatError('E_QUOTA', `your room files may take ${this.limits.roomFilesPerUserBytes} bytes on this relay; ${usage.user} are used`);
    }
    if (usage.total + upload.size > this.limits.roomFilesTotalBytes) throw new ChatError('E_QUOTA', 'the relay has no room for more files');
    // 40 random bits: ids are per room and short enough to type; a clash is checked in the room.
    const taken = new Set((await this.store.listRoomFiles(who.roomKey)).map((file) => file.id));
    let fileId: string;
    do fileId = randomBytes(5).toString('hex');
    while (taken.has(fileId));
    const file: StoredRoomFile = {
      id: fileId,
      room: who.roomName,
      name: checked.name,
      size: upload.size,
      hash: upload.hash,
      from: who.userName,
      time: 0,
      path: randomBytes(16).toString('hex'),
    };
    return { ticket: await this.issue('put', { userKey: who.userKey, roomKey: who.roomKey, file }), fileId };
  }

  /** A download ticket for a file of the requester's room. */
  async requestDownload(who: RoomFileRequester, fileId: string): Promise<{ ticket: string; fileId: string }> {
    if (!(await this.find(who.roomKey, fileId))) {
      const elsewhere = (await this.store.allRoomFiles()).some((entry) => entry.file.id === fileId);
      if (elsewhere) throw new ChatError('E_NOT_IN_ROOM', `file ${fileId} belongs to a room you are not in`);
      throw new ChatError('E_NO_SUCH_FILE', `no file ${fileId}; /files lists them`);
    }
    return { ticket: await this.issue('get', { userKey: who.userKey, roomKey: who.roomKey, fileId }), fileId };
  }

  /**
   * Takes a ticket of the given kind (single use, on any relay); E_BAD_TICKET when unknown,
   * expired or of the other kind. An upload's bytes are reserved here until it ends.
   */
  async redeem<K extends FileTicketKind>(ticket: string, kind: K): Promise<FileTicketOf<K>> {
    const record = await this.bus.redeemTicket(kind, ticket);
    const found = record === undefined ? undefined : parseTicket(kind, record);
    if (!found) throw new ChatError('E_BAD_TICKET', 'that file ticket is unknown, used or expired');
    if (kind === 'put') this.reserve(found.userKey, (found as UploadTicket).file.size);
    return found;
  }

  /**
   * Receives exactly `size` raw bytes on `socket` into a new file, checks size and hash,
   * indexes it and answers `file-stored` (or an error), then closes. Never throws.
   */
  async receive(socket: TLSSocket, ticket: UploadTicket, re: string): Promise<void> {
    const { file, roomKey, userKey } = ticket;
    const target = this.diskPath(file.path);
    // Written under this relay's temporary name and moved into place once checked.
    const partial = target + this.partSuffix;
    this.open.add(socket);
    let stored = false;
    try {
      const received = await this.readExactly(socket, partial, file.size);
      if (received.length !== file.size) throw new ChatError('E_TOO_LARGE', 'more bytes arrived than were announced');
      if (received.hash !== file.hash) throw new ChatError('E_HASH_MISMATCH', 'the uploaded bytes do not match the announced hash');
      const entry = { ...file, time: this.now() };
      await rename(partial, target);
      await this.store.putRoomFile(roomKey, entry);
      stored = true;
      this.log(`room file ${entry.id} stored for ${entry.room} by ${entry.from}: ${entry.size} bytes`);
      socket.end(encodeControl({ t: 'file-stored', re, fileId: entry.id }));
    } catch (error) {
      const code = error instanceof ChatError ? error.code : 'E_INTERNAL';
      if (!(error instanceof ChatError)) this.log(`room file upload failed: ${(error as Error)?.message ?? error}`);
      if (!socket.destroyed) socket.end(encodeControl({ t: 'error', re, code, message: (error as Error)?.message ?? code }));
    } finally {
      this.reserve(userKey, -file.size);
      this.open.delete(socket);
      if (!stored) {
        await unlink(partial).catch(() => undefined);
        await unlink(target).catch(() => undefined);
      }
      setTimeout(() => socket.destroy(), 1_000).unref();
    }
  }

  /** Checks a download ticket's file is still there; E_NO_SUCH_FILE otherwise. */
  async prepareDownload(ticket: DownloadTicket): Promise<StoredRoomFile> {
    const file = await this.find(ticket.roomKey, ticket.fileId);
    if (!file) throw new ChatError('E_NO_SUCH_FILE', 'that file is gone');
    const info = await stat(this.diskPath(file.path)).catch(() => undefined);
    if (!info || info.size !== file.size) throw new ChatError('E_NO_SUCH_FILE', 'that file is gone');
    return file;
  }

  /** Sends `file-ready {size, hash, name}` and then the file's bytes on `socket`, then closes. Never throws. */
  send(socket: TLSSocket, file: StoredRoomFile, re: string): Promise<void> {
    const path = this.diskPath(file.path);
    const entry = { file };
    return new Promise<void>((resolve) => {
      this.open.add(socket);
      const input = createReadStream(path);
      let stall = this.stallTimer(socket);
      const done = (): void => {
        clearTimeout(stall);
        this.open.delete(socket);
        input.destroy();
        resolve();
      };
      socket.write(encodeControl({ t: 'file-ready', re, size: entry.file.size, hash: entry.file.hash, name: entry.file.name }));
      input.on('data', (chunk) => {
        clearTimeout(stall);
        stall = this.stallTimer(socket);
        if (!socket.write(chunk)) input.pause();
      });
      socket.on('drain', () => input.resume());
      input.on('end', () => socket.end());
      input.on('error', () => socket.destroy());
      socket.on('error', () => undefined);
      socket.on('close', done);
    });
  }

  private readExactly(socket: TLSSocket, target: string, size: number): Promise<{ length: number; hash: string }> {
    return new Promise((resolve, reject) => {
      const output = createWriteStream(target, { flags: 'wx', mode: 0o600 });
      const hash = createHash('blake2b512');
      let length = 0;
      let settled = false;
      let stall = this.stallTimer(socket);
      const finish = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(stall);
        socket.removeListener('data', onData);
        socket.pause();
        output.end(() => (error ? reject(error) : resolve({ length, hash: hash.digest('hex') })));
      };
      const onData = (chunk: Buffer): void => {
        clearTimeout(stall);
        stall = this.stallTimer(socket);
        length += chunk.length;
        if (length > size) return finish(new ChatError('E_TOO_LARGE', 'more bytes arrived than were announced'));
        hash.update(chunk);
        if (!output.write(chunk)) socket.pause();
        if (length === size) finish();
      };
      output.on('drain', () => {
        if (!settled) socket.resume();
      });
      output.on('error', (error) => finish(error));
      socket.on('data', onData);
      socket.on('error', () => undefined);
      socket.once('close', () => finish(new ChatError('E_CLOSED', 'the upload connection closed early')));
      socket.resume();
      if (size === 0) finish();
    });
  }

  private async find(roomKey: string, fileId: string): Promise<StoredRoomFile | undefined> {
    return (await this.store.listRoomFiles(roomKey)).find((file) => file.id === fileId);
  }

  /** The suffix of this relay's uploads in progress. */
  private get partSuffix(): string {
    return `.${this.relayId}.part`;
  }

  private stallTimer(socket: TLSSocket): NodeJS.Timeout {
    const timer = setTimeout(() => socket.destroy(), this.limits.roomFileStallMs);
    timer.unref();
    return timer;
  }

  private issue<K extends FileTicketKind>(kind: K, ticket: FileTicketOf<K>): Promise<string> {
    return this.bus.issueTicket(kind, ticket.userKey, JSON.stringify(ticket), this.limits.roomFileTicketTtlMs, this.limits.roomFileTicketsPerUser);
  }

  private reserve(userKey: string, bytes: number): void {
    const left = (this.reserved.get(userKey) ?? 0) + bytes;
    if (left > 0) this.reserved.set(userKey, left);
    else this.reserved.delete(userKey);
  }

  private diskPath(name: string): string {
    if (!DISK_NAME.test(name)) throw new ChatError('E_INTERNAL', 'a room file index entry has a bad disk name');
    return join(this.directory, name);
  }
}
