/**
 * A redis-server of our own on loopback, for `npm run cluster` and the cluster tests: a free
 * port (or a given one), its data in a folder we name, AOF on (Debian's redis.conf ships
 * `appendonly no`), no RDB snapshots, stopped by PID. Never used in production, where Redis is
 * the operator's (deploy/, docs/cluster.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';

/** The redis-server binary: `$SECURECHAT_REDIS_SERVER`, else Debian's. */
export const REDIS_SERVER_PATH = process.env.SECURECHAT_REDIS_SERVER ?? '/usr/bin/redis-server';

/** True when a redis-server binary is installed. */
export function redisServerAvailable(): boolean {
  return existsSync(REDIS_SERVER_PATH);
}

export interface RedisProcessOptions {
  /** `appendfsync` policy (default `everysec`, as in production). */
  appendfsync?: 'everysec' | 'always' | 'no';
  /** `appendonly` (default true; false only to test that an unsafe Redis is refused). */
  appendonly?: boolean;
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
  /**
   * In a process group of its own, so a Ctrl-C in the terminal reaches only the caller, which
   * can stop the relays before Redis (`npm run cluster`).
   */
  detached?: boolean;
}

export interface RedisProcess {
  url: string;
  port: number;
  /** PID of the running redis-server (changes on restart). */
  readonly pid: number;
  /** Its working folder (AOF lives in `<dir>/appendonlydir`). */
  dir: string;
  /** SIGTERM by PID (Redis writes and fsyncs its AOF on a clean shutdown) and waits for the exit; killed if it refuses. */
  stop(): Promise<void>;
  /** SIGKILL by PID, waits for exit: the crash case. */
  kill9(): Promise<void>;
  /** Starts redis-server again on the same port and folder. */
  restart(): Promise<void>;
}

/** A free TCP port on 127.0.0.1: bind port 0, read the port, close. */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One inline RESP PING over a fresh socket; true when the answer is +PONG. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** How long a SIGTERM'd server gets to write its AOF and exit before it is killed. */
const STOP_GRACE_MS = 5_000;

/** Keeps the last few KB of the server's log, for error messages. */
const LOG_TAIL_CHARS = 4_096;

/**
 * Waits for the server's own "Ready to accept connections" log line (after it loaded its AOF),
 * then checks with one PING; fails when the process exits first or 10 s pass.
 */
function waitUntilReady(child: ChildProcess, port: number, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      cleanup();
      reject(new Error(`redis-server on port ${port} ${why}:\n${log()}`));
    };
    const onData = (): void => {
      if (!/Ready to accept connections/.test(log())) return;
      cleanup();
      void pingOnce(port).then((ok) => (ok ? resolve() : reject(new Error(`redis-server on port ${port} said it was ready but did not answer PING:\n${log()}`))));
    };
    const onExit = (): void => fail('exited before it was ready');
    const timer = setTimeout(() => fail('was not ready within 10 s'), 10_000);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    // Registered after the log collector (see launch), so log() already holds the new chunk.
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Starts redis-server on loopback with `dir` as its folder and waits until it answers. */
export async function startRedis(dir: string, options: RedisProcessOptions = {}): Promise<RedisProcess> {
  if (!redisServerAvailable()) throw new Error(`redis-server is not installed at ${REDIS_SERVER_PATH} (Debian: apt-get install redis-server)`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freeLoopbackPort());
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'no', // loopback only (bind above), no password in tests
    '--dir', dir,
    '--appendonly', options.appendonly === false ? 'no' : 'yes',
    '--appendfsync', options.appendfsync ?? 'everysec',
    '--save', '',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
    '--logfile', '',
    '--loglevel', 'notice', // its "Ready to accept connections" line is what we wait for
  ];
  let child: ChildProcess;
  let output = '';
  const launch = async (): Promise<void> => {
    output = '';
    child = spawn(REDIS_SERVER_PATH, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-LOG_TAIL_CHARS);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    try {
      await waitUntilReady(child, port, () => output);
    } catch (error) {
      child.kill('SIGKILL');
      await exited(child);
      throw error;
    }
  };
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    process.kill(child.pid, name);
    if (name === 'SIGKILL') return exited(child);
    // Redis may refuse a SIGTERM (it logs why and keeps running); a test must not hang on it.
    let timer: NodeJS.Timeout | undefined;
    const refused = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_GRACE_MS)));
    const gone = await Promise.race([exited(child).then(() => false), refused]);
    clearTimeout(timer);
    if (gone) {
      console.error(`redis-server ${child.pid} did not exit within ${STOP_GRACE_MS} ms of ${name}; killing it. Its log:\n${output}`);
      process.kill(child.pid, 'SIGKILL');
      await exited(child);
    }
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid ?? -1;
    },
    dir,
    stop: () => signal('SIGTERM'),
    kill9: () => signal('SIGKILL'),
    restart: async () => {
      await signal('SIGTERM');
      await launch();
    },
  };
}
