import type { ChatEvent } from '../core/events.js';
import { FILE_HASH_NAME } from '../core/transfer/file-hash.js';
import { safeLine } from '../sanitize.js';
import type { RoomFileJob } from './room-files-format.js';
import { formatBytes, formatFinished, formatPath, formatSpeed, formatTook, shortId, type TransferLine } from './transfer-format.js';

/**
 * What the transfer events (file and folder transfers between users, room file progress) do
 * to the view state: the running transfers (the transfers panel and the status bar draw
 * them) and the lines they add. Apart from state.ts so that the model of the chat and the
 * model of the transfers each stay one screen long; it touches only what {@link TransferViewHost} gives.
 */
export interface TransferViewHost {
  /** Running transfers by id (file and folder transfers), sanitized. */
  readonly transfers: Map<string, TransferLine>;
  /** Room file uploads and downloads under way, by job number. */
  readonly roomFileJobs: Map<number, RoomFileJob>;
  system(text: string): void;
  error(code: string, message: string): void;
  /** A highlighted line from `from` (an offer waiting for an answer). */
  offer(from: string, text: string): void;
}

const TERMINAL = ['completed', 'rejected', 'cancelled', 'failed'];

/** Applies one event if it is a transfer event; returns whether it was (and whether to ring the bell). */
export function applyTransferEvent(host: TransferViewHost, event: ChatEvent): { handled: boolean; bell: boolean } {
  const done = { handled: true, bell: false };
  switch (event.type) {
    case 'transfer-offer': {
      const from = safeLine(event.from);
      const id = safeLine(event.id);
      host.offer(
        from,
        `offers you a file: ${safeLine(event.name)} (${formatBytes(event.size)}; ${event.hash === '' ? `${FILE_HASH_NAME} checked when it arrives` : `${FILE_HASH_NAME} ${safeLine(event.hash).slice(0, 16)}…`})\n` +
          `/accept ${shortId(id)} [DIR] to save it, /reject ${shortId(id)} to decline (id ${id})`,
      );
      // Waiting for an answer: in the status bar, and Tab completes its id.
      host.transfers.set(id, { id, direction: 'in', peer: from, name: safeLine(event.name), state: 'offered', path: null, percent: 0, bytes: 0, total: event.size, speedBps: 0, etaSec: null });
      return { handled: true, bell: true };
    }
    case 'folder-offer': {
      const from = safeLine(event.from);
      const id = safeLine(event.id);
      const name = `${safeLine(event.name)}/`;
      host.offer(
        from,
        `offers you a folder: ${name} (${event.files} ${event.files === 1 ? 'file' : 'files'}, ${formatBytes(event.size)})\n` +
          `/accept ${shortId(id)} [DIR] to save it, /reject ${shortId(id)} to decline (id ${id})`,
      );
      host.transfers.set(id, { id, direction: 'in', peer: from, name, state: 'offered', path: null, percent: 0, bytes: 0, total: event.size, speedBps: 0, etaSec: null });
      return { handled: true, bell: true };
    }
    case 'transfer-state': {
      const id = safeLine(event.id);
      const known = host.transfers.get(id);
      const line: TransferLine = {
        id,
        direction: event.direction,
        peer: safeLine(event.peer),
        name: safeLine(event.name),
        state: safeLine(event.state),
        path: event.path,
        percent: known?.percent ?? 0,
        bytes: known?.bytes ?? 0,
        total: known?.total ?? 0,
        speedBps: known?.speedBps ?? 0,
        etaSec: known?.etaSec ?? null,
      };
      if (event.folder !== undefined) line.inFolder = true;
      if (TERMINAL.includes(event.state)) host.transfers.delete(id);
      else host.transfers.set(id, line);
      // A folder's files show in the panel; the folder's own lines tell the story.
      if (event.folder !== undefined) return done;
      const what = `${line.direction === 'out' ? 'sending' : 'receiving'} ${line.name} ${line.direction === 'out' ? 'to' : 'from'} ${line.peer}`;
      if (known?.state !== line.state || known?.path !== line.path) {
        const proxied = event.relayOnly === 'proxy' ? ' through the relay (a proxy is set)' : '';
        if (line.state === 'offered' && line.direction === 'out') host.system(`offered ${line.name} to ${line.peer} (id ${shortId(id)}); waiting for an answer${proxied ? `;${proxied}` : ''}`);
        else if (line.state === 'transferring' && line.path !== null) host.system(`${what}: transferring ${proxied ? proxied.trim() : `via ${formatPath(line.path)}`}`);
        else if (line.state === 'reconnecting' && event.restored === true && known === undefined) host.system(`${what}: picked up from the last run (id ${shortId(id)}); reconnecting to resume…`);
        else if (line.state === 'reconnecting') host.system(`${what}: connection lost, resuming…`);
        else if (line.state === 'connecting' && known?.state !== 'connecting') host.system(`${what}: connecting${event.file && line.direction === 'in' ? ` (saving to ${safeLine(event.file)})` : ''}`);
      }
      return done;
    }
    case 'transfer-progress': {
      const line = host.transfers.get(safeLine(event.id));
      if (line) {
        line.percent = event.percent;
        line.bytes = event.bytes;
        line.total = event.total;
        line.speedBps = event.speedBps;
        line.etaSec = event.etaSec;
        if (event.path !== null) line.path = event.path;
        if (line.state !== 'verifying') line.state = 'transferring';
      }
      return done;
    }
    case 'transfer-done': {
      host.transfers.delete(safeLine(event.id));
      if (event.folder !== undefined) return done;
      const where = event.direction === 'in' ? `saved as ${safeLine(event.file)}` : `sent to ${safeLine(event.peer)}`;
      const via = event.path ? ` via ${formatPath(event.path)}` : '';
      host.system(`file ${safeLine(event.name)} (${formatBytes(event.size)}) ${where}; hash verified${via}; ${formatTook(event.elapsedMs, event.avgBps)}`);
      return done;
    }
    case 'transfer-failed': {
      host.transfers.delete(safeLine(event.id));
      // A folder's file that fails ends the folder, which says so.
      if (event.folder !== undefined) return done;
      const dir = event.direction === 'out' ? `to ${safeLine(event.peer)}` : `from ${safeLine(event.peer)}`;
      const partial = event.partial !== undefined ? `; the partial file is kept: ${safeLine(event.partial)}` : '';
      host.error(event.code, `file ${safeLine(event.name)} ${dir}: ${event.state}${event.message && event.message !== event.state ? ` (${safeLine(event.message)})` : ''}${partial}`);
      return done;
    }
    case 'folder-state': {
      const id = safeLine(event.id);
      const known = host.transfers.get(id);
      const name = `${safeLine(event.name)}/`;
      const percent = event.size === 0 ? 100 : Math.floor((event.bytes / event.size) * 1000) / 10;
      const line: TransferLine = {
        id,
        direction: event.direction,
        peer: safeLine(event.peer),
        name: `${name} (${Math.min(event.filesDone + (event.state === 'transferring' ? 1 : 0), event.files)}/${event.files})`,
        state: safeLine(event.state),
        path: event.path,
        percent,
        bytes: event.bytes,
        total: event.size,
        speedBps: event.speedBps,
        etaSec: event.etaSec,
      };
      if (TERMINAL.includes(event.state)) host.transfers.delete(id);
      else host.transfers.set(id, line);
      if (known?.state !== line.state) {
        const peer = line.peer;
        const skipped = event.skipped ? `; ${event.skipped} left out (symbolic links, special files)` : '';
        const count = `${event.files} ${event.files === 1 ? 'file' : 'files'}, ${formatBytes(event.size)}`;
        if (line.state === 'offered' && line.direction === 'out') host.system(`offered the folder ${name} (${count}) to ${peer} (id ${shortId(id)}); waiting for an answer${skipped}`);
        else if (line.state === 'transferring' && event.restored === true && known === undefined) {
          host.system(
            `${line.direction === 'out' ? 'sending' : 'receiving'} the folder ${name} ${line.direction === 'out' ? 'to' : 'from'} ${peer}: picked up from the last run (id ${shortId(id)}); ` +
              `${event.filesDone} of ${event.files} files done, going on with the rest`,
          );
        } else if (line.state === 'transferring') host.system(`${line.direction === 'out' ? 'sending' : 'receiving'} the folder ${name} ${line.direction === 'out' ? 'to' : 'from'} ${peer}: ${count}${event.dir !== null && line.direction === 'in' ? `, into ${safeLine(event.dir)}` : ''}`);
      }
      return done;
    }
    case 'folder-done': {
      host.transfers.delete(safeLine(event.id));
      const where = event.direction === 'in' ? `saved in ${safeLine(event.dir)}` : `sent to ${safeLine(event.peer)}`;
      host.system(`folder ${safeLine(event.name)}/ (${event.files} ${event.files === 1 ? 'file' : 'files'}) ${where}; every hash verified; ${formatFinished(event.size, event.elapsedMs, event.avgBps)}`);
      return done;
    }
    case 'folder-failed': {
      host.transfers.delete(safeLine(event.id));
      const dir = event.direction === 'out' ? `to ${safeLine(event.peer)}` : `from ${safeLine(event.peer)}`;
      const kept = event.dir !== null && event.filesDone > 0 ? `; ${event.filesDone === 1 ? 'the 1 file done is' : `the ${event.filesDone} files done are`} kept in ${safeLine(event.dir)}` : '';
      host.error(event.code, `folder ${safeLine(event.name)}/ ${dir}: ${safeLine(event.state)} (${safeLine(event.message)})${kept}`);
      return done;
    }
    case 'room-file-progress': {
      const name = safeLine(event.name);
      const fileId = event.fileId !== undefined ? safeLine(event.fileId) : undefined;
      const job = [...host.roomFileJobs.values()].find((j) =>
        event.direction === 'up' ? j.direction === 'up' && j.name === name : j.direction === 'down' && fileId !== undefined && j.fileId !== undefined && fileId.startsWith(j.fileId),
      );
      if (job !== undefined) {
        if (event.direction === 'down') job.name = name;
        job.progress = { bytes: event.bytes, total: event.total, percent: event.percent, speedBps: event.speedBps, etaSec: event.etaSec };
      }
      return done;
    }
    case 'transfers': {
      if (event.transfers.length === 0) {
        host.system('no file transfers; /send USER PATH offers one');
        return done;
      }
      const lines = ['file transfers:'];
      for (const t of event.transfers) {
        const arrow = t.direction === 'out' ? `to ${safeLine(t.peer)}` : `from ${safeLine(t.peer)}`;
        const progress = `${t.percent.toFixed(1)}% of ${formatBytes(t.size)}`;
        const speed = t.state === 'transferring' ? `, ${formatSpeed(t.speedBps)}` : '';
        const via = t.path !== null ? ` via ${formatPath(t.path)}` : '';
        const code = t.code !== undefined ? ` ${safeLine(t.code)}` : '';
        const files = t.folder !== undefined ? `, ${t.folder.filesDone} of ${t.folder.files} files` : '';
        lines.push(`  ${shortId(safeLine(t.id))}  ${safeLine(t.name)} ${arrow}: ${safeLine(t.state)}${code}${via}, ${progress}${files}${speed}`);
      }
      host.system(lines.join('\n'));
      return done;
    }
    default:
      return { handled: false, bell: false };
  }
}
