/**
 * The measurement behind the relay's password-hashing engine: argon2id at libsodium's
 * INTERACTIVE cost (t=2, m=64 MiB, p=1, v1.3) through each candidate, on this machine.
 *
 *   node dist/bench/argon2-engines.js [--n 10] [--concurrency 2]
 *
 * Engines:
 *   wasm        libsodium-wrappers-sumo crypto_pwhash_str (what the relay used before)
 *   argon2      npm `argon2` (the reference C implementation; libuv threadpool). Not a
 *               dependency: measured only when present (`npm install --no-save argon2@0.45.1`)
 *   node-rs     `@node-rs/argon2` (RustCrypto argon2, prebuilt; hashSync on this thread)
 *
 * For each: CPU and wall time per hash, one at a time; then hashes per second with
 * `concurrency` at once (wasm and node-rs in that many worker threads, argon2 through the
 * threadpool). CPU is the whole process's user+system time (every thread), so "hashes per
 * CPU-second" is the per-core rate whatever thread did the work. Then every engine verifies
 * every other engine's hash (the PHC strings are interchangeable). Prints one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { hashSync as rsHashSync, verifySync as rsVerifySync, Algorithm, Version } from '@node-rs/argon2';
import sodium from 'libsodium-wrappers-sumo';

const SELF = fileURLToPath(import.meta.url);
const T = 2;
const M_KIB = 64 * 1024;
const P = 1;
type Engine = 'wasm' | 'argon2' | 'node-rs';

interface Argon2Module {
  argon2id: number;
  hash(password: string, options: Record<string, number>): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}
/** npm `argon2`, when installed (a specifier in a variable, so the build does not need it). */
async function loadArgon2(): Promise<Argon2Module | undefined> {
  const name = 'argon2';
  try {
    const loaded = (await import(name)) as { default: Argon2Module };
    return loaded.default;
  } catch {
    return undefined;
  }
}
const argon2 = isMainThread ? await loadArgon2() : undefined;
const ENGINES: Engine[] = argon2 ? ['wasm', 'argon2', 'node-rs'] : ['wasm', 'node-rs'];

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

async function hashWith(engine: Engine, password: string): Promise<string> {
  if (engine === 'wasm') {
    await sodium.ready;
    return sodium.crypto_pwhash_str(password, T, M_KIB * 1024);
  }
  if (engine === 'argon2') return argon2!.hash(password, { type: argon2!.argon2id, timeCost: T, memoryCost: M_KIB, parallelism: P, version: 0x13 });
  return rsHashSync(password, { algorithm: Algorithm.Argon2id, version: Version.V0x13, timeCost: T, memoryCost: M_KIB, parallelism: P });
}

async function verifyWith(engine: Engine, hash: string, password: string): Promise<boolean> {
  if (engine === 'wasm') {
    await sodium.ready;
    return sodium.crypto_pwhash_str_verify(hash, password);
  }
  if (engine === 'argon2') return argon2!.verify(hash, password);
  return rsVerifySync(hash, password);
}

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const round = (v: number): number => Math.round(v * 10) / 10;

async function sequential(engine: Engine, n: number): Promise<{ wallMsPerHash: number; cpuMsPerHash: number }> {
  await hashWith(engine, 'warm-up'); // loads libsodium / the binding, first allocation
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await hashWith(engine, `password-${i}`);
  return { wallMsPerHash: round((performance.now() - t0) / n), cpuMsPerHash: round((cpuMs() - c0) / n) };
}

/** `n` hashes with `concurrency` at once; worker threads for the synchronous engines. */
async function concurrent(engine: Engine, n: number, concurrency: number): Promise<{ hashesPerSecond: number; hashesPerCpuSecond: number }> {
  const c0 = cpuMs();
  const t0 = performance.now();
  if (engine === 'argon2') {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) await hashWith(engine, `password-${next++}`);
      }),
    );
  } else {
    const share = Array.from({ length: concurrency }, (_, i) => Math.floor(n / concurrency) + (i < n % concurrency ? 1 : 0));
    await Promise.all(
      share.map(
        (count) =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(SELF, { workerData: { engine, count } });
            worker.once('message', () => resolve());
            worker.once('error', reject);
          }),
      ),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = (cpuMs() - c0) / 1000;
  return { hashesPerSecond: round(n / seconds), hashesPerCpuSecond: round(n / cpuSeconds) };
}

async function crossVerify(): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  for (const maker of ENGINES) {
    const hash = await hashWith(maker, 'cross ✓ pässword');
    for (const checker of ENGINES) {
      out[`${maker}->${checker}`] = (await verifyWith(checker, hash, 'cross ✓ pässword')) && !(await verifyWith(checker, hash, 'cross ✓ password'));
    }
  }
  return out;
}

async function main(): Promise<void> {
  const n = arg('n', 10);
  const concurrency = arg('concurrency', 2);
  const result: Record<string, unknown> = { params: { t: T, mKiB: M_KIB, p: P }, n, concurrency, threadpool: Number(process.env.UV_THREADPOOL_SIZE ?? 4) };
  for (const engine of ENGINES) {
    const seq = await sequential(engine, n);
    const par = await concurrent(engine, n * concurrency, concurrency);
    result[engine] = { ...seq, hashesPerCpuSecondAlone: round(1000 / seq.cpuMsPerHash), ...par };
    process.stderr.write(`${engine}: ${JSON.stringify(result[engine])}\n`);
  }
  result.crossVerify = await crossVerify();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMainThread) {
  await main();
} else {
  const { engine, count } = workerData as { engine: Engine; count: number };
  for (let i = 0; i < count; i++) await hashWith(engine, `password-${i}`);
  parentPort?.postMessage('done');
}
