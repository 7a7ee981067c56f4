/**
 * What every scenario gets from run-all: options, a temp folder for the run (removed at the
 * end), progress output, and helpers to start the relay and the baseline in their own
 * processes with a fresh data folder each.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CERT_FILE_NAME, KEY_FILE_NAME, createSelfSignedCertificate, type RelayCertificate } from '../../relay/certs.js';
import type { Limits } from '../../shared/limits.js';
import { BENCH_CLIENT_LIMITS } from './clients.js';
import type { RelayProcessOptions } from '../relay-process.js';
import { RelayChild } from './relay-child.js';
import type { ScenarioReport } from './report.js';

export interface BenchOptions {
  /** Small sizes: a smoke run of the harness, figures meaningless. */
  quick: boolean;
  /** Worker threads that host the fan-out load clients. */
  loadThreads: number;
  /** Extra node flags for relay processes, e.g. ['--cpu-prof', '--cpu-prof-dir=prof']. */
  relayNodeArgs: string[];
  /** Only the cases whose name contains this text (scenarios with several cases: fanout, idle). */
  caseFilter?: string;
}

/** The cases a scenario should run, after --case. */
export function pickCases<T>(ctx: Pick<BenchOptions, 'caseFilter'>, cases: readonly T[], name: (c: T) => string): T[] {
  const filter = ctx.caseFilter;
  return filter === undefined ? [...cases] : cases.filter((c) => name(c).includes(filter));
}

export interface BenchContext extends BenchOptions {
  /** Progress lines (stderr, so stdout stays table + JSON). */
  progress(line: string): void;
  /** A fresh folder under the run's temp folder. */
  makeDir(prefix: string): Promise<string>;
  /** Starts a relay or baseline process on a fresh data folder (or the given one). */
  startRelay(options: Omit<RelayProcessOptions, 'dataDir'> & { dataDir?: string }): Promise<RelayChild>;
}

export interface Scenario {
  name: string;
  /** One line for --help. */
  describe: string;
  run(ctx: BenchContext): Promise<ScenarioReport[]>;
}

/**
 * Limits the bench relays run with. The load comes from one address (127.0.0.1), far above
 * the per-address connection and resume caps (1,000 clients reconnecting at once stand for
 * 1,000 addresses), and the senders exceed a person's flood allowance on purpose: none of
 * these protections is what is measured. Everything else is the relay's default.
 */
export const BENCH_LIMITS: Partial<Limits> = {
  connectionsPerAddress: 100_000,
  connectionRatePerAddress: 100_000,
  connectionBurstPerAddress: 100_000,
  // whisper-mesh: each client makes ~41 first contacts in 10 s, each a prekey claim; the
  // relay's per-claimer limit (a guard against draining a contact's one-time prekeys) is for people.
  prekeyClaimsPerMinute: 100_000,
  prekeyClaimBurst: 100_000,
  resumesPerMinute: 6_000_000,
  resumeBurst: 100_000,
  ...BENCH_CLIENT_LIMITS,
};

/** Runs `body` with a context whose temp folder and relay processes are cleaned up afterwards. */
export async function withContext<T>(options: BenchOptions, body: (ctx: BenchContext) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'securechat-bench-'));
  const children = new Set<RelayChild>();
  let dirs = 0;
  // One self-signed certificate for every relay of the run, made here once: making one costs
  // each relay process a few hundred ms at start, which is not what any scenario measures.
  let certificate: Promise<RelayCertificate> | undefined;
  const ctx: BenchContext = {
    ...options,
    progress: (line) => process.stderr.write(`[bench] ${line}\n`),
    makeDir: (prefix) => mkdtemp(join(root, `${prefix}-${dirs++}-`)),
    startRelay: async (relayOptions) => {
      const dataDir = relayOptions.dataDir ?? (await ctx.makeDir(relayOptions.kind));
      const { cert, key } = await (certificate ??= createSelfSignedCertificate());
      await writeFile(join(dataDir, KEY_FILE_NAME), key, { mode: 0o600 });
      await writeFile(join(dataDir, CERT_FILE_NAME), cert, { mode: 0o644 });
      const child = await RelayChild.start({ ...relayOptions, dataDir }, options.relayNodeArgs);
      children.add(child);
      const stop = child.stop.bind(child);
      child.stop = async () => {
        children.delete(child);
        await stop();
      };
      return child;
    },
  };
  try {
    return await body(ctx);
  } finally {
    await Promise.allSettled([...children].map((child) => child.stop()));
    await rm(root, { recursive: true, force: true });
  }
}

export const MiB = 1024 * 1024;
export const KiB = 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when `promise` settled within `ms`, false when the time ran out first (the timer never outlives it). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true, () => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}
