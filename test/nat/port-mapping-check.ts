/**
 * NAT-lab helper, run inside a peer's namespace by test/nat/run.sh (not a unit test):
 *
 *   node dist/test/nat/port-mapping-check.js --port 40100 [--method both|upnp|nat-pmp]
 *        [--expect mapping|none] [--hold-ms 5000] [--timeout-ms 3000]
 *
 * Listens on --port, asks tui/core/transfer/port-mapping.ts for a mapping and prints one JSON
 * line: {"mapping": {...} | null, "ms": N}. With a mapping it then answers "hello from <ns>"
 * to the first TCP connection (run.sh connects from the relay namespace to the external
 * address), releases the mapping and prints {"released": true}. Exit 0 when the result is
 * what --expect says, 1 otherwise.
 */
import net from 'node:net';
import { mapPort } from '../../tui/core/transfer/port-mapping.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : String(process.argv[at + 1]);
}

const port = Number(option('port', '40100'));
const method = option('method', 'both');
const expect = option('expect', 'mapping');
const holdMs = Number(option('hold-ms', '5000'));
const timeoutMs = Number(option('timeout-ms', '3000'));
const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
const log = (line: string): void => void process.stderr.write(`[port-mapping-check] ${line}\n`);

const server = net.createServer((socket) => {
  socket.end(`hello from ${process.env.LAB_NS ?? 'peer'}\n`);
  answered();
});
let answered: () => void = () => undefined;
const firstConnection = new Promise<void>((resolve) => (answered = resolve));
await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));

const started = performance.now();
const mapping = await mapPort(port, {
  timeoutMs,
  ttlMs: 10 * 60_000,
  description: 'securechat nat lab',
  upnp: method !== 'nat-pmp',
  natPmp: method !== 'upnp',
  log,
});
const ms = Math.round(performance.now() - started);
print({
  mapping: mapping === null ? null : { method: mapping.method, externalHost: mapping.externalHost, externalPort: mapping.externalPort, internalHost: mapping.internalHost, internalPort: mapping.internalPort },
  ms,
});

let ok = expect === 'none' ? mapping === null : mapping !== null && (method === 'both' || mapping.method === method);
if (mapping !== null) {
  const timer = setTimeout(() => {
    log(`nobody connected within ${holdMs} ms`);
    ok = false;
    answered();
  }, holdMs);
  await firstConnection;
  clearTimeout(timer);
  const releaseStarted = performance.now();
  await mapping.release();
  print({ released: true, ms: Math.round(performance.now() - releaseStarted) });
}
server.close();
process.exitCode = ok ? 0 : 1;
