import sodium from 'libsodium-wrappers-sumo';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Worker } from 'node:worker_threads';
import { ChatError } from '../../../shared/errors.js';
import { ARGON2_INTERACTIVE, ARGON2_MIN, PasswordHasher } from '../../../relay/passwords.js';

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

/**
 * Made by the relay before it moved to native argon2 (libsodium-wrappers-sumo 0.8.4,
 * crypto_pwhash_str, through PasswordHasher at commit fde216d): the kind of string every
 * account stored until then holds. Each must keep verifying.
 */
const LIBSODIUM_HASHES = [
  { password: 'correct horse battery staple', hash: '$argon2id$v=19$m=65536,t=2,p=1$QPGJMIZn5gXc3bJf1MofHA$AYBRG8xX+eKJ10bUGVXjfVeK/Zp/mR07eKCqOgVb9nY' },
  { password: 'pässwörd ✓ 密码', hash: '$argon2id$v=19$m=65536,t=2,p=1$9qnuSNpym4LMmx7DoIuKnw$jFUQvXlj6CK+WZSW9eA9Bte/1ZzgbIxdc5Gfb7HGwgo' },
  { password: 'correct horse battery staple', hash: '$argon2id$v=19$m=8,t=1,p=1$TQkvQcbCFhgmPnaJBeXkdg$XB/H8oYzc5xn2Ccyhseq8BIXbmxMOq5SiNhk72ok3z0' },
] as const;

test('hashes stored by the previous libsodium engine still verify, and only with their password', async () => {
  const hasher = new PasswordHasher({ workers: 1 });
  try {
    for (const { password, hash } of LIBSODIUM_HASHES) {
      assert.is(await hasher.verify(hash, password), true, hash);
      assert.is(await hasher.verify(hash, `${password}!`), false);
      // A flipped bit in the stored digest fails too: the digest is really compared.
      const tampered = hash.slice(0, -2) + (hash.at(-2) === 'A' ? 'B' : 'A') + hash.at(-1);
      assert.is(await hasher.verify(tampered, password), false);
    }
    // And fresh ones from libsodium, the same way the old relay made them.
    await sodium.ready;
    const fresh = sodium.crypto_pwhash_str('made today', ARGON2_INTERACTIVE.opsLimit, ARGON2_INTERACTIVE.memLimitBytes);
    assert.is(await hasher.verify(fresh, 'made today'), true);
    // Passwords that are not well-formed UTF-16 turn into the same bytes as in libsodium-wrappers.
    const odd = 'lone \uD800 surrogate \uDFFF';
    const oddHash = sodium.crypto_pwhash_str(odd, ARGON2_MIN.opsLimit, ARGON2_MIN.memLimitBytes);
    assert.is(await hasher.verify(oddHash, odd), true);
    assert.is(sodium.crypto_pwhash_str_verify(await hasher.hash(odd), odd), true);
  } finally {
    await hasher.close();
  }
});

test('new hashes are PHC strings libsodium verifies (the stored format does not change)', async () => {
  const hasher = new PasswordHasher({ workers: 1 });
  try {
    const hash = await hasher.hash('pässwörd ✓ 密码');
    // libsodium's own layout: parameters in the order m, t, p; 16-byte salt, 32-byte digest, unpadded base64.
    assert.match(hash, /^\$argon2id\$v=19\$m=65536,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    await sodium.ready;
    assert.is(sodium.crypto_pwhash_str_verify(hash, 'pässwörd ✓ 密码'), true);
    assert.is(sodium.crypto_pwhash_str_verify(hash, 'passwörd ✓ 密码'), false);
    // libsodium would not ask to rehash it: the same parameters it chose itself.
    assert.is(sodium.crypto_pwhash_str_needs_rehash(hash, ARGON2_INTERACTIVE.opsLimit, ARGON2_INTERACTIVE.memLimitBytes), false);
  } finally {
    await hasher.close();
  }
});

test('the default cost is not below OWASP\'s argon2id floor (m=19 MiB, t=2, p=1)', () => {
  assert.ok(ARGON2_INTERACTIVE.memLimitBytes >= 19 * 1024 * 1024);
  assert.ok(ARGON2_INTERACTIVE.opsLimit >= 2);
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
