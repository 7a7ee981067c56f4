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
import { formatBytes, formatSpeed, shortId, type TransferLine } from './transfer-format.js';

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

  constructor(private readonly host: FileActivityHost) {}

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
    const now = this.host.now();
    switch (event.type) {
      case 'transfer-offer': {
        const from = safeLine(event.from);
        const id = safeLine(event.id);
        this.host.line({
          time: now,
          kind: 'whisper',
          nick: from,
          highlight: true,
          text:
            `offers you a file: ${safeLine(event.name)} (${formatBytes(event.size)}; BLAKE2b ${safeLine(event.hash).slice(0, 16)}…)\n` +
            `/accept ${shortId(id)} [DIR] to save it, /reject ${shortId(id)} to decline (id ${id})`,
        });
        // Waiting for an answer: in the status bar, and Tab completes its id.
        this.transfers.set(id, { id, direction: 'in', peer: from, name: safeLine(event.name), state: 'offered', path: null, percent: 0, speedBps: 0, etaSec: null });
        effects.bell = true;
        break;
      }
      case 'transfer-state': {
        const id = safeLine(event.id);
        const known = this.transfers.get(id);
        const line: TransferLine = {
          id,
          direction: event.direction,
          peer: safeLine(event.peer),
          name: safeLine(event.name),
          state: safeLine(event.state),
          path: event.path,
          percent: known?.percent ?? 0,
          speedBps: known?.speedBps ?? 0,
          etaSec: known?.etaSec ?? null,
        };
        const terminal = ['completed', 'rejected', 'cancelled', 'failed'].includes(event.state);
        if (terminal) this.transfers.delete(id);
        else this.transfers.set(id, line);
        const what = `${line.direction === 'out' ? 'sending' : 'receiving'} ${line.name} ${line.direction === 'out' ? 'to' : 'from'} ${line.peer}`;
        if (known?.state !== line.state || known?.path !== line.path) {
          const proxied = event.relayOnly === 'proxy' ? ' through the relay (a proxy is set)' : '';
          if (line.state === 'offered' && line.direction === 'out') this.host.system(`offered ${line.name} to ${line.peer} (id ${shortId(id)}); waiting for an answer${proxied ? `;${proxied}` : ''}`);
          else if (line.state === 'transferring' && line.path !== null) this.host.system(`${what}: transferring ${proxied ? proxied.trim() : `via ${line.path}`}`);
          else if (line.state === 'reconnecting' && event.restored === true && known === undefined) this.host.system(`${what}: picked up from the last run (id ${shortId(id)}); reconnecting to resume…`);
          else if (line.state === 'reconnecting') this.host.system(`${what}: connection lost, resuming…`);
          else if (line.state === 'connecting' && known?.state !== 'connecting') this.host.system(`${what}: connecting${event.file && line.direction === 'in' ? ` (saving to ${safeLine(event.file)})` : ''}`);
        }
        break;
      }
      case 'transfer-progress': {
        const line = this.transfers.get(safeLine(event.id));
        if (line) {
          line.percent = event.percent;
          line.speedBps = event.speedBps;
          line.etaSec = event.etaSec;
          if (event.path !== null) line.path = event.path;
          if (line.state !== 'verifying') line.state = 'transferring';
        }
        break;
      }
      case 'transfer-done': {
        this.transfers.delete(safeLine(event.id));
        const where = event.direction === 'in' ? `saved as ${safeLine(event.file)}` : `sent to ${safeLine(event.peer)}`;
        this.host.system(`file ${safeLine(event.name)} (${formatBytes(event.size)}) ${where}; hash verified${event.path ? ` (${event.path})` : ''}`);
        break;
      }
      case 'transfer-failed': {
        this.transfers.delete(safeLine(event.id));
        const dir = event.direction === 'out' ? `to ${safeLine(event.peer)}` : `from ${safeLine(event.peer)}`;
        const partial = event.partial !== undefined ? `; the partial file is kept: ${safeLine(event.partial)}` : '';
        this.host.error(event.code, `file ${event.name} ${dir}: ${event.state}${event.message && event.message !== event.state ? ` (${event.message})` : ''}${partial}`);
        break;
      }
      case 'transfers': {
        if (event.transfers.length === 0) {
          this.host.system('no file transfers; /send USER PATH offers one');
          break;
        }
        const lines = ['file transfers:'];
        for (const t of event.transfers) {
          const arrow = t.direction === 'out' ? `to ${safeLine(t.peer)}` : `from ${safeLine(t.peer)}`;
          const progress = `${t.percent.toFixed(1)}% of ${formatBytes(t.size)}`;
          const speed = t.state === 'transferring' ? `, ${formatSpeed(t.speedBps)}` : '';
          const via = t.path !== null ? ` via ${t.path}` : '';
          const code = t.code !== undefined ? ` ${safeLine(t.code)}` : '';
          lines.push(`  ${shortId(safeLine(t.id))}  ${safeLine(t.name)} ${arrow}: ${safeLine(t.state)}${code}${via}, ${progress}${speed}`);
        }
        this.host.line({ time: now, kind: 'system', text: lines.join('\n') });
        break;
      }
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
        this.host.system(`stored ${name} (${formatBytes(event.size)}) on the relay for ${room}: file id ${fileId}; members of ${room} fetch it with /download ${fileId}`);
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
        this.host.system(`downloaded ${what}: saved as ${safeLine(event.path)}; hash verified (BLAKE2b ${safeLine(event.hash).slice(0, 16)}…)`);
        break;
      }
      default:
        return false;
    }
    return true;
  }
}
