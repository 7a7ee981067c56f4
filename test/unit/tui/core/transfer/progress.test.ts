import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProgressMeter } from '../../../../../tui/core/transfer/progress.js';

test('bytes, percent, speed over the window, and time left', () => {
  const meter = new ProgressMeter(1000, 2000);
  assert.equal(meter.update(0, 0), { bytes: 0, totalBytes: 1000, percent: 0, bytesPerSecond: 0, etaSeconds: null });
  const half = meter.update(500, 1000);
  assert.is(half.percent, 50);
  assert.is(half.bytesPerSecond, 500);
  assert.is(half.etaSeconds, 1);
  const later = meter.update(600, 3000); // the window drops the t=0 sample
  assert.is(later.bytesPerSecond, 50);
  assert.is(later.etaSeconds, 8);
  const done = meter.update(1000, 3500);
  assert.is(done.percent, 100);
  assert.is(done.etaSeconds, 0);
});

test('percent is floored to one decimal; an empty file is 100%', () => {
  assert.is(new ProgressMeter(3, 1000).update(1, 0).percent, 33.3);
  assert.is(new ProgressMeter(1000, 1000).update(999, 0).percent, 99.9);
  assert.is(new ProgressMeter(0, 1000).update(0, 0).percent, 100);
});

test('a restart (resume) keeps the bytes and restarts the speed window', () => {
  const meter = new ProgressMeter(1000, 10_000);
  meter.update(0, 0);
  meter.update(400, 1000);
  meter.restart(400, 5000);
  assert.is(meter.snapshot(5000).bytesPerSecond, 0, 'no speed until new samples');
  assert.is(meter.snapshot(5000).bytes, 400);
  assert.is(meter.update(600, 6000).bytesPerSecond, 200);
});

test.run();
