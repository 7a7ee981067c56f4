import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { renderHaproxyConfig, type HaproxyRelay } from './haproxy-config.js';

/**
 * A haproxy of our own in front of loopback relays, for `npm run cluster`: its configuration
 * rendered from the same template as deploy/haproxy.cfg into a folder we name, run in the
 * foreground (`-db`), stopped by PID. In production HAProxy is the operator's (deploy/).
 */
export interface HaproxyProcess {
  /** HOST:PORT clients connect to. */
  readonly address: string;
  readonly config: string;
  readonly pid: number;
  /** SIGTERM (HAProxy's hard stop: closes every connection), then waits for the exit. */
  stop(): Promise<void>;
}

export const HAPROXY_PATHS = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'];

/** The haproxy binary, if installed. */
export async function findHaproxy(): Promise<string | undefined> {
  for (const path of HAPROXY_PATHS) {
    if (await access(path).then(() => true, () => false)) return path;
  }
  return undefined;
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath, () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * Writes `dir/haproxy.cfg` for `relays` (listening on `host:port`), starts haproxy (which
 * checks the file and exits on a fault) and resolves once its admin socket answers (by then it
 * has bound the client port). Its log lines go to `log`.
 */
export async function startHaproxy(
  binary: string,
  dir: string,
  options: { host: string; port: number; relays: readonly HaproxyRelay[]; log: (line: string) => void },
): Promise<HaproxyProcess> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const config = join(dir, 'haproxy.cfg');
  const statsSocket = join(dir, 'admin.sock');
  const address = `${options.host}:${options.port}`;
  await writeFile(
    config,
    renderHaproxyConfig({
      bind: address,
      relays: options.relays,
      log: 'stdout',
      // Fits a user's usual descriptor limit; a try-out cluster needs no more.
      maxconn: 1000,
      statsSocket,
      heading: ['securechat local cluster (npm run cluster): made at each start from relay/cluster/haproxy-config.ts.'],
    }),
  );
  const child: ChildProcess = spawn(binary, ['-f', config, '-db'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C reaches only the cluster script, which stops the relays
    // first (they say goodbye through HAProxy) and HAProxy after them.
    detached: true,
  });
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', options.log);
  const deadline = Date.now() + 10_000;
  while (!(await answers(statsSocket))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null) child.kill('SIGTERM');
      throw new Error(`haproxy did not start with ${config} (see its lines above)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    address,
    config,
    pid: child.pid ?? -1,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
