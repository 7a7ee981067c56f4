/**
 * One cluster relay as its own process, for tests that must kill it for real (SIGKILL) or stop
 * it the way systemd does (SIGTERM: the relay's clean shutdown). Like `relay serve`, but with
 * the test settings the CLI has no flags for: cheap password hashing and short limits.
 *
 *   node dist/test/cluster/relay-child.js '<RelayChildConfig as JSON>'
 *
 * Prints one JSON line `{ "port": ..., "fingerprint": ... }` once listening; log lines go to stderr.
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
  trustedProxies: string[];
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
process.once('SIGTERM', () => {
  relay.close('shutdown').then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
process.stdout.write(JSON.stringify({ port: relay.port, fingerprint: relay.fingerprint }) + '\n');
