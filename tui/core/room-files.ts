import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import type tls from 'node:tls';
import { FrameDecoder } from '../../shared/codec.js';
import { ChatError } from '../../shared/errors.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { sanitizeFileName } from '../../shared/filename.js';
import type { ChatEvent, ChatEventOf } from './events.js';
import { openSideLink, readControl, type SideLink } from './side-link.js';
import { hashFile } from './transfer/file-sink.js';
import { reservePartialFile } from './transfer/local-file.js';
import { moveIntoPlace } from './transfer/place-file.js';
import { expandPath } from './transfer/manager.js';
import { expectReply } from './replies.js';
import { ProgressMeter } from './transfer/progress.js';
import { CLIENT_DEFAULTS } from '../../shared/limits.js';

/**
 * The client side of room files (/upload, /files, /download): hashing, and the side
 * connection that carries one file's bytes to or from the relay after a ticket. The chat
 * connection only asks for tickets (client.ts).
 */
export interface FileSideOptions {
  kind: 'file-put' | 'file-get';
  ticket: string;
  /** Sent in hello. */
  clientName: string;
  /** Longest control frame accepted, bytes. */
  maxFrameBytes: number;
  /** No file-ready (and, for uploads, no final answer) within this: E_TIMEOUT. */
  timeoutMs: number;
}

/** A room file's hash, which the relay checks (shared/messages.ts); not a peer transfer's (file-hash.ts). */
const ROOM_FILE_HASH = 'blake2b512';

/**
 * Size and BLAKE2b-512 (hex) of a regular file for an upload; E_FILE_UNREADABLE otherwise.
 * Hashed in the transfers' file worker (up to roomFileMaxBytes: never on the chat thread).
 */
export async function measureFile(file: string): Promise<{ size: number; hash: string }> {
  const info = await fs.stat(file).catch(() => undefined);
  if (!info?.isFile()) throw new ChatError('E_FILE_UNREADABLE', `${file} is not a readable regular file`);
  return { size: info.size, hash: await hashFile(file, ROOM_FILE_HASH, { end: info.size }) };
}

/** A file side connection after `file-ready`: raw bytes from here on, `head` read ahead already. */
export type FileSide = SideLink<'file-ready'>;

/** `hello`, then `file-put`/`file-get` with the ticket, then `file-ready` (a side link, side-link.ts). */
export async function openFileSide(socket: tls.TLSSocket, options: FileSideOptions): Promise<FileSide> {
  return openSideLink(socket, { t: options.kind, ticket: options.ticket, ready: 'file-ready' }, { ...options, what: 'file' });
}

/** Writes the file's `size` bytes on an upload side stream and waits for `file-stored`; resolves with the file id. */
export async function putFile(
  side: FileSide,
  file: string,
  options: Pick<FileSideOptions, 'maxFrameBytes' | 'timeoutMs'>,
  onBytes?: (bytes: number) => void,
): Promise<string> {
  const stream = side.socket;
  const decoder = new FrameDecoder(options.maxFrameBytes);
  if (side.head.length > 0) decoder.append(side.head);
  const answer = readControl(stream, decoder, { ...options, what: 'file' }, (m) => (m.t === 'file-stored' ? m.fileId : undefined));
  answer.catch(() => undefined);
  stream.resume();
  const input = createReadStream(file);
  // Not ended: the relay answers on this connection after the last byte.
  input.pipe(stream, { end: false });
  input.on('error', () => stream.destroy());
  // Bytes handed to the connection (what the relay has is at most a socket buffer behind).
  if (onBytes !== undefined) input.on('data', () => onBytes(input.bytesRead));
  try {
    return await answer;
  } finally {
    input.destroy();
    stream.destroy();
  }
}

/**
 * Receives a download: writes `<name>.part` in `directory` (the name sanitized, a free one
 * chosen), checks size and hash, then moves it to a free final name. E_HASH_MISMATCH keeps
 * the partial file for inspection; E_PATH_REFUSED for unusable names or folders.
 */
export async function saveFile(side: FileSide, directory: string, onBytes?: (bytes: number) => void): Promise<{ path: string; hash: string; name: string; size: number }> {
  const { ready, socket: stream } = side;
  const { size, hash: expected } = ready;
  if (size === undefined || expected === undefined) throw new ChatError('E_PROTOCOL', 'file-ready without size or hash');
  const checked = sanitizeFileName(ready.name ?? 'download');
  const name = checked.ok ? checked.name : 'download';
  const { partPath: part } = await reservePartialFile(directory, name);
  let received = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const output = createWriteStream(part, { flags: 'r+' });
      output.on('error', reject);
      const onChunk = (chunk: Buffer): void => {
        received += chunk.length;
        if (received > size) return reject(new ChatError('E_PROTOCOL', 'the relay sent more bytes than announced'));
        onBytes?.(received);
        if (!output.write(chunk)) stream.pause();
      };
      if (side.head.length > 0) onChunk(side.head);
      stream.on('data', onChunk);
      output.on('drain', () => stream.resume());
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        if (received !== size) return reject(new ChatError('E_CLOSED', `the download stopped after ${received} of ${size} bytes`));
        output.end(() => resolve());
      };
      stream.once('end', finish);
      stream.once('close', finish);
      stream.on('error', () => undefined);
      stream.resume();
    });
  } catch (error) {
    stream.destroy();
    await fs.unlink(part).catch(() => undefined);
    throw error;
  }
  stream.destroy();
  // Hashed in the file worker once written, off the chat thread.
  const actual = await hashFile(part, ROOM_FILE_HASH, { end: size });
  if (actual !== expected) throw new ChatError('E_HASH_MISMATCH', `the downloaded file does not match its hash; kept as ${part}`, { partial: part });
  return { path: await moveIntoPlace(part, directory, name), hash: actual, name, size };
}

/** What room files may touch of the client: requests on the chat connection, a pinned side connection, events. */
export interface RoomFilesHost {
  request<T>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T): Promise<T>;
  nextId(prefix?: string): string;
  /** A new connection to the relay, pinned to the chat connection's certificate. */
  dialSide(purpose: string): Promise<tls.TLSSocket>;
  emit(event: ChatEvent): void;
  /** Where /download saves without a DIR. */
  downloadDir(): string;
  sideOptions(): { clientName: string; maxFrameBytes: number; timeoutMs: number };
}


/**
 * Progress of one upload or download as `room-file-progress` events, at most
 * `transferProgressEventsPerSecond` a second (the last byte always), and the time it took.
 */
class RoomFileProgress {
  private readonly meter: ProgressMeter;
  private readonly startedMs = performance.now();
  private saidMs = -Infinity;

  constructor(
    private readonly emit: (event: ChatEvent) => void,
    private readonly what: { direction: 'up' | 'down'; name: string; fileId?: string },
    private readonly total: number,
  ) {
    this.meter = new ProgressMeter(total, 3_000);
    this.meter.restart(0, this.startedMs);
  }

  update(bytes: number): void {
    const now = performance.now();
    const progress = this.meter.update(bytes, now);
    if (bytes < this.total && now - this.saidMs < 1000 / CLIENT_DEFAULTS.transferProgressEventsPerSecond) return;
    this.saidMs = now;
    this.emit({
      type: 'room-file-progress',
      ...this.what,
      bytes: progress.bytes,
      total: progress.totalBytes,
      percent: progress.percent,
      speedBps: progress.bytesPerSecond,
      etaSec: progress.etaSeconds,
    });
  }

  /** Time since the start (ms) and the average speed (bytes/s) over it. */
  finished(): { elapsedMs: number; avgBps: number } {
    const elapsedMs = Math.max(1, Math.round(performance.now() - this.startedMs));
    return { elapsedMs, avgBps: Math.round((this.total * 1000) / elapsedMs) };
  }
}

/** /upload, /files, /download: a ticket on the chat connection, the bytes on a side connection. */
export class RoomFiles {
  constructor(private readonly host: RoomFilesHost) {}

  async upload(file: string): Promise<ChatEventOf<'file-uploaded'>> {
    const local = expandPath(file);
    const { size, hash } = await measureFile(local);
    const name = local.split(/[\\/]/).pop() ?? local;
    const host = this.host;
    const ticket = await host.request({ t: 'file-upload', id: host.nextId('f'), name, size, hash }, (reply) => expectReply(reply, 'file-ticket'));
    const side = await openFileSide(await host.dialSide('file'), { ...host.sideOptions(), kind: 'file-put', ticket: ticket.ticket });
    const progress = new RoomFileProgress((e) => host.emit(e), { direction: 'up', name }, size);
    const fileId = await putFile(side, local, host.sideOptions(), (bytes) => progress.update(bytes));
    const event: ChatEventOf<'file-uploaded'> = { type: 'file-uploaded', fileId, name, size, ...progress.finished() };
    host.emit(event);
    return event;
  }

  async list(): Promise<ChatEventOf<'files'>> {
    const event = await this.fetchList();
    this.host.emit(event);
    return event;
  }

  private fetchList(): Promise<ChatEventOf<'files'>> {
    return this.host.request({ t: 'files', id: this.host.nextId('f') }, (reply) => {
      const m = expectReply(reply, 'files');
      return { type: 'files', room: m.room, files: m.files.map((f) => ({ ...f })) };
    });
  }

  /**
   * A file of the current room by id, or by an unambiguous prefix of at least 4 characters
   * (as /accept takes a transfer's): E_USAGE when a prefix names several, E_NO_SUCH_FILE when none.
   */
  private async resolveId(id: string): Promise<string> {
    const { files } = await this.fetchList();
    if (files.some((file) => file.id === id)) return id;
    const matches = id.length >= 4 ? files.filter((file) => file.id.startsWith(id.toLowerCase())) : [];
    if (matches.length === 1) return matches[0].id;
    if (matches.length > 1) throw new ChatError('E_USAGE', `${id} names ${matches.length} files; give more of the id`);
    // Not in this room's list: the relay says why (another room's file, or none at all).
    if (!/^[0-9a-f]{8,32}$/.test(id)) throw new ChatError('E_NO_SUCH_FILE', `no file ${id}; /files lists them`);
    return id;
  }

  async download(fileId: string, directory?: string): Promise<ChatEventOf<'file-downloaded'>> {
    const host = this.host;
    const folder = directory !== undefined ? expandPath(directory) : host.downloadDir();
    fileId = await this.resolveId(fileId);
    const ticket = await host.request({ t: 'file-download', id: host.nextId('f'), fileId }, (reply) => expectReply(reply, 'file-ticket'));
    const side = await openFileSide(await host.dialSide('file'), { ...host.sideOptions(), kind: 'file-get', ticket: ticket.ticket });
    const announced = side.ready.size ?? 0;
    const progress = new RoomFileProgress((e) => host.emit(e), { direction: 'down', name: side.ready.name ?? ticket.fileId, fileId: ticket.fileId }, announced);
    const saved = await saveFile(side, folder, (bytes) => progress.update(bytes));
    const event: ChatEventOf<'file-downloaded'> = { type: 'file-downloaded', fileId: ticket.fileId, path: saved.path, hash: saved.hash, size: saved.size, ...progress.finished() };
    host.emit(event);
    return event;
  }
}
