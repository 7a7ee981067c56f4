/**
 * A relay (or the bare baseline) in its own process, so /proc figures are its alone.
 *
 *   node --expose-gc dist/bench/relay-process.js '{"kind":"relay","dataDir":"/tmp/x","hashing":"cheap"}'
 *   … '{"kind":"relay","dataDir":"/tmp/cert","filesDir":"/tmp/files","cluster":{"redisUrl":"redis://127.0.0.1:6390","relayId":"r1"}}'
 *
 * Prints one JSON line when listening: {"ready":true,"port":…,"fingerprint":…,"pid":…}. Then
 * reads commands, one per stdin line, answering each with one JSON line:
 *   stats  → {"rssBytes":…,"heapUsedBytes":…,"connections":…,"loopDelayP99Ms":…,"loopDelayMaxMs":…}
 *   reset-loop-delay → the same, then the event-loop delay histogram starts again
 *   gc     → the same, after a full garbage collection (needs --expose-gc)
 *   stop   → closes the relay and exits 0
 * It also stops when stdin closes (the bench died) or after `maxLifetimeMs`, so it never
 * outlives a run. Relay log lines go to stderr.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Limits } from '../shared/limits.js';
import type { ClusterOptions } from '../relay/backends.js';
import { ARGON2_MIN } from '../relay/passwords.js';
import { startRelay } from '../relay/server.js';
import { startBaselineRelay } from './baseline-relay.js';

/** The previous argon2id engine (libsodium's wasm build), only for comparison (bench/login.ts). */
const LIBSODIUM_HASH_WORKER_URL = new URL('./lib/libsodium-hash-worker.js', import.meta.url);

export interface RelayProcessOptions {
  kind: 'relay' | 'baseline';
  dataDir: string;
  /** 'default': the relay's real argon2id parameters; 'cheap': the minimum (when hashing is not what is measured). */
  hashing?: 'default' | 'cheap';
  /** Hash worker threads (default: the relay's own default). */
  hashWorkers?: number;
  /** 'native': the relay's own hash worker (default); 'libsodium': the previous wasm engine, to compare. */
  hashEngine?: 'native' | 'libsodium';
  limits?: Partial<Limits>;
  /**
   * Relay only: run as one relay of a cluster on this Redis (RedisStore and RedisBus) instead
   * of alone on LevelDB. `dataDir` then holds only the certificate, which all the relays share.
   */
  cluster?: ClusterOptions;
  /** Relay only: the room files' folder; in a cluster, one folder every relay shares (default `<dataDir>/files`). */
  filesDir?: string;
  /** Baseline only: disable Nagle (default true). */
  noDelay?: boolean;
  maxLifetimeMs?: number;
}

interface Closable {
  port: number;
  fingerprint: string;
  readonly connectionCount: number;
  close(): Promise<void>;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as RelayProcessOptions;
  let relay: Closable;
  if (options.kind === 'baseline') {
    relay = await startBaselineRelay({ host: '127.0.0.1', port: 0, dataDir: options.dataDir, noDelay: options.noDelay });
  } else {
    const cheap = options.hashing === 'cheap';
    relay = await startRelay({
      host: '127.0.0.1',
      port: 0,
      dataDir: options.dataDir,
      registration: 'open',
      limits: options.limits,
      ...(options.cluster ? { cluster: options.cluster } : {}),
      ...(options.filesDir !== undefined ? { filesDir: options.filesDir } : {}),
      passwordHashing: {
        ...(cheap ? { opsLimit: ARGON2_MIN.opsLimit, memLimitBytes: ARGON2_MIN.memLimitBytes } : {}),
        ...(options.hashWorkers !== undefined ? { workers: options.hashWorkers } : {}),
        ...(options.hashEngine === 'libsodium' ? { workerUrl: LIBSODIUM_HASH_WORKER_URL } : {}),
      },
      log: (line) => process.stderr.write(`relay: ${line}\n`),
    });
  }

  let stopping: Promise<void> | undefined;
  const stop = (code: number): Promise<void> =>
    (stopping ??= relay.close().then(
      () => process.exit(code),
      (error: unknown) => {
        process.stderr.write(`relay-process: close failed: ${String(error)}\n`);
        process.exit(1);
      },
    ));
  const lifetime = setTimeout(() => {
    process.stderr.write('relay-process: maximum lifetime reached, stopping\n');
    void stop(2);
  }, options.maxLifetimeMs ?? 15 * 60_000);
  lifetime.unref();

  // How long the event loop was held up (ms): whether latency tails come from this process.
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const report = () => {
    const memory = process.memoryUsage();
    return {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      externalBytes: memory.external,
      connections: relay.connectionCount,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      loopDelayMaxMs: loopDelay.max / 1e6,
    };
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    if (command === 'stop') void stop(0);
    else if (command === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      process.stdout.write(JSON.stringify({ gc: typeof (globalThis as { gc?: unknown }).gc === 'function', ...report() }) + '\n');
    } else if (command === 'stats') process.stdout.write(JSON.stringify(report()) + '\n');
    else if (command === 'reset-loop-delay') {
      const before = report();
      loopDelay.reset();
      process.stdout.write(JSON.stringify(before) + '\n');
    }
  });
  lines.on('close', () => void stop(0));

  process.stdout.write(JSON.stringify({ ready: true, kind: options.kind, port: relay.port, fingerprint: relay.fingerprint, pid: process.pid }) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`relay-process: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
