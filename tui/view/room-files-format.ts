/**
 * How room files (/upload, /files, /download) read on screen: the /files table, ages, the
 * status-bar item of an upload or download under way, and failure lines with a hint per
 * error code. Pure; every string from the network is sanitized here before it is laid out.
 */
import type { RoomFileEntry } from '../core/events.js';
import { safeLine } from '../sanitize.js';
import { padToWidth, textWidth } from './text-width.js';
import { formatBytes, formatTransferLine, type TransferLine } from './transfer-format.js';

/** Widest NAME shown in the /files table (columns); longer names are cut in the middle. */
export const MAX_NAME_COLUMNS = 32;
/** Widest FROM shown in the /files table (columns). */
export const MAX_FROM_COLUMNS = 16;

/** How long ago, from milliseconds: `12s`, `5m`, `3h`, `6d` (a time in the future reads `0s`). */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/**
 * `text` cut to `columns` display columns with `…` in the middle, so both the start and the
 * extension of a long file name stay readable. Width-aware (CJK counts two).
 */
export function cutMiddle(text: string, columns: number): string {
  if (textWidth(text) <= columns) return text;
  if (columns <= 1) return columns === 1 ? '…' : '';
  const chars = [...text];
  const keep = columns - 1;
  const tailColumns = Math.floor(keep / 2);
  let head = '';
  let used = 0;
  for (const char of chars) {
    const w = textWidth(char);
    if (used + w > keep - tailColumns) break;
    head += char;
    used += w;
  }
  let tail = '';
  let tailUsed = 0;
  for (let i = chars.length - 1; i >= 0; i -= 1) {
    const w = textWidth(chars[i]);
    if (used + tailUsed + w > keep) break;
    tail = chars[i] + tail;
    tailUsed += w;
  }
  return `${head}…${tail}`;
}

/**
 * The answer to /files as the lines of one system entry: a title, a header and one row per
 * file (ID, SIZE, AGE, FROM, NAME; the name last so a long one never pushes the other
 * columns out of line), oldest first as the relay lists them; or one line saying the room
 * has none. `now`: ms since the epoch, for the ages.
 */
export function roomFilesTable(room: string, files: readonly RoomFileEntry[], now: number): string[] {
  const roomName = safeLine(room);
  if (files.length === 0) return [`no files stored for ${roomName}; /upload PATH stores one for everyone in the room`];
  const rows = files.map((f) => ({
    id: safeLine(f.id),
    size: formatBytes(f.size),
    age: formatAge(now - f.time),
    from: cutMiddle(safeLine(f.from), MAX_FROM_COLUMNS),
    name: cutMiddle(safeLine(f.name), MAX_NAME_COLUMNS),
  }));
  const header = { id: 'ID', size: 'SIZE', age: 'AGE', from: 'FROM', name: 'NAME' };
  const all = [header, ...rows];
  const width = (key: keyof typeof header) => Math.max(...all.map((r) => textWidth(r[key])));
  const w = { id: width('id'), size: width('size'), age: width('age'), from: width('from') };
  const line = (r: typeof header) =>
    `  ${padToWidth(r.id, w.id)}  ${' '.repeat(w.size - textWidth(r.size))}${r.size}  ${' '.repeat(w.age - textWidth(r.age))}${r.age}  ${padToWidth(r.from, w.from)}  ${r.name}`;
  const total = files.reduce((sum, f) => sum + (Number.isFinite(f.size) && f.size > 0 ? f.size : 0), 0);
  const count = `${files.length} ${files.length === 1 ? 'file' : 'files'}, ${formatBytes(total)}`;
  return [`files stored for ${roomName} (${count}); /download ID [DIR] saves one:`, line(header), ...rows.map(line)];
}

/** A room file upload or download under way (the status bar shows it; the core gives no progress for these). */
export interface RoomFileJob {
  /** Unique within one ViewModel. */
  job: number;
  direction: 'up' | 'down';
  /** The file's name (upload: the local base name), or its id while a download's name is unknown. Sanitized. */
  name: string;
  /** The room the upload is for (sanitized). */
  room: string;
  /** Download: the file id asked for. */
  fileId?: string;
  /** From the core's room-file-progress events, once the bytes move. */
  progress?: { bytes: number; total: number; percent: number; speedBps: number; etaSec: number | null };
}

/** `↑ notes.txt uploading` / `↓ notes.txt downloading` for the status bar. */
export function formatRoomFileJob(job: RoomFileJob): string {
  if (job.progress !== undefined) return formatTransferLine(roomFileJobLine(job));
  return job.direction === 'up' ? `↑ ${job.name} uploading` : `↓ ${job.name} downloading`;
}

/** A room file job as a row of the transfers panel: the relay is the other end (and the path). */
export function roomFileJobLine(job: RoomFileJob): TransferLine {
  const p = job.progress;
  return {
    id: `job${job.job}`,
    direction: job.direction === 'up' ? 'out' : 'in',
    peer: `relay (${job.room})`,
    name: job.name,
    state: p !== undefined ? 'transferring' : job.direction === 'up' ? 'uploading' : 'downloading',
    path: 'relay',
    percent: p?.percent ?? 0,
    bytes: p?.bytes ?? 0,
    total: p?.total ?? 0,
    speedBps: p?.speedBps ?? 0,
    etaSec: p?.etaSec ?? null,
  };
}

/** Byte counts in a relay's message (`limited to 268435456 bytes`) in binary units, easier to read. */
export function readableBytes(message: string): string {
  return message.replace(/\b(\d{4,}) bytes\b/g, (_, digits: string) => formatBytes(Number(digits)));
}

/** What to do about a failed /upload or /download, by error code; '' when the message says it all. */
export function roomFileHint(command: 'upload' | 'download', code: string): string {
  switch (code) {
    case 'E_NO_SUCH_FILE':
      return 'it expired or was never stored here; /files lists this room’s files';
    case 'E_NOT_IN_ROOM':
      return 'that file belongs to another room; /join it to download';
    case 'E_HASH_MISMATCH':
      return command === 'download' ? 'nothing was saved under the final name' : 'the file changed while it was read; try again once it is final';
    case 'E_QUOTA':
      return '/files shows what is stored; files expire after a while';
    case 'E_TOO_LARGE':
      return command === 'upload' ? 'too big to keep on the relay; /send USER PATH sends it directly to one person' : '';
    case 'E_FILE_UNREADABLE':
      return 'check the path (Tab completes it)';
    case 'E_PATH_REFUSED':
      return command === 'download' ? 'choose another folder: /download ID DIR' : 'rename the file and try again';
    case 'E_TIMEOUT':
    case 'E_CLOSED':
    case 'E_CONNECT':
      return 'try again';
    default:
      return '';
  }
}
