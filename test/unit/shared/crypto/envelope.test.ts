import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { DEFAULT_LIMITS } from '../../../../shared/limits.js';
import { generateIdentity, type Identity } from '../../../../shared/crypto/identity.js';
import {
  ENVELOPE_PAD_BYTES, openWhisper, ReplayGuard, sealWhisper, WhisperCounter, type OpenWhisperInput, type SealWhisperInput,
} from '../../../../shared/crypto/envelope.js';
import { fromBase64Strict, toBase64 } from '../../../../shared/crypto/bytes.js';
import { expectCode } from '../../../helpers/errors.js';


/** The wire's whisper body limit (shared/messages.ts). */
const WIRE_BODY_MAX_CHARS = 32 * 1024;
const NONCE_END = 1 + 24;

let alice: Identity;
let bob: Identity;
let carol: Identity;

test.before(async () => {
  await sodium.ready;
  [alice, bob, carol] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
});

function aliceToBob(overrides: Partial<SealWhisperInput> = {}): Promise<string> {
  return sealWhisper({
    sender: alice, from: 'alice', to: 'bob', recipientBox: bob.boxPublicKey, counter: 1, time: 1_700_000_000_000, text: 'hi bob', ...overrides,
  });
}

function bobOpens(body: unknown, guard = new ReplayGuard(), overrides: Partial<OpenWhisperInput> = {}) {
  return openWhisper({ recipient: bob, me: 'bob', from: 'alice', senderBox: alice.boxPublicKey, body, guard, ...overrides });
}

test('round trip: text, time and counter come back', async () => {
  const body = await aliceToBob({ counter: 42, time: 1_700_000_000_123, text: 'meet at noon 🌞 – ok?' });
  const opened = await bobOpens(body);
  assert.equal(opened, { text: 'meet at noon 🌞 – ok?', time: 1_700_000_000_123, counter: 42 });
});

test('round trip: empty text, largest text, large counters', async () => {
  assert.is((await bobOpens(await aliceToBob({ text: '' }))).text, '');
  const big = 'é'.repeat(DEFAULT_LIMITS.maxMessageBytes / 2); // 4096 UTF-8 bytes
  const body = await aliceToBob({ text: big, counter: Number.MAX_SAFE_INTEGER, time: Number.MAX_SAFE_INTEGER });
  assert.ok(body.length <= DEFAULT_LIMITS.maxWhisperBodyBytes, `body of ${body.length} chars fits the relay limit`);
  assert.ok(body.length <= WIRE_BODY_MAX_CHARS);
  const opened = await bobOpens(body);
  assert.is(opened.text, big);
  assert.is(opened.counter, Number.MAX_SAFE_INTEGER);
  assert.is(opened.time, Number.MAX_SAFE_INTEGER);
});

test('names are bound without regard to case', async () => {
  const body = await aliceToBob({ from: 'Alice', to: 'BOB' });
  await bobOpens(body, new ReplayGuard(), { me: 'Bob', from: 'ALICE' });
});

test('a text over the limit is refused before encryption', async () => {
  await expectCode('E_TOO_LARGE', () => aliceToBob({ text: 'x'.repeat(DEFAULT_LIMITS.maxMessageBytes + 1) }));
  await expectCode('E_TOO_LARGE', () => aliceToBob({ text: 'abc', maxTextBytes: 2 }));
});

test('sealing refuses bad names, counters, times and keys', async () => {
  await expectCode('E_BAD_NAME', () => aliceToBob({ from: 'a b' }));
  await expectCode('E_BAD_NAME', () => aliceToBob({ to: '' }));
  for (const counter of [-1, 1.5, NaN, Number.MAX_SAFE_INTEGER + 1]) {
    await expectCode('E_USAGE', () => aliceToBob({ counter }));
  }
  await expectCode('E_USAGE', () => aliceToBob({ time: -5 }));
  await expectCode('E_BAD_KEYS', () => aliceToBob({ recipientBox: new Uint8Array(31) }));
  await expectCode('E_BAD_KEYS', () => aliceToBob({ recipientBox: new Uint8Array(32) })); // small order
});

test('the relay sees neither text nor names, and only a padded length', async () => {
  const marker = 'zebra-marker-7c1f';
  const body = await aliceToBob({ text: `secret ${marker}` });
  const raw = Buffer.from(fromBase64Strict(body)!);
  assert.is(raw.indexOf(marker), -1);
  assert.is(raw.indexOf('alice'), -1);
  assert.is(raw.indexOf('bob'), -1);
  assert.not.ok(body.includes(marker));
  const short = await aliceToBob({ text: 'x' });
  const longer = await aliceToBob({ text: 'x'.repeat(150) });
  assert.is(short.length, longer.length, 'texts in one padding block give equal body lengths');
  assert.is(fromBase64Strict(short)!.length, 1 + 24 + 16 + ENVELOPE_PAD_BYTES);
});

test('sealing the same whisper twice gives different bodies (fresh nonce)', async () => {
  const a = await aliceToBob();
  const b = await aliceToBob();
  assert.is.not(a, b);
  assert.is.not(toBase64(fromBase64Strict(a)!.subarray(1, NONCE_END)), toBase64(fromBase64Strict(b)!.subarray(1, NONCE_END)));
});

test('a flipped bit anywhere (version, nonce, MAC, ciphertext) gives E_DECRYPT and records nothing', async () => {
  const body = await aliceToBob({ counter: 7 });
  const raw = fromBase64Strict(body)!;
  const guard = new ReplayGuard();
  const regions = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const bad = Uint8Array.from(raw);
    bad[i] ^= 1 << (i % 8);
    const error = await expectCode('E_DECRYPT', () => bobOpens(toBase64(bad), guard));
    regions.add(i === 0 ? 'version' : i < NONCE_END ? 'nonce' : i < NONCE_END + 16 ? 'mac' : 'ciphertext');
    assert.is(typeof error.details.reason, 'string');
  }
  assert.equal([...regions].sort(), ['ciphertext', 'mac', 'nonce', 'version']);
  assert.ok(guard.wouldAccept(7), 'failed opens do not burn the counter');
  assert.is((await bobOpens(body, guard)).counter, 7);
});

test('truncated, extended and garbage bodies give E_DECRYPT', async () => {
  const body = await aliceToBob();
  const raw = fromBase64Strict(body)!;
  for (const length of [0, 1, 24, 25, 40, 41, raw.length - 16, raw.length - 1]) {
    await expectCode('E_DECRYPT', () => bobOpens(toBase64(raw.subarray(0, length))));
  }
  await expectCode('E_DECRYPT', () => bobOpens(toBase64(new Uint8Array([...raw, 0]))));
  await expectCode('E_DECRYPT', () => bobOpens(toBase64(new Uint8Array([...raw, ...new Uint8Array(ENVELOPE_PAD_BYTES)]))));
  await expectCode('E_DECRYPT', () => bobOpens(body.slice(0, -4)));
  await expectCode('E_DECRYPT', () => bobOpens(body + '\n'));
  await expectCode('E_DECRYPT', () => bobOpens('not base64 at all!'));
  await expectCode('E_DECRYPT', () => bobOpens(''));
  await expectCode('E_DECRYPT', () => bobOpens(42));
  await expectCode('E_DECRYPT', () => bobOpens(null));
  await expectCode('E_DECRYPT', () => bobOpens(toBase64(sodium.randombytes_buf(raw.length))));
  await expectCode('E_DECRYPT', () => bobOpens('A'.repeat(DEFAULT_LIMITS.maxWhisperBodyBytes + 4)));
});

/** What a malicious sender holding a real key could seal: any plaintext bytes. */
function craftedBody(plain: Uint8Array): string {
  const nonce = sodium.randombytes_buf(24);
  const sealed = sodium.crypto_box_easy(sodium.pad(plain, ENVELOPE_PAD_BYTES), nonce, bob.boxPublicKey, alice.boxSecretKey);
  return toBase64(new Uint8Array([1, ...nonce, ...sealed]));
}

function plaintext(parts: { version?: number; from?: number[]; to?: number[]; counter?: bigint; time?: bigint; text?: number[] }): Uint8Array {
  const from = parts.from ?? [...Buffer.from('alice')];
  const to = parts.to ?? [...Buffer.from('bob')];
  const numbers = new DataView(new ArrayBuffer(16));
  numbers.setBigUint64(0, parts.counter ?? 1n);
  numbers.setBigUint64(8, parts.time ?? 1n);
  return new Uint8Array([parts.version ?? 1, from.length, ...from, to.length, ...to, ...new Uint8Array(numbers.buffer), ...(parts.text ?? [104, 105])]);
}

test('a well-authenticated but malformed plaintext gives E_DECRYPT', async () => {
  assert.is((await bobOpens(craftedBody(plaintext({})))).text, 'hi', 'the crafted format itself is right');
  const bad = [
    plaintext({ version: 2 }),
    plaintext({ from: [...Buffer.from('a b')] }),
    plaintext({ to: [] }),
    plaintext({ counter: BigInt(Number.MAX_SAFE_INTEGER) + 1n }),
    plaintext({ time: 2n ** 64n - 1n }),
    plaintext({ text: [0xff, 0xfe] }), // not UTF-8
    plaintext({ from: [0xc3] }),
    plaintext({}).subarray(0, 20), // cut inside the numbers
    new Uint8Array([1, 200, 97]), // a name length past the end
    new Uint8Array(0),
  ];
  for (const plain of bad) {
    const error = await expectCode('E_DECRYPT', () => bobOpens(craftedBody(plain)));
    assert.is(error.details.reason, 'format');
  }
});

test('wrong keys give E_DECRYPT', async () => {
  const body = await aliceToBob();
  // Carol cannot open a whisper for Bob.
  await expectCode('E_DECRYPT', () => openWhisper({ recipient: carol, me: 'bob', from: 'alice', senderBox: alice.boxPublicKey, body, guard: new ReplayGuard() }));
  // Bob, told the sender has some other key (a substituted or changed key), cannot either.
  await expectCode('E_DECRYPT', () => bobOpens(body, new ReplayGuard(), { senderBox: carol.boxPublicKey }));
  // A whisper Carol sealed claiming to be Alice fails against Alice's pinned key.
  const forged = await sealWhisper({ sender: carol, from: 'alice', to: 'bob', recipientBox: bob.boxPublicKey, counter: 1, time: 1, text: 'I am alice' });
  await expectCode('E_DECRYPT', () => bobOpens(forged));
  await expectCode('E_BAD_KEYS', () => bobOpens(body, new ReplayGuard(), { senderBox: new Uint8Array(16) }));
});

test('a whisper reflected back to its sender is misaddressed', async () => {
  // Alice->Bob and Bob->Alice share one crypto_box key, so Alice can decrypt her own whisper if
  // the relay hands it back "from bob"; the inner recipient catches it.
  const body = await aliceToBob();
  const error = await expectCode('E_MISADDRESSED', () => openWhisper({
    recipient: alice, me: 'alice', from: 'bob', senderBox: bob.boxPublicKey, body, guard: new ReplayGuard(),
  }));
  assert.is(error.details.innerTo, 'bob');
});

test('inner sender or recipient that differ from the relay\'s routing are misaddressed', async () => {
  // Alice's whisper for Carol, but encrypted to Bob's key (or re-routed): Bob refuses it.
  const forCarol = await aliceToBob({ to: 'carol' });
  await expectCode('E_MISADDRESSED', () => bobOpens(forCarol));
  // Alice's key opens it, but the relay routed it under another sender name, or to another user.
  const body = await aliceToBob();
  await expectCode('E_MISADDRESSED', () => bobOpens(body, new ReplayGuard(), { from: 'alicia' }));
  await expectCode('E_MISADDRESSED', () => bobOpens(body, new ReplayGuard(), { me: 'bobby' }));
});

test('the same body twice is a replay', async () => {
  const guard = new ReplayGuard();
  const body = await aliceToBob({ counter: 5 });
  await bobOpens(body, guard);
  const error = await expectCode('E_REPLAY', () => bobOpens(body, guard));
  assert.is(error.details.tooOld, false);
  // Re-sealed with the same counter (a fresh nonce, other text) is still a replay.
  const resealed = await aliceToBob({ counter: 5, text: 'other' });
  await expectCode('E_REPLAY', () => bobOpens(resealed, guard));
});

test('out of order within the window is accepted; older than the window is a replay', async () => {
  const guard = new ReplayGuard(4);
  const bodies = new Map<number, string>();
  for (let counter = 1; counter <= 8; counter++) bodies.set(counter, await aliceToBob({ counter }));
  for (const counter of [3, 1, 4, 2]) assert.is((await bobOpens(bodies.get(counter), guard)).counter, counter);
  for (const counter of [8, 6]) await bobOpens(bodies.get(counter), guard); // window now 3,4,6,8; 1 and 2 forgotten
  const error = await expectCode('E_REPLAY', () => bobOpens(bodies.get(2), guard));
  assert.is(error.details.tooOld, true);
  await expectCode('E_REPLAY', () => bobOpens(bodies.get(1), guard));
  assert.is((await bobOpens(bodies.get(5), guard)).counter, 5, 'a gap inside the window is filled late');
  // 7 is above the floor (3 was just forgotten) and unseen.
  assert.is((await bobOpens(bodies.get(7), guard)).counter, 7);
  await expectCode('E_REPLAY', () => bobOpens(bodies.get(3), guard));
});

test('ReplayGuard: unit behaviour with sparse counters', async () => {
  const guard = new ReplayGuard(3);
  guard.accept(1_000_000);
  guard.accept(5_000_000);
  guard.accept(2_000_000);
  assert.ok(guard.wouldAccept(1_500_000));
  guard.accept(9_000_000); // forgets 1_000_000
  assert.is(guard.toJSON().floor, 1_000_000);
  assert.not.ok(guard.wouldAccept(999_999));
  assert.ok(guard.wouldAccept(1_000_001));
  assert.not.ok(guard.wouldAccept(5_000_000));
  assert.not.ok(guard.wouldAccept(-1));
  await expectCode('E_REPLAY', () => guard.accept(0.5));
  await expectCode('E_REPLAY', () => guard.accept(5_000_000));
  await expectCode('E_USAGE', () => new ReplayGuard(0));
  await expectCode('E_USAGE', () => new ReplayGuard(ReplayGuard.MAX_WINDOW + 1));
});

test('ReplayGuard keeps at most its window in memory', () => {
  const guard = new ReplayGuard(16);
  for (let counter = 0; counter < 1000; counter++) guard.accept(counter * 7);
  const state = guard.toJSON();
  assert.is(state.seen.length, 16);
  assert.is(state.floor, 983 * 7);
});

test('ReplayGuard JSON round trip keeps what was seen', async () => {
  const guard = new ReplayGuard(8);
  for (const counter of [10, 30, 20, 50, 40, 60, 70, 80, 90, 100]) guard.accept(counter);
  const restored = ReplayGuard.fromJSON(JSON.parse(JSON.stringify(guard)));
  assert.equal(restored.toJSON(), guard.toJSON());
  assert.is(restored.window, 8);
  await expectCode('E_REPLAY', () => restored.accept(50));
  await expectCode('E_REPLAY', () => restored.accept(10)); // forgotten, below the floor
  restored.accept(45);
  // Through a real envelope too.
  const bobGuard = new ReplayGuard();
  const body = await aliceToBob({ counter: 77 });
  await bobOpens(body, bobGuard);
  await expectCode('E_REPLAY', () => bobOpens(body, ReplayGuard.fromJSON(JSON.parse(JSON.stringify(bobGuard)))));
  assert.ok(ReplayGuard.fromJSON(new ReplayGuard().toJSON()).wouldAccept(0));
});

test('ReplayGuard.fromJSON refuses damaged state', async () => {
  const good = { v: 1, window: 4, floor: 3, seen: [5, 9] };
  ReplayGuard.fromJSON(good);
  const bad: unknown[] = [
    null, 'x', [], {},
    { ...good, v: 2 },
    { ...good, window: 0 },
    { ...good, window: 1.5 },
    { ...good, floor: -2 },
    { ...good, floor: 'a' },
    { ...good, seen: [9, 5] },
    { ...good, seen: [5, 5] },
    { ...good, seen: [2, 5] },
    { ...good, seen: [3] },
    { ...good, seen: [4, 5, 6, 7, 8] },
    { ...good, seen: [4.5] },
    { ...good, seen: 'x' },
  ];
  for (const state of bad) await expectCode('E_CORRUPT_FILE', () => ReplayGuard.fromJSON(state));
});

test('WhisperCounter: strictly increasing within a millisecond and when the clock steps back', () => {
  let now = 1_700_000_000_000;
  const counter = new WhisperCounter({ now: () => now });
  const a = counter.next();
  assert.is(a, now * 1000);
  const b = counter.next();
  assert.is(b, a + 1);
  now -= 60_000;
  const c = counter.next();
  assert.is(c, b + 1);
  now += 120_000;
  const d = counter.next();
  assert.is(d, now * 1000);
  assert.is(counter.last, d);
  let previous = d;
  for (let i = 0; i < 5000; i++) {
    const value = counter.next();
    assert.ok(value > previous);
    previous = value;
  }
});

test('WhisperCounter: never repeats across restarts', async () => {
  let now = 1_700_000_000_000;
  const first = new WhisperCounter({ now: () => now });
  for (let i = 0; i < 10; i++) first.next();
  const saved = JSON.parse(JSON.stringify(first));
  // Restart with saved state and a clock set back an hour: still above everything used.
  now -= 3_600_000;
  const restored = WhisperCounter.fromJSON(saved, () => now);
  assert.ok(restored.next() > first.last);
  // Restart without saved state: the clock moved on, so time alone keeps counters fresh.
  now += 7_200_000;
  assert.ok(new WhisperCounter({ now: () => now }).next() > first.last);
  // Real clock.
  assert.ok(new WhisperCounter().next() >= Date.now() * 1000 - 1000);
  for (const state of [null, {}, { v: 1, last: -1 }, { v: 2, last: 5 }, { v: 1, last: 1.5 }]) {
    await expectCode('E_CORRUPT_FILE', () => WhisperCounter.fromJSON(state));
  }
  await expectCode('E_USAGE', () => new WhisperCounter({ last: -3 }));
});

test('end to end: counters from a WhisperCounter pass one guard in any order', async () => {
  const counter = new WhisperCounter();
  const guard = new ReplayGuard();
  const bodies: string[] = [];
  for (let i = 0; i < 20; i++) bodies.push(await aliceToBob({ counter: counter.next(), time: Date.now(), text: `m${i}` }));
  const order = [...bodies.keys()].sort((x, y) => ((x * 7) % 20) - ((y * 7) % 20));
  for (const index of order) assert.is((await bobOpens(bodies[index], guard)).text, `m${index}`);
  for (const body of bodies) await expectCode('E_REPLAY', () => bobOpens(body, guard));
});

test.run();
