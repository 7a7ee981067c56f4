/**
 * The cluster the cluster tests and the failover bench stand up: a temp folder, a real
 * redis-server, one relay certificate and one room-files folder for every relay, relays as
 * their own processes (relay-child.ts, so one can be SIGKILLed for real) and, if asked, a real
 * haproxy in front rendered from the shared template (relay/cluster/haproxy-config.ts).
 * Everything it starts is stopped by PID in `stop()`, which never throws; should the process
 * exit without reaching it, an exit hook SIGKILLs what is still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CERT_FILE_NAME, KEY_FILE_NAME, loadOrCreateCertificate } from '../../relay/certs.js';
import { startHaproxy, type HaproxyProcess } from '../../relay/cluster/haproxy-process.js';
import { freeLoopbackPort, startRedis, type RedisProcess } from '../../relay/cluster/redis-process.js';
import type { Limits } from '../../shared/limits.js';
import type { ChatClientOptions } from '../../tui/core/client.js';
import { TEST_PASSWORD } from '../helpers/clients.js';
import { tempDir } from '../helpers/temp.js';
import type { RelayChildConfig } from './relay-child.js';

const RELAY_CHILD = join(dirname(fileURLToPath(import.meta.url)), 'relay-child.js');

export interface ClusterRelay {
  relayId: string;
  port: number;
  child: ChildProcess;
  exited: Promise<unknown>;
}

export interface ClusterOptions {
  /** Temp folder prefix, e.g. 'securechat-failover-'. */
  prefix: string;
  /** Relay processes started at once, named r1, r2, ... (default 3; 0 for a test that runs its relays in process). */
  relays?: number;
  /** Limits of every relay process. */
  limits?: Partial<Limits>;
  /** The haproxy binary (findHaproxy()): HAProxy in front of the relays, which then trust its PROXY v2 headers. */
  haproxy?: string;
}

export interface Cluster {
  dir: { path: string; remove: () => Promise<void> };
  redis: RedisProcess;
  /** The one certificate every relay serves: clients pin one fingerprint, whichever relay they reach. */
  certificateDir: string;
  fingerprint: string;
  /** The room files' folder, shared by every relay. */
  filesDir: string;
  relays: ClusterRelay[];
  /** Set when started with `haproxy`: clients connect to 127.0.0.1:haproxyPort. */
  haproxy?: HaproxyProcess;
  haproxyPort: number;
  /** Every relay's and HAProxy's log lines (relay lines prefixed `[rN]`), for a failure's report. */
  logs: string[];
  /** The relay whose log has `line` (e.g. `login: ann from 127.0.0.3`), if any. */
  relayLogging(line: string): string | undefined;
  /** `show stat` on HAProxy's admin socket: current sessions per relay (scur). */
  sessionsPerRelay(): Promise<Map<string, number>>;
  /** Writes every log line so far to a file outside the cluster's folder (which stop() removes), for a failure's report; its path. */
  saveLogs(): Promise<string>;
  /** Stops the relays (SIGTERM, SIGKILL after 10 s), HAProxy and Redis, removes the folder. Never throws. */
  stop(): Promise<void>;
}

/** Resolves with `promise`, or rejects after `ms` saying what did not happen. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** SIGTERM (the relay's clean shutdown), SIGKILL if it is still there after 10 s. */
export async function stopRelayChild(relay: ClusterRelay): Promise<void> {
  if (relay.child.exitCode !== null || relay.child.signalCode !== null) return;
  relay.child.kill('SIGTERM');
  await within(relay.exited, 10_000, `relay ${relay.relayId} stopping`).catch(() => {
    relay.child.kill('SIGKILL');
    return relay.exited;
  });
}

/** Starts the cluster; if any part fails to start, stops what did start and rethrows. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = await tempDir(options.prefix);
  const logs: string[] = [];
  const certificateDir = join(dir.path, 'certificate');
  const filesDir = join(dir.path, 'files');
  const relays: ClusterRelay[] = [];
  /** Every relay process started, also one that failed to start, for stop() and the exit hook. */
  const children: ClusterRelay[] = [];
  let redis: RedisProcess | undefined;
  let haproxy: HaproxyProcess | undefined;

  // Synchronous, for an exit that skips stop(): whatever still runs is killed by PID.
  const killLeftovers = (): void => {
    const pids = children.map((relay) => relay.child.pid).concat(haproxy?.pid, redis?.pid);
    for (const pid of pids) {
      if (pid === undefined || pid <= 0) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', killLeftovers);

  const startRelay = async (relayId: string, limits: Partial<Limits> = options.limits ?? {}): Promise<ClusterRelay> => {
    const config: RelayChildConfig = {
      relayId,
      redisUrl: redis!.url,
      dataDir: join(dir.path, relayId),
      filesDir,
      certFile: join(certificateDir, CERT_FILE_NAME),
      keyFile: join(certificateDir, KEY_FILE_NAME),
      // HAProxy connects from 127.0.0.1 and names the client in its PROXY v2 header.
      trustedProxies: options.haproxy !== undefined ? ['127.0.0.1'] : undefined,
      limits,
    };
    // stdin is a pipe the child watches: should this process die, the relay goes too.
    const child = spawn(process.execPath, [RELAY_CHILD, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    const relay: ClusterRelay = { relayId, port: 0, child, exited };
    children.push(relay);
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(`[${relayId}] ${line}`));
    const lines = createInterface({ input: child.stdout! });
    const [first] = (await within(Promise.race([once(lines, 'line'), exited.then(() => [undefined])]), 20_000, `relay ${relayId} starting`)) as [string | undefined];
    if (!first) throw new Error(`relay ${relayId} did not start:\n${logs.join('\n')}`);
    relay.port = (JSON.parse(first) as { port: number }).port;
    return relay;
  };

  const stop = async (): Promise<void> => {
    await Promise.all(children.map((relay) => stopRelayChild(relay).catch(() => {})));
    await haproxy?.stop().catch(() => {});
    await redis?.stop().catch(() => {});
    await dir.remove().catch(() => {});
    process.off('exit', killLeftovers);
  };

  try {
    const fingerprint = (await loadOrCreateCertificate(certificateDir)).fingerprint;
    await mkdir(filesDir, { recursive: true });
    redis = await startRedis(join(dir.path, 'redis'));
    for (let i = 1; i <= (options.relays ?? 3); i++) relays.push(await startRelay(`r${i}`));
    let haproxyPort = 0;
    if (options.haproxy !== undefined) {
      haproxyPort = await freeLoopbackPort();
      haproxy = await startHaproxy(options.haproxy, join(dir.path, 'haproxy'), {
        host: '127.0.0.1',
        port: haproxyPort,
        relays: relays.map((relay) => ({ name: relay.relayId, address: `127.0.0.1:${relay.port}` })),
        log: (line) => logs.push(`[haproxy] ${line}`),
      });
    }
    const statsSocket = join(dir.path, 'haproxy', 'admin.sock');
    return {
      dir,
      redis,
      certificateDir,
      fingerprint,
      filesDir,
      relays,
      haproxy,
      haproxyPort,
      logs,
      relayLogging: (line) => /^\[(r\d+)\] /.exec(logs.find((logged) => /^\[r\d+\] /.test(logged) && logged.endsWith(` ${line}`)) ?? '')?.[1],
      sessionsPerRelay: () => sessionsPerRelay(statsSocket),
      saveLogs: async () => {
        const file = join(tmpdir(), `${options.prefix}logs-${process.pid}-${Date.now()}.log`);
        await writeFile(file, logs.join('\n') + '\n');
        return file;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function sessionsPerRelay(statsSocket: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const socket = connect(statsSocket, () => socket.write('show stat\n'));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const sessions = new Map<string, number>();
      for (const line of text.split('\n')) {
        const [proxy, server, , , scur] = line.split(',');
        if (proxy === 'relays' && server !== 'BACKEND' && server !== undefined) sessions.set(server, Number(scur));
      }
      resolve(sessions);
    });
  });
}

/**
 * A client core's options for user `user` of the cluster, through HAProxy: its own config and
 * data folders in the cluster's folder, the cluster's fingerprint pinned, registering, a quick
 * reconnect. `options` overrides (transfers, proxy, localAddress...).
 */
export function clusterClientOptions(cluster: Cluster, user: string, options: Partial<ChatClientOptions> = {}): ChatClientOptions {
  return {
    host: '127.0.0.1',
    port: cluster.haproxyPort,
    user,
    password: TEST_PASSWORD,
    register: true,
    trust: { fingerprint: cluster.fingerprint },
    configDir: join(cluster.dir.path, `${user}-config`),
    dataDir: join(cluster.dir.path, `${user}-data`),
    backoff: { baseMs: 20, maxMs: 200 },
    ...options,
  };
}
