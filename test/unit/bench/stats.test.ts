import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseArgs } from '../../../bench/lib/cli.js';
import { openFilesLimit } from '../../../bench/idle.js';
import { makeText, parseText } from '../../../bench/lib/payload.js';
import { parseStatCpuTicks, parseStatusBytes } from '../../../bench/lib/proc.js';
import { formatJsonLine, formatNumber, formatTable, ratioAtMost, valueAtMost, type ScenarioReport } from '../../../bench/lib/report.js';
import {
  StreamCheck,
  checkSequence,
  concatSamples,
  cpuMicrosPerUnit,
  median,
  percentile,
  percentileSorted,
  ratio,
  sortedCopy,
  summarize,
} from '../../../bench/lib/stats.js';

// ---- percentiles -------------------------------------------------------------------------

test('percentileSorted uses the nearest rank: every result is a measured value', () => {
  const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.is(percentileSorted(values, 50), 5);
  assert.is(percentileSorted(values, 90), 9);
  assert.is(percentileSorted(values, 99), 10);
  assert.is(percentileSorted(values, 100), 10);
  assert.is(percentileSorted(values, 10), 1);
  assert.is(percentileSorted(values, 11), 2);
  assert.is(percentileSorted(values, 0), 1);
});

test('percentileSorted of 100 values: p99 is the 99th, p50 the 50th', () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.is(percentileSorted(values, 99), 99);
  assert.is(percentileSorted(values, 50), 50);
  assert.is(percentileSorted(values, 99.9), 100);
});

test('percentileSorted of one value is that value at every p', () => {
  for (const p of [0, 1, 50, 99, 100]) assert.is(percentileSorted([42], p), 42);
});

test('percentileSorted of nothing is NaN; p outside 0..100 throws', () => {
  assert.ok(Number.isNaN(percentileSorted([], 50)));
  assert.throws(() => percentileSorted([1], -1), RangeError);
  assert.throws(() => percentileSorted([1], 101), RangeError);
  assert.throws(() => percentileSorted([1], Number.NaN), RangeError);
});

test('percentile sorts a copy and leaves its input alone', () => {
  const values = [9, 1, 5, 3, 7];
  assert.is(percentile(values, 50), 5);
  assert.equal(values, [9, 1, 5, 3, 7]);
  assert.equal([...sortedCopy(values)], [1, 3, 5, 7, 9]);
});

test('summarize reports count, min, mean, p50, p90, p99 and max', () => {
  const s = summarize([4, 2, 8, 6]);
  assert.equal(s, { count: 4, min: 2, mean: 5, p50: 4, p90: 8, p99: 8, max: 8 });
  const empty = summarize([]);
  assert.is(empty.count, 0);
  assert.ok(Number.isNaN(empty.p99) && Number.isNaN(empty.mean) && Number.isNaN(empty.max));
});

test('summarize takes typed arrays (samples from load workers)', () => {
  const s = summarize(new Float64Array([3, 1, 2]));
  assert.is(s.p50, 2);
  assert.is(s.max, 3);
});

test('median: middle value, mean of the two middle ones, NaN ignored', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.is(median([5, Number.NaN, 1]), 3);
  assert.ok(Number.isNaN(median([])));
});

test('ratio is NaN when the floor is zero or missing', () => {
  assert.is(ratio(3, 2), 1.5);
  assert.ok(Number.isNaN(ratio(1, 0)));
  assert.ok(Number.isNaN(ratio(Number.NaN, 1)));
  assert.ok(Number.isNaN(ratio(1, Number.POSITIVE_INFINITY)));
});

test('concatSamples joins worker sample arrays in order', () => {
  assert.equal([...concatSamples([new Float64Array([1, 2]), [3], new Float64Array([])])], [1, 2, 3]);
});

// ---- delivery checks ---------------------------------------------------------------------

test('StreamCheck: all in order is clean', () => {
  assert.equal(checkSequence([0, 1, 2, 3], 4), { received: 4, missing: 0, duplicates: 0, outOfOrder: 0 });
});

test('StreamCheck: missing, duplicated, reordered and never-sent messages are counted', () => {
  assert.equal(checkSequence([0, 2], 4), { received: 2, missing: 2, duplicates: 0, outOfOrder: 0 });
  assert.equal(checkSequence([0, 1, 1, 2], 3), { received: 3, missing: 0, duplicates: 1, outOfOrder: 0 });
  assert.equal(checkSequence([1, 0, 2], 3), { received: 3, missing: 0, duplicates: 0, outOfOrder: 1 });
  assert.equal(checkSequence([0, 5, -1, 1.5], 2), { received: 1, missing: 1, duplicates: 3, outOfOrder: 0 });
});

test('StreamCheck counts incrementally', () => {
  const check = new StreamCheck(3);
  check.note(2);
  check.note(0);
  assert.is(check.received, 2);
  assert.is(check.missing, 1);
  assert.is(check.outOfOrder, 1);
});

// ---- /proc parsing ------------------------------------------------------------------------

const STAT = '1234 (node relay) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 11 0 100 1000000 20000 18446744073709551615';

test('parseStatCpuTicks adds utime and stime (fields 14 and 15)', () => {
  assert.is(parseStatCpuTicks(STAT), 325);
});

test('parseStatCpuTicks survives spaces and parentheses in the command name', () => {
  assert.is(parseStatCpuTicks(STAT.replace('(node relay)', '(a) b (c))')), 325);
  assert.throws(() => parseStatCpuTicks('garbage'));
});

test('parseStatusBytes reads kB fields as bytes; NaN when absent', () => {
  const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
  assert.is(parseStatusBytes(status, 'VmRSS'), 102400 * 1024);
  assert.is(parseStatusBytes(status, 'VmHWM'), 204800 * 1024);
  assert.ok(Number.isNaN(parseStatusBytes('Name: x\n', 'VmRSS')));
});

test('cpuMicrosPerUnit converts clock ticks (100 per second) to µs per unit', () => {
  assert.is(cpuMicrosPerUnit(100, 150, 1000), 500);
  assert.ok(Number.isNaN(cpuMicrosPerUnit(0, 10, 0)));
});

test('openFilesLimit reads the soft limit from /proc/self/limits text', () => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n';
  assert.is(openFilesLimit(limits), 20000);
  assert.is(openFilesLimit(limits.replace('20000                20000', 'unlimited            unlimited')), Number.POSITIVE_INFINITY);
});

// ---- payload -----------------------------------------------------------------------------

test('makeText/parseText round-trip and pad to the typical size', () => {
  const text = makeText({ sender: 17, index: 42, sentUs: 123456789012 });
  assert.is(text.length, 64);
  assert.equal(parseText(text), { sender: 17, index: 42, sentUs: 123456789012 });
  const long = makeText({ sender: 1, index: 2, sentUs: 3 }, 4);
  assert.equal(parseText(long), { sender: 1, index: 2, sentUs: 3 });
});

test('parseText refuses other texts', () => {
  for (const text of ['hello', '', '1:2', 'a:1:2:', ':1:2:', '1:b:2:', '1:2:c:']) assert.is(parseText(text), null, text);
});

// ---- report --------------------------------------------------------------------------------

test('targets: ratios and absolute limits', () => {
  assert.ok(ratioAtMost(15, 10, 1.5).pass);
  assert.not.ok(ratioAtMost(15.1, 10, 1.5).pass);
  assert.not.ok(ratioAtMost(1, 0, 1.5).pass, 'no floor, no pass');
  assert.ok(valueAtMost(3, 3, 's').pass);
  assert.not.ok(valueAtMost(Number.NaN, 3, 's').pass);
});

test('formatNumber: readable cells', () => {
  assert.is(formatNumber(1234567.8), '1,234,568');
  assert.is(formatNumber(12.345), '12.3');
  assert.is(formatNumber(1.2345), '1.23');
  assert.is(formatNumber(0.012345), '0.0123');
  assert.is(formatNumber(Number.NaN), 'n/a');
  assert.is(formatNumber(undefined), '');
  assert.is(formatNumber(0), '0');
});

test('a report prints a table and one JSON line with ratios and verdicts', () => {
  const report: ScenarioReport = {
    bench: 'fanout',
    case: 'N=2',
    figures: [
      { key: 'p99Ms', label: 'latency p99', unit: 'ms', value: 3, baseline: 2, target: ratioAtMost(3, 2, 1.5) },
      { key: 'lost', label: 'lost', unit: '', value: 0 },
      { key: 'nan', label: 'nothing', unit: '', value: Number.NaN },
    ],
    notes: ['a note'],
  };
  const table = formatTable(report).join('\n');
  assert.match(table, 'latency p99 (ms)');
  assert.match(table, '1.50×');
  assert.match(table, 'PASS ≤ 1.5× baseline');
  assert.match(table, '* a note');
  const json = JSON.parse(formatJsonLine(report));
  assert.equal(json.figures.p99Ms, { value: 3, unit: 'ms', baseline: 2, ratio: 1.5, target: '≤ 1.5× baseline', pass: true });
  assert.is(json.figures.nan.value, null);
  assert.is(json.bench, 'fanout');
});

// ---- command line ----------------------------------------------------------------------------

test('parseArgs: defaults, --quick, scenarios, threads, profiling', () => {
  const known = ['fanout', 'codec'];
  assert.equal(parseArgs([], known), { quick: false, loadThreads: 1, relayNodeArgs: [], scenarios: [], help: false, caseFilter: undefined });
  assert.is(parseArgs(['--case', 'N=200'], known).caseFilter, 'N=200');
  const cli = parseArgs(['--quick', '--scenario', 'fanout,codec', '--load-threads', '2', '--profile-relay', '/tmp/p'], known);
  assert.ok(cli.quick);
  assert.equal(cli.scenarios, ['fanout', 'codec']);
  assert.is(cli.loadThreads, 2);
  assert.equal(cli.relayNodeArgs, ['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
});

test('parseArgs refuses unknown options, scenarios and bad values', () => {
  assert.throws(() => parseArgs(['--fast'], []), /unknown option/);
  assert.throws(() => parseArgs(['--scenario', 'nope'], ['fanout']), /unknown scenario/);
  assert.throws(() => parseArgs(['--scenario'], ['fanout']), /needs a value/);
  assert.throws(() => parseArgs(['--load-threads', '0'], []), /whole number/);
});

test.run();
