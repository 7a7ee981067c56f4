/** The relay pipe at the wire level: a ticket on the chat connection, then a fresh connection that joins. */
import { WireClient } from './wire-client.js';

export async function ticketFor(client: WireClient, peer: string, transfer: string): Promise<string> {
  const reply = await client.request({ t: 'pipe-ticket', id: client.id(), transfer, peer });
  if (reply.t !== 'pipe-ticket') throw new Error(`no ticket: ${JSON.stringify(reply)}`);
  return reply.ticket;
}

/** Opens a fresh connection, joins the pipe, and returns its raw socket once the pipe is ready. */
export async function openPipe(port: number, ticket: string): Promise<WireClient> {
  const client = await WireClient.open(port);
  client.send({ t: 'hello', v: 1 });
  await client.next('welcome');
  const ready = await client.request({ t: 'pipe', id: 'p', ticket });
  if (ready.t !== 'pipe-ready') throw new Error(`pipe refused: ${JSON.stringify(ready)}`);
  client.socket.removeAllListeners('data');
  return client;
}

export function readBytes(client: WireClient, count: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    client.socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got >= count) resolve(Buffer.concat(chunks));
    });
  });
}
