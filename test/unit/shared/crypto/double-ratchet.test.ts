import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { fromBase64Strict, toBase64 } from '../../../../shared/crypto/bytes.js';
import {
  decodeHeader, encodeHeader, HEADER_BYTES, ratchetDecrypt, ratchetEncrypt, ratchetInitAlice, ratchetInitBob, type RatchetState,
} from '../../../../shared/crypto/double-ratchet.js';
import { keyPairFromSecret } from '../../../../shared/crypto/prekeys.js';
import { ratchetStateFromJson, ratchetStateToJson } from '../../../../shared/crypto/ratchet-state.js';
import { parseBody, Session } from '../../../../shared/crypto/session.js';
import { RATCHET_LIMITS } from '../../../../shared/limits.js';
import { expectCode } from '../../../helpers/errors.js';
import { fixedBytes, TestDevice } from '../../../helpers/session-devices.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();
let alice: RatchetState;
let bob: RatchetState;

test.before.each(async () => {
  await sodium.ready;
  const sk = fixedBytes('sk');
  const ad = fixedBytes('ad');
  const bobKey = keyPairFromSecret(fixedBytes('bob-spk'));
  alice = ratchetInitAlice(sk, bobKey.publicKey, ad, keyPairFromSecret(fixedBytes('alice-dh')));
  bob = ratchetInitBob(sk, bobKey, ad);
});

const send = (from: RatchetState, message: string) => ratchetEncrypt(from, utf8.encode(message));
const recv = (to: RatchetState, m: { header: Uint8Array; ciphertext: Uint8Array }) => text.decode(ratchetDecrypt(to, m.header, m.ciphertext));
const snapshot = (s: RatchetState) => JSON.stringify(ratchetStateToJson(s));

test('in order, both directions, several ratchet steps (DR §3.4, §3.5)', () => {
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 3; i++) assert.is(recv(bob, send(alice, `a${round}.${i}`)), `a${round}.${i}`);
    for (let i = 0; i < 2; i++) assert.is(recv(alice, send(bob, `b${round}.${i}`)), `b${round}.${i}`);
  }
  assert.is(alice.skipped.size + bob.skipped.size, 0);
});

test('Bob cannot send before he has received (DR §3.3)', async () => {
  await expectCode('E_INTERNAL', () => send(bob, 'too early'));
});

test('out of order within a chain and across chains: skipped keys are used once', () => {
  const a = [0, 1, 2, 3].map((i) => send(alice, `a${i}`));
  assert.is(recv(bob, a[2]), 'a2');
  assert.is(bob.skipped.size, 2);
  const b0 = send(bob, 'b0');
  assert.is(recv(alice, b0), 'b0');
  const a4 = send(alice, 'a4'); // a new chain: PN = 4
  assert.is(recv(bob, a4), 'a4'); // skips a3 of the old chain (PN), stores it
  assert.is(bob.skipped.size, 3);
  assert.is(recv(bob, a[0]), 'a0');
  assert.is(recv(bob, a[3]), 'a3');
  assert.is(recv(bob, a[1]), 'a1');
  assert.is(bob.skipped.size, 0);
});

test('lost messages: the rest still decrypt, their keys wait in MKSKIPPED', () => {
  const messages = Array.from({ length: 20 }, (_, i) => send(alice, `m${i}`));
  for (const [i, m] of messages.entries()) if (i % 3 !== 0) assert.is(recv(bob, m), `m${i}`);
  assert.is(bob.skipped.size, 7);
  assert.is(recv(alice, send(bob, 'reply')), 'reply');
  assert.is(recv(bob, send(alice, 'after')), 'after');
  assert.is(recv(bob, messages[9]), 'm9', 'a late one still opens after the ratchet moved on');
});

test('MAX_SKIP: a header that skips more than maxSkip keys is refused and the state is untouched', async () => {
  const first = send(alice, 'first');
  for (let i = 0; i < RATCHET_LIMITS.maxSkip; i++) send(alice, 'dropped');
  const tooFar = send(alice, 'too far'); // n = maxSkip + 1 with Nr = 0
  const before = snapshot(bob);
  const error = await expectCode('E_DECRYPT', () => recv(bob, tooFar));
  assert.is(error.details.reason, 'skip-limit');
  assert.is(snapshot(bob), before);
  assert.is(recv(bob, first), 'first');
  assert.is(recv(bob, tooFar), 'too far', 'exactly maxSkip skipped keys is allowed');
  assert.is(bob.skipped.size, RATCHET_LIMITS.maxSkip);
});

test('a forged header with a huge n costs nothing and changes nothing', async () => {
  const m = send(alice, 'x');
  const header = encodeHeader({ ...decodeHeader(m.header), n: 0xffff_ffff });
  const before = snapshot(bob);
  await expectCode('E_DECRYPT', () => ratchetDecrypt(bob, header, m.ciphertext));
  assert.is(snapshot(bob), before);
});

test('DR §6.4: stored skipped keys are bounded per session, oldest dropped first', async () => {
  const oldest = send(alice, 'oldest');
  let total = 1;
  // Chains of maxSkip messages each, only the last one delivered, until the store overflows.
  while (total <= RATCHET_LIMITS.maxSkippedKeys + RATCHET_LIMITS.maxSkip) {
    for (let i = 0; i < RATCHET_LIMITS.maxSkip - 1; i++) send(alice, 'lost');
    assert.is(recv(bob, send(alice, 'last of chain')), 'last of chain');
    total += RATCHET_LIMITS.maxSkip;
    recv(alice, send(bob, 'turn'));
  }
  assert.ok(bob.skipped.size <= RATCHET_LIMITS.maxSkippedKeys);
  await expectCode('E_REPLAY', () => recv(bob, oldest));
});

test('replays are refused: same chain, a skipped key used, an old chain; the state is untouched', async () => {
  const a0 = send(alice, 'a0');
  const a1 = send(alice, 'a1');
  assert.is(recv(bob, a1), 'a1');
  assert.is(recv(bob, a0), 'a0');
  let before = snapshot(bob);
  await expectCode('E_REPLAY', () => recv(bob, a1));
  await expectCode('E_REPLAY', () => recv(bob, a0));
  assert.is(snapshot(bob), before);
  recv(alice, send(bob, 'turn'));
  assert.is(recv(bob, send(alice, 'new chain')), 'new chain');
  before = snapshot(bob);
  const error = await expectCode('E_REPLAY', () => recv(bob, a1));
  assert.is(error.details.reason, 'replay');
  assert.is(snapshot(bob), before);
});

test('tampering with the header, the ciphertext or the associated data is refused; the state is untouched', async () => {
  const m = send(alice, 'tamper me');
  const before = snapshot(bob);
  for (let i = 0; i < HEADER_BYTES; i++) {
    const header = Uint8Array.from(m.header);
    header[i] ^= 0x01;
    await expectCode('E_DECRYPT', () => ratchetDecrypt(bob, header, m.ciphertext));
  }
  for (const i of [0, 5, m.ciphertext.length - 1]) {
    const ciphertext = Uint8Array.from(m.ciphertext);
    ciphertext[i] ^= 0x80;
    await expectCode('E_DECRYPT', () => ratchetDecrypt(bob, m.header, ciphertext));
  }
  await expectCode('E_DECRYPT', () => ratchetDecrypt(bob, m.header, m.ciphertext.subarray(0, 10)));
  assert.is(snapshot(bob), before);
  const otherAd = { ...bob, skipped: new Map(bob.skipped), oldChains: [], ad: fixedBytes('other ad') };
  await expectCode('E_DECRYPT', () => recv(otherAd, m));
  assert.is(recv(bob, m), 'tamper me');
});

test('a fresh state survives JSON on both sides (Alice has DHr but no CKr yet, DR §3.3)', () => {
  alice = ratchetStateFromJson(JSON.parse(JSON.stringify(ratchetStateToJson(alice))));
  bob = ratchetStateFromJson(JSON.parse(JSON.stringify(ratchetStateToJson(bob))));
  assert.is(recv(bob, send(alice, 'after a restart')), 'after a restart');
  assert.is(recv(alice, send(bob, 'both ways')), 'both ways');
});

test('the state survives JSON mid-conversation, with skipped keys; damaged JSON is E_CORRUPT_FILE', async () => {
  const lost = send(alice, 'lost for now');
  recv(bob, send(alice, 'got'));
  recv(alice, send(bob, 'reply'));
  const restored = ratchetStateFromJson(JSON.parse(JSON.stringify(ratchetStateToJson(bob))));
  assert.is(snapshot(restored), snapshot(bob));
  assert.is(recv(restored, lost), 'lost for now');
  assert.is(recv(restored, send(alice, 'next')), 'next');
  const json = ratchetStateToJson(bob);
  await expectCode('E_CORRUPT_FILE', () => ratchetStateFromJson({ ...json, rk: 'x' }));
  await expectCode('E_CORRUPT_FILE', () => ratchetStateFromJson({ ...json, ns: -1 }));
  await expectCode('E_CORRUPT_FILE', () => ratchetStateFromJson({ ...json, dhr: null }));
  await expectCode('E_CORRUPT_FILE', () => ratchetStateFromJson({ ...json, extra: 1 }));
  await expectCode('E_CORRUPT_FILE', () => ratchetStateFromJson(null));
});

// ---- sessions (X3DH + ratchet + body framing) ----------------------------------------------

async function pair() {
  return { a: await TestDevice.create('alice'), b: await TestDevice.create('bob') };
}

test('a session: initial messages carry the X3DH prefix until Bob answers, then plain messages', async () => {
  const { a, b } = await pair();
  const first = await a.send(b, 'one');
  const second = await a.send(b, 'two');
  assert.ok(parseBody(first).prefix && parseBody(second).prefix);
  assert.is(await b.receive('alice', second), 'two', 'the second initial message first');
  assert.is(await b.receive('alice', first), 'one');
  assert.is(await a.receive('bob', await b.send(a, 'back')), 'back');
  const third = await a.send(b, 'three');
  assert.is(parseBody(third).prefix, undefined);
  assert.is(await b.receive('alice', third), 'three');
  await expectCode('E_TOO_LARGE', () => a.send(b, 'x'.repeat(RATCHET_LIMITS.maxPlaintextBytes + 1)));
  const restored = Session.fromJSON(JSON.parse(JSON.stringify(b.sessions.get('alice/d1')!.toJSON())));
  assert.is(new TextDecoder().decode(restored.open(parseBody(await a.send(b, 'four')))), 'four');
});

test('session reset: Alice loses her state and starts again; Bob replaces the session, the old one is unreadable', async () => {
  const { a, b } = await pair();
  assert.is(await b.receive('alice', await a.send(b, 'old session')), 'old session');
  assert.is(await a.receive('bob', await b.send(a, 'ack')), 'ack');
  const delayedOld = await a.send(b, 'delayed from the old session');
  a.sessions.clear(); // lost device state
  assert.is(await b.receive('alice', await a.send(b, 'new session')), 'new session');
  assert.is(await a.receive('bob', await b.send(a, 'welcome back')), 'welcome back');
  await expectCode('E_DECRYPT', () => b.receive('alice', delayedOld));
  assert.is(await b.receive('alice', await a.send(b, 'and on')), 'and on');
});

test('compromise: a copy of Bob\'s whole state at T reads nothing from before T, and nothing after the next round trip', async () => {
  const { a, b } = await pair();
  const before: string[] = [];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 3; i++) {
      const body = await a.send(b, `before ${round}.${i}`);
      before.push(body);
      await b.receive('alice', body);
    }
    await a.receive('bob', await b.send(a, `reply ${round}`));
  }
  // T: the attacker copies Bob's device: identity, prekeys, sessions (as a stolen disk would).
  const stolen = Session.fromJSON(JSON.parse(JSON.stringify(b.sessions.get('alice/d1')!.toJSON())));
  const fresh = () => Session.fromJSON(JSON.parse(JSON.stringify(stolen.toJSON())));
  const attackerReads = (session: Session, body: string): boolean => {
    try {
      session.open(parseBody(body));
      return true;
    } catch {
      return false;
    }
  };
  for (const body of before) assert.not.ok(attackerReads(fresh(), body), 'a message from before T');
  // After T the attacker follows passively: it sees every body and tries its copy on Alice's.
  const attacker = fresh();
  const m1 = await a.send(b, 'after T, before Bob ratchets');
  assert.ok(attackerReads(attacker, m1), 'the compromise window: the current receiving chain');
  assert.is(await b.receive('alice', m1), 'after T, before Bob ratchets');
  // The round trip: Bob sends with a fresh ratchet key, Alice answers from a fresh one.
  await a.receive('bob', await b.send(a, 'Bob ratchets'));
  for (let i = 0; i < 5; i++) {
    const body = await a.send(b, `healed ${i}`);
    assert.not.ok(attackerReads(attacker, body), `after the round trip (${i})`);
    assert.not.ok(attackerReads(fresh(), body), `after the round trip, fresh copy (${i})`);
    assert.is(await b.receive('alice', body), `healed ${i}`);
  }
});

test('compromise, the documented exception (DR §6.4): a skipped key at T reads its lost message', async () => {
  const { a, b } = await pair();
  const lost = await a.send(b, 'lost');
  await b.receive('alice', await a.send(b, 'arrived'));
  const stolen = Session.fromJSON(JSON.parse(JSON.stringify(b.sessions.get('alice/d1')!.toJSON())));
  assert.is(new TextDecoder().decode(stolen.open(parseBody(lost))), 'lost');
});

test('session JSON refuses damage', async () => {
  const { a, b } = await pair();
  await a.send(b, 'x');
  const json = a.sessions.get('bob/d1')!.toJSON();
  await expectCode('E_CORRUPT_FILE', () => Session.fromJSON({ ...json, device: 'bad device' }));
  await expectCode('E_CORRUPT_FILE', () => Session.fromJSON({ ...json, ephemeral: toBase64(new Uint8Array(31)) }));
  assert.ok(fromBase64Strict(json.ephemeral, 32));
});

test.run();
