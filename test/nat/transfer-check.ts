/**
 * NAT-lab helper, run by test/nat/run.sh on the host side (not a unit test): one whole file
 * transfer between two real `securechat --json` clients (dist/tui/cli.js), each started in
 * its peer's namespace with `ip netns exec` (a Node process cannot switch namespace), through
 * the real relay on the lab's "internet" segment.
 *
 *   node dist/test/nat/transfer-check.js --relay 198.20.0.10:7443 --fingerprint sha256:HEX
 *        --receiver-ns sc1-pa --sender-ns sc1-pb --room lab-direct --file PAYLOAD --home DIR
 *        [--register] [--expect-path direct|lan|relay] [--timeout-ms 60000]
 *
 * alice (the receiver, in --receiver-ns) creates --room; bob (the sender) joins it and says
 * `/send alice PAYLOAD`; alice answers `/accept ID DIR/alice/downloads`; both then `/exit`.
 * --register makes the accounts (the first run); later runs log in with the identity keys
 * and key pins kept in DIR. Each client's JSON events and stderr go to DIR/<user>-<room>.*.
 *
 * Prints one JSON line: {id, size, hash, receiverPaths, senderPaths, ms}, `hash` being the
 * SHA-256 of the file alice saved, the paths every path either side reported for the
 * transfer. Exit 0 when both sides end with transfer-done, the saved file hashes like the
 * sent one and every path reported is --expect-path; 1 otherwise (reasons on stderr).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatEvent, ChatEventOf, ChatEventType } from '../../tui/core/events.js';

const CLI = fileURLToPath(new URL('../../tui/cli.js', import.meta.url));
const PASSWORD = 'nat lab correct horse';
const RECEIVER = 'alice';
const SENDER = 'bob';
/** How long a client may take to exit after /exit before it is killed, ms. */
const EXIT_WAIT_MS = 15_000;

function option(name: string, fallback?: string): string {
  const at = process.argv.indexOf(`--${name}`);
  if (at !== -1 && process.argv[at + 1] !== undefined) return process.argv[at + 1];
  if (fallback !== undefined) return fallback;
  process.stderr.write(`transfer-check: --${name} is required\n`);
  process.exit(2);
}

const relay = option('relay');
const fingerprint = option('fingerprint');
const room = option('room');
const file = path.resolve(option('file'));
const home = path.resolve(option('home'));
const expectPath = option('expect-path', 'direct');
const timeoutMs = Number(option('timeout-ms', '60000'));
const register = process.argv.includes('--register');
const log = (line: string): void => void process.stderr.write(`    [transfer-check ${room}] ${line}\n`);

/** One `securechat --json` process in a namespace: its events, lines in, bounded exit. */
class LabClient {
  readonly events: ChatEvent[] = [];
  readonly exited: Promise<number>;
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly eventLog: WriteStream;
  private waiters: Array<() => void> = [];

  constructor(
    readonly user: string,
    namespace: string,
  ) {
    const base = path.join(home, user);
    const args = ['--json', '--server', relay, '--user', user, '--fingerprint', fingerprint, ...(register ? ['--register'] : [])];
    // `timeout` bounds the client's life whatever happens to this script (lab_down kills
    // everything left in the namespaces anyway).
    const lifetimeSeconds = String(Math.ceil((timeoutMs + EXIT_WAIT_MS) / 1000) + 5);
    this.proc = spawn('ip', ['netns', 'exec', namespace, 'timeout', '-k', '5', lifetimeSeconds, process.execPath, CLI, ...args], {
      env: {
        ...process.env,
        HOME: base,
        SECURECHAT_PASSWORD: PASSWORD,
        SECURECHAT_CONFIG_DIR: path.join(base, 'config'),
        SECURECHAT_DATA_DIR: path.join(base, 'data'),
      },
      stdio: 'pipe',
    });
    this.eventLog = createWriteStream(`${base}-${room}.events`);
    this.proc.stderr.pipe(createWriteStream(`${base}-${room}.err`));
    this.proc.stdin.on('error', () => undefined);
    let buffer = '';
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (chunk: string) => {
      this.eventLog.write(chunk);
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.events.push(JSON.parse(line) as ChatEvent);
        } catch {
          log(`${user}: not a JSON line: ${line.slice(0, 200)}`);
        }
      }
      for (const wake of [...this.waiters]) wake();
    });
    this.exited = new Promise((resolve) => this.proc.on('close', (code, signal) => resolve(code ?? (signal !== null ? 128 : -1))));
  }

  of<T extends ChatEventType>(type: T): ChatEventOf<T>[] {
    return this.events.filter((e): e is ChatEventOf<T> => e.type === type);
  }

  /** The first event of `type` matching `match`, seen already or to come (the overall deadline bounds the wait). */
  waitFor<T extends ChatEventType>(type: T, match: (e: ChatEventOf<T>) => boolean = () => true): Promise<ChatEventOf<T>> {
    return new Promise((resolve) => {
      const check = (): void => {
        const found = this.of(type).find(match);
        if (found === undefined) return;
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(found);
      };
      this.waiters.push(check);
      check();
    });
  }

  send(line: string): void {
    this.proc.stdin.write(`${line}\n`);
  }

  /** `/exit` (the JSON mode waits for running transfers first), then a kill if it hangs. */
  async finish(): Promise<number> {
    if (this.proc.exitCode === null) {
      this.send('/exit');
      this.proc.stdin.end();
    }
    const timer = setTimeout(() => this.kill(), EXIT_WAIT_MS);
    const code = await this.exited;
    clearTimeout(timer);
    this.eventLog.end();
    return code;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
  }
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every path (direct, lan, relay) `client` reported for transfer `id`, in order, without repeats. */
function pathsOf(client: LabClient, id: string): string[] {
  const paths: string[] = [];
  for (const event of client.events) {
    if (!('id' in event) || event.id !== id || !('path' in event) || typeof event.path !== 'string') continue;
    if (!paths.includes(event.path)) paths.push(event.path);
  }
  return paths;
}

/** The first transfer-failed or command error of `client`, as a rejected promise. */
function failureOf(client: LabClient): Promise<never> {
  return new Promise((_, reject) => {
    void client.waitFor('transfer-failed').then((e) => reject(new Error(`${client.user}: transfer-failed ${e.code}: ${e.message}`)));
    void client.waitFor('error').then((e) => reject(new Error(`${client.user}: error ${e.code}${e.command ? ` (/${e.command})` : ''}: ${e.message}`)));
    void client.exited.then((code) => reject(new Error(`${client.user}: the client exited early (status ${code})`)));
  });
}

async function transfer(receiver: LabClient, sender: LabClient): Promise<Record<string, unknown>> {
  const started = performance.now();
  await receiver.waitFor('joined', (e) => e.room.toLowerCase() === 'global');
  receiver.send(`/create ${room}`);
  await receiver.waitFor('joined', (e) => e.room === room);
  await sender.waitFor('joined', (e) => e.room.toLowerCase() === 'global');
  sender.send(`/join ${room}`);
  const joined = await sender.waitFor('joined', (e) => e.room === room);
  if (!joined.users.some((u) => u.toLowerCase() === RECEIVER)) throw new Error(`${RECEIVER} is not in ${room}: ${joined.users.join(', ')}`);

  const downloads = path.join(home, RECEIVER, 'downloads', room);
  await fs.mkdir(downloads, { recursive: true });
  sender.send(`/send ${RECEIVER} ${file}`);
  const offer = await receiver.waitFor('transfer-offer', (e) => e.from.toLowerCase() === SENDER);
  log(`offer ${offer.id}: ${offer.name}, ${offer.size} bytes`);
  receiver.send(`/accept ${offer.id} ${downloads}`);
  const [received, sent] = await Promise.all([
    receiver.waitFor('transfer-done', (e) => e.id === offer.id),
    sender.waitFor('transfer-done', (e) => e.id === offer.id),
  ]);
  const ms = Math.round(performance.now() - started);

  const expected = await sha256(file);
  const hash = await sha256(received.file);
  const receiverPaths = pathsOf(receiver, offer.id);
  const senderPaths = pathsOf(sender, offer.id);
  const problems: string[] = [];
  if (hash !== expected) problems.push(`the saved file's hash ${hash.slice(0, 16)}... is not the sent file's ${expected.slice(0, 16)}...`);
  // Today's senders offer without a hash (hashed while sending): the offer's is '' then.
  if (received.hash !== expected || sent.hash !== expected || (offer.hash !== '' && offer.hash !== expected)) problems.push('an event carries another hash than the file');
  if (path.dirname(received.file) !== downloads) problems.push(`saved as ${received.file}, not in ${downloads}`);
  for (const [who, paths] of [
    [RECEIVER, receiverPaths],
    [SENDER, senderPaths],
  ] as const) {
    if (paths.length === 0 || paths.some((p) => p !== expectPath)) problems.push(`${who} reported paths [${paths.join(', ')}], expected only ${expectPath}`);
  }
  const result = { id: offer.id, size: received.size, hash, receiverPaths, senderPaths, ms };
  if (problems.length > 0) throw Object.assign(new Error(problems.join('; ')), { result });
  return result;
}

await fs.mkdir(path.join(home, RECEIVER), { recursive: true });
await fs.mkdir(path.join(home, SENDER), { recursive: true });
const receiver = new LabClient(RECEIVER, option('receiver-ns'));
const sender = new LabClient(SENDER, option('sender-ns'));
let deadline: NodeJS.Timeout | undefined;
let ok = false;
try {
  const result = await Promise.race([
    transfer(receiver, sender),
    failureOf(receiver),
    failureOf(sender),
    new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`no result within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  ok = true;
} catch (error) {
  const result = (error as { result?: unknown }).result;
  if (result !== undefined) process.stdout.write(`${JSON.stringify(result)}\n`);
  log(`failed: ${error instanceof Error ? error.message : String(error)}`);
  for (const client of [receiver, sender]) {
    const tail = client.events.slice(-6).map((e) => JSON.stringify(e).slice(0, 240));
    for (const line of tail) log(`${client.user}: ${line}`);
  }
  // Do not wait for transfers that will not end: stop both clients now.
  receiver.kill();
  sender.kill();
} finally {
  clearTimeout(deadline);
}
const codes = await Promise.all([receiver.finish(), sender.finish()]);
if (ok && codes.some((code) => code !== 0)) {
  log(`a client exited with status ${codes.join('/')} after the transfer`);
  ok = false;
}
process.exitCode = ok ? 0 : 1;
