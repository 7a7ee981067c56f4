#!/usr/bin/env node
/**
 * `npm run cluster`: a local cluster to try: a redis-server of its own and three relays on
 * loopback ports sharing it (one certificate, one room-files folder), printing where to
 * connect. When haproxy is installed it goes in front, as in docs/cluster.md: the relays take
 * PROXY v2 headers from 127.0.0.1 only (`--proxy-protocol --trusted-proxy 127.0.0.1`) and
 * clients connect to HAProxy's one port. Ctrl-C stops everything it started: relays first
 * (their clients are told), then HAProxy, then redis-server. Data is kept under
 * `~/.local/share/securechat/cluster` (or `$SECURECHAT_CLUSTER_DATA`) between runs.
 *
 * Options: --relays N (1-9, default 3), --port P (first relay's port, default 7441; the
 * others follow), --haproxy-port P (default 7440), --no-haproxy (clients connect to the
 * relays directly), --fresh (start from empty data).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CERT_FILE_NAME, KEY_FILE_NAME, loadOrCreateCertificate } from '../certs.js';
import { findHaproxy, startHaproxy, type HaproxyProcess } from './haproxy-process.js';
import { startRedis } from './redis-process.js';

const RELAY_CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli.js');

function option(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value)) throw new Error(`${name} needs a whole number`);
  return value;
}

/** Starts `relay serve` and resolves with its first line (address and fingerprint). */
async function startRelayProcess(args: string[], name: string): Promise<{ child: ChildProcess; line: string }> {
  // Its own process group: Ctrl-C reaches only this script, which stops everything in order.
  const child = spawn(process.execPath, [RELAY_CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const prefix = `[${name}] `;
  createInterface({ input: child.stderr! }).on('line', (text) => process.stderr.write(prefix + text + '\n'));
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => [undefined])])) as [string | undefined];
  if (!line) throw new Error(`relay ${name} did not start (see its lines above)`);
  return { child, line };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const count = option(args, '--relays', 3);
  const firstPort = option(args, '--port', 7441);
  const haproxyPort = option(args, '--haproxy-port', 7440);
  if (count < 1 || count > 9) throw new Error('--relays takes 1 to 9');
  const haproxyBinary = args.includes('--no-haproxy') ? undefined : await findHaproxy();
  const root = resolve(process.env.SECURECHAT_CLUSTER_DATA ?? join(homedir(), '.local', 'share', 'securechat', 'cluster'));
  if (args.includes('--fresh')) await rm(root, { recursive: true, force: true });
  // One certificate for every relay: clients pin one fingerprint, whichever relay they reach.
  const certificate = await loadOrCreateCertificate(join(root, 'certificate'));
  const redis = await startRedis(join(root, 'redis'), { detached: true });
  console.log(`redis-server ${redis.url} (pid ${redis.pid}, data ${redis.dir})`);
  const relays: ChildProcess[] = [];
  let haproxy: HaproxyProcess | undefined;
  let stopping = false;
  const stopAll = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`stopping the relays${haproxy ? ', haproxy' : ''} and redis-server ...`);
    await Promise.all(relays.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }));
    await haproxy?.stop();
    await redis.stop();
    console.log('stopped');
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stopAll().then(() => process.exit(0)));
  // Behind HAProxy a relay believes PROXY headers from 127.0.0.1 only, and requires one.
  const proxyArgs = haproxyBinary ? ['--proxy-protocol', '--trusted-proxy', '127.0.0.1'] : [];
  try {
    for (let i = 1; i <= count; i++) {
      const name = `r${i}`;
      const { child, line } = await startRelayProcess(
        [
          '--port', String(firstPort + i - 1),
          '--data', join(root, name),
          '--files', join(root, 'files'),
          '--cert', join(root, 'certificate', CERT_FILE_NAME),
          '--key', join(root, 'certificate', KEY_FILE_NAME),
          '--redis', redis.url,
          '--relay-id', name,
          ...proxyArgs,
        ],
        name,
      );
      relays.push(child);
      child.on('exit', (code, signal) => {
        if (!stopping) console.log(`relay ${name} exited (${signal ?? code}); the others go on`);
      });
      console.log(`${name}: ${line}`);
    }
    if (haproxyBinary) {
      haproxy = await startHaproxy(haproxyBinary, join(root, 'haproxy'), {
        host: '127.0.0.1',
        port: haproxyPort,
        relays: Array.from({ length: count }, (_, i) => ({ name: `r${i + 1}`, address: `127.0.0.1:${firstPort + i}` })),
        log: (text) => process.stderr.write(`[haproxy] ${text}\n`),
      });
      console.log(`haproxy ${haproxy.address} (pid ${haproxy.pid}, config ${haproxy.config})`);
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  if (haproxy) {
    console.log(`\n${count} relays share one chat behind HAProxy. Clients connect to ${haproxy.address} only`);
    console.log('(the relays take connections from HAProxy alone), all with the same fingerprint:');
    console.log(`  securechat --server ${haproxy.address} --user alice --register --fingerprint ${certificate.fingerprint}`);
    console.log(`  securechat --server ${haproxy.address} --user bob --register --fingerprint ${certificate.fingerprint}`);
    console.log('HAProxy sends each connection to the relay with the fewest; kill -9 a relay\'s pid and its');
    console.log('clients resume on another.');
    console.log(`Admin socket: ${join(root, 'haproxy', 'admin.sock')} (show stat, show table relays).`);
  } else {
    console.log(`\n${count} relays share one chat. Connect to any of them, e.g.:`);
    console.log(`  securechat --server 127.0.0.1:${firstPort} --user alice --register --fingerprint ${certificate.fingerprint}`);
    console.log(`  securechat --server 127.0.0.1:${firstPort + count - 1} --user bob --register --fingerprint ${certificate.fingerprint}`);
    if (!args.includes('--no-haproxy')) console.log('(install haproxy to put it in front: apt-get install haproxy)');
  }
  console.log('Ctrl-C stops everything.');
}

main().catch((error: unknown) => {
  console.error(`cluster: ${(error as Error)?.message ?? error}`);
  process.exit(1);
});
