import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_BACKOFF, backoffDelayMs, retryDelayMs, type BackoffPolicy } from '../../../../tui/core/backoff.js';

const policy: BackoffPolicy = { baseMs: 100, maxMs: 1_000, factor: 2, jitter: 0.5 };

test('grows exponentially up to the cap (random at its top)', () => {
  const top = () => 0.999999;
  const delays = [1, 2, 3, 4, 5, 6, 10, 100].map((n) => backoffDelayMs(n, policy, top));
  assert.equal(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
});

test('jitter keeps (1 - jitter) of the delay and randomizes the rest', () => {
  assert.is(backoffDelayMs(3, policy, () => 0), 200);
  assert.is(backoffDelayMs(3, policy, () => 0.5), 300);
  for (let i = 0; i < 200; i += 1) {
    const d = backoffDelayMs(4, policy);
    assert.ok(d >= 400 && d <= 800, `delay ${d} out of range`);
  }
});

test('no jitter and full jitter', () => {
  assert.is(backoffDelayMs(2, { ...policy, jitter: 0 }, () => 0.7), 200);
  assert.is(backoffDelayMs(2, { ...policy, jitter: 1 }, () => 0), 0);
  assert.is(backoffDelayMs(2, { ...policy, jitter: 1 }, () => 0.25), 50);
});

test('odd inputs are clamped, never NaN or negative', () => {
  for (const attempt of [0, -5, NaN, Infinity, 1.7]) {
    const d = backoffDelayMs(attempt, policy, () => 0.5);
    assert.ok(Number.isFinite(d) && d >= 0, `attempt ${attempt} gave ${d}`);
  }
  assert.is(backoffDelayMs(1, { ...policy, jitter: 7 }, () => 0.5), 50);
  assert.is(backoffDelayMs(1, { ...policy, jitter: -1 }, () => 0.5), 100);
  assert.is(backoffDelayMs(1, policy, () => 5), 100);
  assert.is(backoffDelayMs(2000, policy, () => 0.999), 1000);
});

test('the relay\'s retryAfterMs wins when longer', () => {
  assert.is(retryDelayMs(1, policy, 5_000, () => 0), 5_000);
  assert.is(retryDelayMs(4, policy, 10, () => 0), 400);
  assert.is(retryDelayMs(1, policy, undefined, () => 0), 50);
});

test('defaults start near half a second and cap at 30 s', () => {
  assert.ok(backoffDelayMs(1, DEFAULT_BACKOFF, () => 0.999) <= 500);
  assert.is(backoffDelayMs(50, DEFAULT_BACKOFF, () => 0.999999), 30_000);
});

test.run();
