import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { computeLayout } from '../../../../tui/view/render.js';
import { formatDuration, formatFinished, formatPath, formatTook, progressBar, progressRow, type TransferLine } from '../../../../tui/view/transfer-format.js';

const line: TransferLine = {
  id: 'AbCdEfGh12345678',
  direction: 'out',
  peer: 'bob',
  name: 'big.bin',
  state: 'transferring',
  path: 'lan',
  percent: 45.2,
  bytes: 1.4 * 1024 * 1024,
  total: 3 * 1024 * 1024,
  speedBps: 2 * 1024 * 1024,
  etaSec: 1,
};

test('progressBar: filled by the fraction, clamped, always the width asked for', () => {
  assert.is(progressBar(0, 12), '[..........]');
  assert.is(progressBar(0.5, 12), '[#####.....]');
  assert.is(progressBar(1, 12), '[##########]');
  assert.is(progressBar(2, 12), '[##########]');
  assert.is(progressBar(-1, 12), '[..........]');
  assert.is(progressBar(Number.NaN, 5), '[...]');
  assert.is(progressBar(0.999, 12), '[#########.]', 'never full before the end');
  assert.is(progressBar(0.5, 1).length, 3, 'at least one cell');
});

test('paths read the same words on both ends: direct (LAN), direct, relay', () => {
  assert.is(formatPath('lan'), 'direct (LAN)');
  assert.is(formatPath('direct'), 'direct');
  assert.is(formatPath('relay'), 'relay');
  assert.is(formatPath(null), '-');
});

test('durations and the finished line: size, time taken, average speed', () => {
  assert.is(formatDuration(400), '0.4s');
  assert.is(formatDuration(12_000), '12.0s');
  assert.is(formatDuration(185_000), '3m05s');
  assert.is(formatDuration(-1), '?');
  assert.is(formatTook(2000, 1024), 'took 2.0s, 1.0 KB/s average');
  assert.is(formatFinished(3 * 1024 * 1024, 1500), '3.0 MB, took 1.5s, 2.0 MB/s average');
  assert.is(formatFinished(0, 0), '0 B, took 0.0s, - average');
});

test('a panel row: bar, percent, bytes of total, speed, ETA, path; the state before bytes move', () => {
  const row = progressRow(line, 12);
  assert.is(row.head, '↑ to bob: big.bin');
  assert.is(row.tail, '  [####......]  45%  1.4 MB/3.0 MB  2.0 MB/s  ETA 1s  direct (LAN)');
  const waiting = progressRow({ ...line, direction: 'in', state: 'connecting', path: null, percent: 0 }, 12);
  assert.is(waiting.head, '↓ from bob: big.bin');
  assert.is(waiting.tail, '  [..........] connecting');
  assert.ok(progressRow({ ...line, state: 'verifying', percent: 100 }, 12).tail.includes('verifying'));
});

test('layout: the transfers panel sits above the status bar and never takes more than a third', () => {
  const none = computeLayout(100, 30);
  assert.is(none.transfersRow, -1);
  const two = computeLayout(100, 30, false, 2);
  assert.is(two.transfersHeight, 2);
  assert.is(two.paneHeight, none.paneHeight - 2);
  assert.is(two.transfersRow, two.paneHeight);
  assert.is(two.statusRow, 28);
  const small = computeLayout(100, 8, true, 4);
  assert.is(small.transfersHeight, 1, 'a third of the five rows left');
  assert.is(small.transfersRow + small.transfersHeight, small.advisoryRow);
});

test.run();
