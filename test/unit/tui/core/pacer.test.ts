import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SendPacer, pacerFor } from '../../../../tui/core/pacer.js';

test('a full burst, then one token per 1/rate seconds', () => {
  const pacer = new SendPacer(20, 3, 1_000);
  assert.ok(pacer.take(1_000));
  assert.ok(pacer.take(1_000));
  assert.ok(pacer.take(1_000));
  assert.not.ok(pacer.take(1_000));
  assert.is(pacer.waitMs(1_000), 50);
  assert.is(pacer.waitMs(1_020), 30);
  assert.not.ok(pacer.take(1_049));
  assert.ok(pacer.take(1_050));
  assert.not.ok(pacer.take(1_050));
});

test('refill stops at the burst; a clock going backwards changes nothing', () => {
  const pacer = new SendPacer(10, 2, 0);
  pacer.take(0);
  pacer.take(0);
  assert.is(pacer.waitMs(60_000), 0);
  assert.ok(pacer.take(60_000));
  assert.ok(pacer.take(60_000));
  assert.not.ok(pacer.take(60_000));
  assert.not.ok(pacer.take(1_000), 'an earlier time gives no tokens');
  assert.is(pacer.waitMs(60_000), 100);
});

test('reset refills, or sets a number of tokens', () => {
  const pacer = new SendPacer(1, 2, 0);
  pacer.take(0);
  pacer.take(0);
  pacer.reset(10);
  assert.ok(pacer.take(10));
  assert.ok(pacer.take(10));
  assert.not.ok(pacer.take(10));
  assert.is(new SendPacer(0, 0, 0).waitMs(0), Infinity);
});

test('refused by the relay: nothing until retryAfterMs has passed, then one at a time at the paced rate', () => {
  const pacer = new SendPacer(20, 10, 0);
  assert.ok(pacer.take(0));
  pacer.refused(0, 1_000);
  assert.not.ok(pacer.take(0), 'a full bucket is no excuse: the relay said wait');
  assert.not.ok(pacer.take(999));
  assert.is(pacer.waitMs(400), 600);
  assert.ok(pacer.take(1_000), 'one right when the wait is over');
  assert.not.ok(pacer.take(1_000), 'no burst after a refusal');
  assert.is(pacer.waitMs(1_000), 50);
  assert.ok(pacer.take(1_050));
  // A second refusal during the wait does not shorten it.
  pacer.refused(1_060, 1_000);
  pacer.refused(1_100, 10);
  assert.not.ok(pacer.take(2_000));
  assert.ok(pacer.take(2_060));
});

test('the client keeps headroom below the relay\'s limits', () => {
  const count = (pacer: SendPacer, now: number) => {
    let n = 0;
    while (pacer.take(now)) n += 1;
    return n;
  };
  // relay: burst 100 at 20/s; client: at most 85 at once, then no faster than 17/s
  const pacer = pacerFor(20, 100, 0);
  assert.is(count(pacer, 0), 85);
  assert.is(pacer.waitMs(0), Math.ceil(1000 / 17));
  assert.is(count(pacer, 10_000), 85);
  const small = pacerFor(40, 5, 0);
  assert.is(count(small, 0), 4);
  assert.is(count(pacerFor(10, 1, 0), 0), 1);
});

test.run();
