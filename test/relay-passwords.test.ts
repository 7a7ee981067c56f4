import sodium from 'libsodium-wrappers-sumo';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { ChatError } from '../shared/errors.js';
import { ARGON2_INTERACTIVE, ARGON2_MIN, PasswordHasher } from '../relay/passwords.js';

const cheap = { opsLimit: ARGON2_MIN.opsLimit, memLimitBytes: ARGON2_MIN.memLimitBytes };

function codeOf(result: PromiseSettledResult<unknown>): string | undefined {
  return result.status === 'rejected' ? (result.reason as ChatError).code : undefined;
}

/** The worker currently running a job (white-box: used to simulate a crash). */
function busyWorker(hasher: PasswordHasher): Worker {
  const slots = (hasher as unknown as { slots: Array<{ worker: Worker; job?: unknown }> }).slots;
  const slot = slots.find((s) => s.job !== undefined);
  assert.ok(slot, 'a worker is busy');
  return slot!.worker;
}

test('the parameter presets are libsodium\'s constants', async () => {
  await sodium.ready;
  assert.is(ARGON2_INTERACTIVE.opsLimit, sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE);
  assert.is(ARGON2_INTERACTIVE.memLimitBytes, sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE);
  assert.is(ARGON2_MIN.opsLimit, sodium.crypto_pwhash_OPSLIMIT_MIN);
  assert.is(ARGON2_MIN.memLimitBytes, sodium.crypto_pwhash_MEMLIMIT_MIN);
});

test('hash and verify: argon2id strings, right and wrong passwords, malformed hashes, dummy', async () => {
  const hasher = new PasswordHasher({ workers: 2, ...cheap });
  try {
    const hash = await hasher.hash('correct horse battery staple');
    assert.match(hash, /^\$argon2id\$v=19\$m=8,t=1,p=1\$/);
    assert.is.not(await hasher.hash('correct horse battery staple'), hash); // salted
    assert.is(await hasher.verify(hash, 'correct horse battery staple'), true);
    assert.is(await hasher.verify(hash, 'correct horse battery stapler'), false);
    assert.is(await hasher.verify(hash, ''), false);
    assert.is(await hasher.verify('not a hash', 'x'), false);
    assert.is(await hasher.verify('', 'x'), false);
    const unicode = await hasher.hash('pässwörd ✓ 密码');
    assert.is(await hasher.verify(unicode, 'pässwörd ✓ 密码'), true);
    assert.is(await hasher.verifyDummy('anything'), false);
    assert.is(await hasher.verifyDummy('anything else'), false);
    // Another hasher (another process) verifies the same string: the parameters are inside it.
    await sodium.ready;
    assert.is(sodium.crypto_pwhash_str_verify(hash, 'correct horse battery staple'), true);
  } finally {
    await hasher.close();
  }
});

test('default parameters are argon2id INTERACTIVE', async () => {
  const hasher = new PasswordHasher({ workers: 1 });
  try {
    const hash = await hasher.hash('interactive');
    assert.match(hash, /^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    assert.is(await hasher.verify(hash, 'interactive'), true);
  } finally {
    await hasher.close();
  }
});

test('many jobs at once share the pool and all finish', async () => {
  const hasher = new PasswordHasher({ workers: 2, ...cheap });
  try {
    const passwords = Array.from({ length: 40 }, (_, i) => `password-${i}`);
    const hashes = await Promise.all(passwords.map((p) => hasher.hash(p)));
    assert.ok(hasher.stats().workers <= 2);
    const checks = await Promise.all(hashes.map((h, i) => hasher.verify(h, passwords[(i + (i % 2)) % passwords.length])));
    assert.equal(checks, passwords.map((_, i) => i % 2 === 0));
    assert.equal(hasher.stats(), { workers: hasher.stats().workers, busy: 0, queued: 0 });
  } finally {
    await hasher.close();
  }
});

test('a full queue refuses with E_RATE instead of growing', async () => {
  const hasher = new PasswordHasher({ workers: 1, maxQueuedJobs: 2, ...cheap });
  try {
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => hasher.hash(`p${i}`)));
    // One runs at once, two wait, the rest are refused.
    assert.equal(results.map(codeOf), [undefined, undefined, undefined, 'E_RATE', 'E_RATE', 'E_RATE']);
    // Once drained it accepts work again.
    assert.match(await hasher.hash('again'), /^\$argon2id\$/);
  } finally {
    await hasher.close();
  }
});

test('a crashed worker fails only its job and is replaced', async () => {
  const hasher = new PasswordHasher({ workers: 1, ...cheap });
  try {
    const doomed = hasher.hash('doomed');
    const waiting = hasher.hash('waiting');
    const settled = Promise.allSettled([doomed, waiting]);
    await busyWorker(hasher).terminate();
    const [first, second] = await settled;
    assert.is(codeOf(first), 'E_INTERNAL');
    assert.is(second.status, 'fulfilled');
    assert.is(await hasher.verify((second as PromiseFulfilledResult<string>).value, 'waiting'), true);
    assert.is(hasher.stats().workers, 1);
  } finally {
    await hasher.close();
  }
});

test('close fails running and waiting jobs with E_SHUTDOWN, later calls too', async () => {
  const hasher = new PasswordHasher({ workers: 1, ...cheap });
  const settled = Promise.allSettled([hasher.hash('a'), hasher.hash('b'), hasher.verify('x', 'y')]);
  await hasher.close();
  const results = await settled;
  assert.equal(results.map(codeOf), ['E_SHUTDOWN', 'E_SHUTDOWN', 'E_SHUTDOWN']);
  assert.is(codeOf((await Promise.allSettled([hasher.hash('c')]))[0]), 'E_SHUTDOWN');
  assert.equal(hasher.stats(), { workers: 0, busy: 0, queued: 0 });
  await hasher.close(); // idempotent
});

test('workers start on demand: a hasher that is never used costs nothing', async () => {
  const hasher = new PasswordHasher({ workers: 3, ...cheap });
  assert.is(hasher.stats().workers, 0);
  await hasher.close();
});

test.run();
