import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

/** The whole harness, end to end, at smoke-test sizes: proves it runs; says nothing about the figures. */
const RUN_ALL = fileURLToPath(new URL('../../../bench/run-all.js', import.meta.url));
/** A bound so a hung harness cannot hold the suite; the quick run takes about a minute on a quiet 2-core machine. */
const KILL_AFTER_MS = 180_000;

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_ALL, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('npm run bench -- --quick runs every scenario and prints a table and a JSON line for each', async () => {
  const { code, stdout, stderr } = await runBench(['--quick']);
  assert.is(code, 0, `exit code ${code}\n${stdout}\n${stderr}`);
  assert.not.match(stdout, 'FAILED');
  const reports = stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { bench: string; figures: Record<string, unknown> });
  const benches = new Set(reports.map((r) => r.bench));
  // cluster, failover: figures where redis-server (and haproxy) are installed, a `skipped` line where not; a JSON line either way.
  for (const name of ['fanout', 'whisper', 'whisper-mesh', 'login', 'idle', 'codec', 'transfer', 'cluster', 'failover']) assert.ok(benches.has(name), `no JSON line for ${name}`);
  for (const name of ['fanout', 'whisper', 'whisper-mesh', 'login', 'idle', 'codec']) {
    const report = reports.find((r) => r.bench === name)!;
    assert.ok(Object.keys(report.figures).length > 0, `${name} reported no figures`);
  }
  assert.match(stdout, '== fanout');
  assert.not.match(stderr, 'handles were left open');
});

test('an unknown option exits 2 with the usage', async () => {
  const { code, stderr } = await runBench(['--no-such-option']);
  assert.is(code, 2);
  assert.match(stderr, 'usage: npm run bench');
});

test.run();
