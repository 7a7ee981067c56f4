import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

/**
 * A redis-server of our own on loopback, for `npm run cluster` and the cluster tests: a free
 * port, its data in a folder we name, AOF on (Debian's redis.conf ships `appendonly no`),
 * stopped by PID. Never used in production, where Redis is the operator's (deploy/).
 */
export interface RedisProcess {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly pid: number;
  /** SIGTERM, then waits for the exit (Redis writes its AOF buffer first). */
  stop(): Promise<void>;
  /** SIGKILL: the crash case. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and folder (after stop or kill9). */
  restart(): Promise<void>;
}

export const REDIS_SERVER_PATHS = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'];

/** The redis-server binary, if installed. */
export async function findRedisServer(): Promise<string | undefined> {
  for (const path of REDIS_SERVER_PATHS) {
    if (await access(path).then(() => true, () => false)) return path;
  }
  return undefined;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setTimeout(500, () => socket.destroy());
    socket.on('data', (data) => {
      resolve(data.toString().startsWith('+PONG'));
      socket.destroy();
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

/**
 * Starts redis-server on a free loopback port with `dir` as its folder; `appendfsync`: everysec
 * (default) or always. `detached`: in a process group of its own, so a Ctrl-C in the terminal
 * reaches only the caller, which can stop the relays before Redis (`npm run cluster`).
 */
export async function startRedis(dir: string, options: { appendfsync?: 'everysec' | 'always'; port?: number; detached?: boolean } = {}): Promise<RedisProcess> {
  const binary = await findRedisServer();
  if (!binary) throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const port = options.port ?? (await freePort());
  const config = join(dir, 'redis.conf');
  await writeFile(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'protected-mode yes',
      `dir ${dir}`,
      'appendonly yes',
      `appendfsync ${options.appendfsync ?? 'everysec'}`,
      'save ""',
      'maxmemory-policy noeviction',
      'daemonize no',
      `logfile ${join(dir, 'redis.log')}`,
    ].join('\n') + '\n',
  );
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn(binary, [config], { stdio: 'ignore', detached: options.detached ?? false });
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (see ${join(dir, 'redis.log')})`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child.pid ?? -1;
    },
    stop: () => end('SIGTERM'),
    kill9: () => end('SIGKILL'),
    restart: launch,
  };
}
