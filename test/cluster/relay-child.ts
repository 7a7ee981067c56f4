/**
 * One cluster relay as its own process, for tests that must kill it for real (SIGKILL) or stop
 * it the way systemd does (SIGTERM: the relay's clean shutdown). Like `relay serve`, but with
 * the test settings the CLI has no flags for: cheap password hashing and short limits.
 *
 *   node dist/test/cluster/relay-child.js '<RelayChildConfig as JSON>'
 *
 * Prints one JSON line `{ "port": ..., "fingerprint": ... }` once listening; log lines go to stderr.
 * Stops (cleanly) on SIGTERM or when its stdin closes.
 */
import type { Limits } from '../../shared/limits.js';
import { startRelay } from '../../relay/server.js';
import { CHEAP_HASHING } from '../helpers/relay.js';

export interface RelayChildConfig {
  relayId: string;
  redisUrl: string;
  dataDir: string;
  filesDir: string;
  certFile: string;
  keyFile: string;
  /** Behind HAProxy: the proxies whose PROXY v2 headers it takes; without, clients connect straight to it. */
  trustedProxies?: string[];
  limits: Partial<Limits>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as RelayChildConfig;
const relay = await startRelay({
  host: '127.0.0.1',
  port: 0,
  dataDir: config.dataDir,
  certFile: config.certFile,
  keyFile: config.keyFile,
  registration: 'open',
  filesDir: config.filesDir,
  trustedProxies: config.trustedProxies,
  cluster: { redisUrl: config.redisUrl, relayId: config.relayId },
  passwordHashing: CHEAP_HASHING,
  limits: config.limits,
  log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
});
// As relay/cli.ts: SIGTERM is the clean shutdown (clients get E_SHUTDOWN, the queue goes to Redis).
let closing = false;
const shutdown = (): void => {
  if (closing) return;
  closing = true;
  relay.close('shutdown').then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', shutdown);
// The parent holds stdin open (cluster-fixture.ts): if it dies without stopping us, so do we.
process.stdin.on('end', shutdown).resume();
process.stdout.write(JSON.stringify({ port: relay.port, fingerprint: relay.fingerprint }) + '\n');
