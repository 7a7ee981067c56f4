/**
 * NAT-lab helper, run by test/nat/run.sh inside the lab's namespaces (not a unit test).
 * Until the real relay carries transfers, a stand-in in the relay namespace does its two
 * jobs: it forwards the peers' end-to-end messages (JSON lines, paired by transfer id) and
 * joins their relay pipes (paired by id). It also tells each peer the address it sees.
 *
 *   node transfer-check.js rendezvous --port 7100
 *   node transfer-check.js receiver --rendezvous 198.20.0.10:7100 --id ID --out DIR [--mapping on|off]
 *   node transfer-check.js sender   --rendezvous 198.20.0.10:7100 --id ID --file FILE [--mapping on|off]
 *
 * Peers print one JSON line with the outcome: state, the path of each session, the hash.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import type { Duplex } from 'node:stream';
import type { TransferPeerMessage } from '../../shared/transfer/wire.js';
import { FileTransfer, type TransferOptions } from '../../tui/core/transfer/transfer.js';

function option(name: string, fallback = ''): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : String(process.argv[at + 1]);
}

const role = process.argv[2];
const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
const log = (line: string): void => void process.stderr.write(`[${role}] ${line}\n`);

async function rendezvous(port: number): Promise<void> {
  const messagePeers = new Map<string, net.Socket[]>();
  const pipes = new Map<string, net.Socket>();
  const backlog = new Map<string, Array<{ from: net.Socket; line: string }>>();
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const newline = head.indexOf(10);
      if (newline === -1) return;
      socket.off('data', onData);
      socket.pause();
      const [kind, id] = head.subarray(0, newline).toString().split(' ');
      const rest = head.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      if (kind === 'MSG') {
        // Line-oriented forwarding between the two message connections of one id.
        socket.write(`${JSON.stringify({ observed: socket.remoteAddress })}\n`);
        const peers = messagePeers.get(id) ?? [];
        peers.push(socket);
        messagePeers.set(id, peers);
        // Lines sent before the other side connected wait for it.
        const waiting = backlog.get(id) ?? [];
        for (const entry of waiting) if (entry.from !== socket) socket.write(`${entry.line}\n`);
        backlog.set(id, waiting.filter((entry) => entry.from === socket));
        const lines = readline.createInterface({ input: socket });
        lines.on('line', (line) => {
          const others = (messagePeers.get(id) ?? []).filter((other) => other !== socket);
          if (others.length === 0) backlog.set(id, [...(backlog.get(id) ?? []), { from: socket, line }]);
          for (const other of others) other.write(`${line}\n`);
        });
        socket.resume();
      } else if (kind === 'PIPE') {
        const other = pipes.get(id);
        if (other === undefined || other.destroyed) {
          pipes.set(id, socket);
          return;
        }
        pipes.delete(id);
        other.pipe(socket).pipe(other);
        other.on('close', () => socket.destroy());
        socket.on('close', () => other.destroy());
        other.resume();
        socket.resume();
      } else {
        socket.destroy();
      }
    };
    socket.on('data', onData);
  });
  server.listen(port, '0.0.0.0');
  await once(server, 'listening');
  log(`listening on ${port}`);
}

async function connectLine(host: string, port: number, line: string): Promise<net.Socket> {
  const socket = net.connect(port, host);
  await once(socket, 'connect');
  socket.write(`${line}\n`);
  return socket;
}

async function sha(file: string): Promise<string> {
  const hash = createHash('blake2b512');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function peer(): Promise<void> {
  const [host, portText] = option('rendezvous').split(':');
  const port = Number(portText);
  const id = option('id');
  const messages = await connectLine(host, port, `MSG ${id}`);
  const lines = readline.createInterface({ input: messages });
  let observed: string | null = null;
  let transfer: FileTransfer | null = null;
  let started!: (transfer: FileTransfer) => void;
  const ready = new Promise<FileTransfer>((resolve) => (started = resolve));
  const paths: string[] = [];
  const options = (): TransferOptions => ({
    link: {
      send: (message: TransferPeerMessage) => void messages.write(`${JSON.stringify(message)}\n`),
      dialRelay: async (transferId: string): Promise<Duplex> => connectLine(host, port, `PIPE ${transferId}`),
    },
    listenHost: '0.0.0.0',
    localCandidates: 'interfaces',
    observedAddress: observed ?? undefined,
    portMapping: option('mapping', 'on') === 'on' ? {} : false,
    log,
  });
  const begin = (created: FileTransfer): void => {
    transfer = created;
    created.on('session', (session) => paths.push(session.path));
    started(created);
  };
  lines.on('line', (line) => {
    const message = JSON.parse(line) as unknown;
    if (observed === null) {
      observed = (message as { observed: string }).observed.replace(/^::ffff:/, '');
      log(`the rendezvous sees us as ${observed}`);
      if (role === 'sender') {
        FileTransfer.send(option('file'), { ...options(), transferId: id }).then(begin, (error: unknown) => {
          log(`send failed: ${String(error)}`);
          process.exit(1);
        });
      }
      return;
    }
    if (transfer === null && role === 'receiver') {
      const created = FileTransfer.receive(message, options());
      begin(created);
      created.accept(option('out')).catch((error: unknown) => log(`accept failed: ${String(error)}`));
      return;
    }
    try {
      (transfer as FileTransfer | null)?.handlePeerMessage(message);
    } catch (error) {
      log(`refused a message from the peer: ${String(error)}`);
    }
  });
  const running = await ready;
  const result = await running.finished;
  const hash = result.state === 'completed' && result.filePath !== undefined ? await sha(result.filePath) : null;
  print({ role, state: result.state, code: result.code ?? null, paths, hash });
  messages.destroy();
  process.exitCode = result.state === 'completed' ? 0 : 1;
}

if (role === 'rendezvous') await rendezvous(Number(option('port', '7100')));
else if (role === 'sender' || role === 'receiver') await peer();
else {
  process.stderr.write('usage: transfer-check.js rendezvous|sender|receiver ...\n');
  process.exitCode = 2;
}
