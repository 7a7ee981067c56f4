#!/usr/bin/env node
// Runs the compiled test suites under c8 + uvu and fails unless every test ran and passed.
// uvu can stop a suite without failing the run (e.g. when a thrown error's `details` is not a
// string its formatter crashes), so the totals are checked here, not only the exit code.
//
//   node test/run-tests.mjs [--tier T[,T...]] [PATTERN]
//
// Tiers are folders of test/ (compiled to dist/test/), each mirroring the source tree:
//   unit         pure modules, no sockets, no files
//   integration  real TLS relays on loopback, real LevelDB in temp folders, real child processes
//   e2e          the real TUI in tmux, and the bench's smoke run
//   cluster      real redis-server, relay processes and HAProxy (npm run test:cluster)
// The default is unit, integration and e2e: everything that needs no extra server and no root
// (npm test). PATTERN (a regular expression) narrows to the files whose path within the tier
// matches, e.g. 'relay/' or 'pipe\.test\.js$'. `--cluster` is short for `--tier cluster`.
import { spawn } from 'node:child_process';

const TIERS = ['unit', 'integration', 'e2e', 'cluster'];
const DEFAULT_TIERS = ['unit', 'integration', 'e2e'];
const args = process.argv.slice(2);
let tiers = DEFAULT_TIERS;
let pattern = '\\.test\\.js$';
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--cluster') tiers = ['cluster'];
  else if (args[i] === '--tier') tiers = (args[++i] ?? '').split(',');
  else if (args[i].startsWith('--tier=')) tiers = args[i].slice('--tier='.length).split(',');
  else pattern = args[i];
}
const unknown = tiers.filter((tier) => !TIERS.includes(tier));
if (unknown.length > 0 || tiers.length === 0) {
  console.error(`run-tests: unknown tier ${unknown.join(', ') || '(none)'}; the tiers are ${TIERS.join(', ')}`);
  process.exit(2);
}
// One uvu run over dist/test: files under the chosen tiers whose path matches PATTERN.
// Only compiled test files (a pattern such as 'relay/x' would also match x.test.d.ts).
const filter = `^(?:${tiers.join('|')})/(?=.*(?:${pattern}))(?=.*\\.test\\.js$)`;
const child = spawn('npx', ['c8', '--reporter=text-summary', 'uvu', 'dist/test', filter], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  output += chunk.toString();
});
child.on('close', (code) => {
  const plain = output.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const failed = Number.isFinite(total) && Number.isFinite(passed) ? total - passed - skipped : NaN;
  if (Number.isFinite(failed)) console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped (tiers: ${tiers.join(', ')})`);
  if (code !== 0 || !Number.isFinite(total) || total === 0 || failed !== 0) {
    console.error(`npm test: FAILED (exit ${code}, ${Number.isFinite(failed) ? failed + ' not passed' : 'no totals printed'})`);
    process.exit(1);
  }
});
