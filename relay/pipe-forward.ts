import net from 'node:net';
import type { Duplex } from 'node:stream';
import { readIntoBuffer } from '../shared/socket-read-buffer.js';

/** Bytes per read from a pipe's socket, and the size of each pooled write buffer. */
const READ_BYTES = 64 * 1024;

/**
 * One direction of a relay pipe: every byte read from `from` is written to `to`, in order.
 * `onBytes(count)` sees each read first; false drops it and stops (the caller ends the pipe).
 * Reading pauses while more than `bufferBytes` wait for `to` (written but not yet handed to
 * the kernel), and resumes once half of that is gone.
 *
 * Why not 'data' events: each read then arrives in a new 64 KiB Buffer, and at a few hundred
 * MB/s V8 spends its time collecting them (a CPU profile of the relay piping 1 GB: 0.4 s of
 * garbage collection on its main thread and ~0.6 s on V8's helper threads, of ~2.4 s per GB).
 * Here reads land in one buffer per direction (shared/socket-read-buffer.ts) and are copied
 * into write buffers that are reused once their write is done: no allocation per read.
 * Streams without a socket handle (a test's stream pair) get the 'data' path.
 */
export function forwardBytes(from: Duplex, to: Duplex, bufferBytes: number, onBytes: (count: number) => boolean): void {
  let waiting = 0;
  let paused = false;
  /** Writes `chunk` to `to`; `release` once `to` is done with it. */
  const send = (chunk: Buffer, release?: () => void): void => {
    const count = chunk.length;
    waiting += count;
    to.write(chunk, () => {
      release?.();
      waiting -= count;
      if (paused && waiting <= bufferBytes / 2) {
        paused = false;
        from.resume();
      }
    });
    if (waiting > bufferBytes) {
      paused = true;
      from.pause();
    }
  };
  const free: Buffer[] = [];
  const reused =
    from instanceof net.Socket &&
    readIntoBuffer(from, Buffer.allocUnsafe(READ_BYTES), (count, bytes) => {
      if (!onBytes(count)) return false;
      // A read bigger than the pooled size only happens with bytes held before the switch.
      const chunk = count <= READ_BYTES ? (free.pop() ?? Buffer.allocUnsafe(READ_BYTES)) : Buffer.allocUnsafe(count);
      bytes.copy(chunk, 0, 0, count);
      // Reused only after its write: until then libuv may still read from it.
      send(chunk.subarray(0, count), () => {
        if (chunk.length === READ_BYTES && (free.length + 1) * READ_BYTES <= bufferBytes) free.push(chunk);
      });
      return true;
    });
  if (!reused) {
    from.on('data', (chunk: Buffer) => {
      if (onBytes(chunk.length)) send(chunk);
    });
  }
  // A relay link or a pipe's socket arrives paused (after its header line).
  if (!paused) from.resume();
}
