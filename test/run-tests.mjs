#!/usr/bin/env node
// Runs the compiled test suites under c8 + uvu and fails unless every test ran and passed.
// uvu can stop a suite without failing the run (e.g. when a thrown error's `details` is not a
// string its formatter crashes), so the totals are checked here, not only the exit code.
import { spawn } from 'node:child_process';

// `node test/run-tests.mjs [PATTERN] [--cluster]`: the default tiers, or the cluster tier
// (dist/test/cluster: real redis-server and several relays; its own command, npm run test:cluster).
const cluster = process.argv.includes('--cluster');
const pattern = process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? '\\.test\\.js$';
const where = cluster ? ['dist/test/cluster'] : ['dist/test', '--ignore', '^cluster$'];
const child = spawn('npx', ['c8', '--reporter=text-summary', 'uvu', where[0], pattern, ...where.slice(1)], {
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
  if (Number.isFinite(failed)) console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  if (code !== 0 || !Number.isFinite(total) || total === 0 || failed !== 0) {
    console.error(`npm test: FAILED (exit ${code}, ${Number.isFinite(failed) ? failed + ' not passed' : 'no totals printed'})`);
    process.exit(1);
  }
});
