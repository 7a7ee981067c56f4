/**
 * The view's side of files: peer-to-peer transfers (offers, progress, results, /transfers)
 * and room files (/upload, /files, /download). Keeps what the status bar and Tab completion
 * need and writes the lines, through the model (its host). Every string from the network is
 * sanitized on the way in.
 */
import { nameKey } from '../../shared/names.js';
import type { ChatEvent, RoomFileEntry } from '../core/events.js';
import { safeLine } from '../sanitize.js';
import { readableBytes, roomFileHint, roomFilesTable, type RoomFileJob } from './room-files-format.js';
import type { ApplyEffects, ViewLine } from './state.js';
import { formatBytes, formatFinished, type TransferLine } from './transfer-format.js';
import { applyTransferEvent, type TransferViewHost } from './transfers-state.js';

/** What file activity may touch in the view model. */
export interface FileActivityHost {
  /** The model's clock, ms since the epoch. */
  now(): number;
  /** Our own user name (sanitized). */
  user(): string;
  /** The room shown now: its name (sanitized) and key. */
  current(): { name: string; key: string };
  /** A line from the TUI itself in the room shown now. */
  system(text: string): void;
  /** An error line (`message` from the network) in the room shown now. */
  error(code: string, message: string): void;
  /** Any line in the room shown now (already sanitized). */
  line(line: Omit<ViewLine, 'id'>): void;
}

export class FileActivity {
  /** File transfers still running (the status bar shows them), by id; sanitized. */
  readonly transfers = new Map<string, TransferLine>();
  /**
   * Room files known per room key (from the last /files answer and own uploads since), by
   * file id; sanitized. For Tab completion of /download ids and for naming a download.
   */
  readonly roomFiles = new Map<string, Map<string, RoomFileEntry>>();
  /** Room file uploads and downloads under way (the status bar shows them), by job number. */
  readonly roomFileJobs = new Map<number, RoomFileJob>();
  private nextJob = 1;

  /** What the transfer events may touch (transfers-state.ts). */
  private readonly transferHost: TransferViewHost;

  constructor(private readonly host: FileActivityHost) {
    this.transferHost = {
      transfers: this.transfers,
      roomFileJobs: this.roomFileJobs,
      system: (text) => host.system(text),
      error: (code, message) => host.error(code, message),
      offer: (from, text) => host.line({ time: host.now(), kind: 'whisper', nick: from, highlight: true, text }),
    };
  }

  /** Ids of the current room's files as last seen (for Tab after /download). */
  roomFileIds(): string[] {
    return [...(this.roomFiles.get(this.host.current().key)?.keys() ?? [])];
  }

  private knownRoomFile(fileId: string): RoomFileEntry | undefined {
    for (const files of this.roomFiles.values()) {
      const found = files.get(fileId);
      if (found) return found;
    }
    return undefined;
  }

  /** `/upload PATH` was sent: a line saying so and a status-bar item until `finishRoomFile`. Returns the job. */
  startUpload(file: string): number {
    const name = safeLine(file.split(/[\\/]/).filter((part) => part !== '').pop() ?? file);
    const job: RoomFileJob = { job: this.nextJob++, direction: 'up', name, room: this.host.current().name };
    this.roomFileJobs.set(job.job, job);
    this.host.system(`uploading ${name} to the relay for ${job.room}…`);
    return job.job;
  }

  /** `/download ID [DIR]` was sent: a line saying where to, and a status-bar item. `folder`: where it will be saved. */
  startDownload(fileId: string, folder: string): number {
    const id = safeLine(fileId);
    const known = this.knownRoomFile(id);
    const job: RoomFileJob = { job: this.nextJob++, direction: 'down', name: known?.name ?? id, room: this.host.current().name, fileId: id };
    this.roomFileJobs.set(job.job, job);
    const what = known ? `${known.name} (${formatBytes(known.size)}, id ${id})` : `file ${id}`;
    this.host.system(`downloading ${what} into ${safeLine(folder)}…`);
    return job.job;
  }

  /** The upload or download ended (its event gave the result line): off the status bar. */
  finishRoomFile(job: number): void {
    this.roomFileJobs.delete(job);
  }

  /** The upload or download failed: an error line with the code and what to do about it. */
  roomFileFailed(job: number, code: string, message: string): void {
    const found = this.roomFileJobs.get(job);
    this.roomFileJobs.delete(job);
    const command = found?.direction === 'up' ? 'upload' : 'download';
    const subject = found === undefined ? '' : found.direction === 'up' ? ` ${found.name}` : ` ${found.fileId ?? found.name}`;
    const hint = roomFileHint(command, code);
    const text = `/${command}${subject} failed: ${readableBytes(safeLine(message))}${hint !== '' ? `; ${hint}` : ''} (${safeLine(code)})`;
    this.host.line({ time: this.host.now(), kind: 'error', text });
  }

  /** Takes the file events (transfer-*, transfers, file-*): true when `event` was one of them. */
  apply(event: ChatEvent, effects: ApplyEffects): boolean {
    const transfer = applyTransferEvent(this.transferHost, event);
    if (transfer.handled) {
      effects.bell = transfer.bell;
      return true;
    }
    const now = this.host.now();
    switch (event.type) {
      case 'file-uploaded': {
        const name = safeLine(event.name);
        const fileId = safeLine(event.fileId);
        // The job of this upload (oldest first, by name) says which room it was for.
        const job = [...this.roomFileJobs.values()].find((j) => j.direction === 'up' && j.name === name);
        const room = job?.room ?? this.host.current().name;
        const roomKey = nameKey(room);
        const files = this.roomFiles.get(roomKey) ?? new Map<string, RoomFileEntry>();
        files.set(fileId, { id: fileId, name, size: event.size, hash: '', from: this.host.user(), time: now });
        this.roomFiles.set(roomKey, files);
        this.host.system(`stored ${name} (${formatFinished(event.size, event.elapsedMs, event.avgBps)}) on the relay for ${room}: file id ${fileId}; members of ${room} fetch it with /download ${fileId}`);
        break;
      }
      case 'files': {
        const room = safeLine(event.room);
        const files = new Map<string, RoomFileEntry>();
        for (const f of event.files) {
          const id = safeLine(f.id);
          files.set(id, { id, name: safeLine(f.name), size: f.size, hash: safeLine(f.hash), from: safeLine(f.from), time: f.time });
        }
        this.roomFiles.set(nameKey(room), files);
        this.host.line({ time: now, kind: 'system', text: roomFilesTable(event.room, event.files, now).join('\n') });
        break;
      }
      case 'file-downloaded': {
        const fileId = safeLine(event.fileId);
        const known = this.knownRoomFile(fileId);
        const what = known ? `${known.name} (${formatBytes(known.size)}, id ${fileId})` : `file ${fileId}`;
        this.host.system(`downloaded ${what}: saved as ${safeLine(event.path)}; hash verified (BLAKE2b ${safeLine(event.hash).slice(0, 16)}…); ${formatFinished(event.size, event.elapsedMs, event.avgBps)}`);
        break;
      }
      default:
        return false;
    }
    return true;
  }
}
