/**
 * Worker thread that hashes whole files (`hashFile`, file-sink.ts): a transfer's sender after
 * the receiver reports a mismatch, and room files before an upload and after a download. A
 * large file then never holds up the chat's event loop. (A receiver's partial file is hashed
 * as it is written, by FileSink, on the transfer's own thread.)
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { fileErrorCode, type WorkerReply, type WorkerRequest } from './file-worker-protocol.js';

const READ_BYTES = 1024 * 1024;

function hashRange(request: WorkerRequest): WorkerReply {
  const file = fs.openSync(request.path, 'r');
  try {
    const into = createHash(request.algorithm);
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    for (let at = request.start; at < request.end; ) {
      const got = fs.readSync(file, buffer, 0, Math.min(READ_BYTES, request.end - at), at);
      if (got === 0) throw new Error('file shorter than expected');
      into.update(buffer.subarray(0, got));
      at += got;
    }
    return { op: 'hashed', hash: into.digest('hex') };
  } finally {
    fs.closeSync(file);
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = hashRange(request);
  } catch (error) {
    reply = { op: 'error', code: fileErrorCode(error), message: error instanceof Error ? error.message : String(error) };
  }
  parentPort!.postMessage(reply);
});
