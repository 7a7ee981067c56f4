/** Room files on the wire, as a client does them: ticket on the chat connection, bytes on a side connection. */
import { createHash } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import * as assert from 'uvu/assert';
import { FrameDecoder, FrameKind, decodeControlPayload, encodeControl } from '../../shared/codec.js';
import { parseRelayMessage, type RelayMessage } from '../../shared/messages.js';
import { WireClient } from './wire-client.js';

export function blake(data: Buffer): string {
  return createHash('blake2b512').update(data).digest('hex');
}

/** Asks for an upload ticket on the chat connection. */
export function askUpload(client: WireClient, name: string, data: Buffer, hash = blake(data)): Promise<RelayMessage> {
  return client.request({ t: 'file-upload', id: client.id(), name, size: data.length, hash });
}

/** The upload side connection: hello, file-put, file-ready, raw bytes, then the one answer frame. */
export async function putBytes(port: number, ticket: string, data: Buffer): Promise<RelayMessage> {
  const side = await WireClient.open(port);
  await side.hello();
  const ready = await side.request({ t: 'file-put', id: 'up1', ticket });
  if (ready.t !== 'file-ready') {
    side.close();
    return ready;
  }
  const answer = side.waitFor((m) => m.t === 'file-stored' || m.t === 'error');
  side.socket.write(data);
  const result = await answer;
  await side.whenClosed();
  return result;
}

export async function upload(client: WireClient, port: number, name: string, data: Buffer): Promise<string> {
  const ticket = await askUpload(client, name, data);
  if (ticket.t !== 'file-ticket') throw new Error(`no ticket: ${JSON.stringify(ticket)}`);
  const stored = await putBytes(port, ticket.ticket, data);
  if (stored.t !== 'file-stored') throw new Error(`not stored: ${JSON.stringify(stored)}`);
  assert.is(stored.fileId, ticket.fileId);
  return stored.fileId;
}

/** The download side connection, read frame by frame so the raw bytes after file-ready are not taken for frames. */
export function getBytes(port: number, ticket: string): Promise<{ ready: RelayMessage; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    const splitter = new FrameDecoder(64 * 1024);
    let ready: RelayMessage | undefined;
    const body: Buffer[] = [];
    socket.on('error', reject);
    socket.once('secureConnect', () => socket.write(encodeControl({ t: 'hello', v: 1 })));
    socket.on('data', (chunk: Buffer) => {
      if (ready) return void body.push(chunk);
      splitter.append(chunk);
      for (let frame = splitter.next(); frame; frame = splitter.next()) {
        if (frame.kind !== FrameKind.control) return reject(new Error('data frame'));
        const parsed = parseRelayMessage(decodeControlPayload(frame.payload));
        if (!parsed.ok) return reject(new Error(parsed.error));
        const message = parsed.value;
        if (message.t === 'welcome') socket.write(encodeControl({ t: 'file-get', id: 'get1', ticket }));
        else if (message.t === 'file-ready' || message.t === 'error') {
          ready = message;
          body.push(splitter.rest());
          if (message.t === 'error') socket.destroy();
          return;
        }
      }
    });
    socket.on('close', () => (ready ? resolve({ ready, data: Buffer.concat(body) }) : reject(new Error('closed before file-ready'))));
  });
}
