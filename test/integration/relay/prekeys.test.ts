/**
 * Prekeys through a real relay (TLS on loopback, LevelDB in a temp folder), from raw wire
 * clients: a device publishes, others claim (each one-time prekey once), the owner is told to
 * top up, and sessions started from served bundles work; a relay that substitutes or reuses a
 * prekey is caught by the devices (docs/crypto.md "What a relay that serves a wrong or reused
 * prekey achieves").
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { toBase64 } from '../../../shared/crypto/bytes.js';
import { generateIdentity } from '../../../shared/crypto/identity.js';
import { generateKeyPair, signPrekey, verifyPrekeyBundle, type PrekeyBundle } from '../../../shared/crypto/prekeys.js';
import { PREKEY_LIMITS } from '../../../shared/limits.js';
import type { ClientMessage, RelayMessage, RelayMessageOf } from '../../../shared/messages.js';
import type { RunningRelay } from '../../../relay/server.js';
import { expectCode } from '../../helpers/errors.js';
import { testRelay } from '../../helpers/relay.js';
import { TestDevice } from '../../helpers/session-devices.js';
import { tempDir } from '../../helpers/temp.js';
import { outcome, WireClient } from '../../helpers/wire-client.js';

type Ctx = { relay: RunningRelay; dir: { path: string; remove: () => Promise<void> }; clients: WireClient[] };
const spec = suite<Ctx>('relay prekeys');

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-prekeys-');
  ctx.relay = await testRelay(ctx.dir.path);
  ctx.clients = [];
});

spec.after.each(async (ctx) => {
  for (const client of ctx.clients) client.close();
  await ctx.relay.close();
  await ctx.dir.remove();
});

/** A device (its fixed keys, TestDevice) logged in to the relay with that identity. */
async function online(ctx: Ctx, user: string, oneTime = 5): Promise<{ device: TestDevice; wire: WireClient }> {
  const device = await TestDevice.create(user, 'd1', oneTime);
  const wire = await WireClient.session(ctx.relay.port, user, 'correct horse', true, device.me.identity);
  ctx.clients.push(wire);
  return { device, wire };
}

/** The device's own upload: its signed prekey and the one-time prekeys it holds. */
async function publish(d: { device: TestDevice; wire: WireClient }, over: Partial<ClientMessage & { t: 'prekeys' }> = {}): Promise<RelayMessage> {
  const { device, wire } = d;
  const signedPrekey = await signPrekey(device.me.identity, device.me.user, device.me.device, 1, device.signed.get(1)!.publicKey);
  const oneTime = [...device.oneTime].map(([id, pair]) => ({ id, key: toBase64(pair.publicKey) }));
  return wire.request({ t: 'prekeys', id: wire.id(), device: device.me.device, signedPrekey, oneTime, ...over } as ClientMessage & { id: string });
}

async function claim(wire: WireClient, user: string): Promise<RelayMessageOf<'prekey-bundle'>> {
  const reply = await wire.request({ t: 'prekey-claim', id: wire.id(), user });
  if (reply.t !== 'prekey-bundle') throw new Error(`claim failed: ${JSON.stringify(reply)}`);
  return reply;
}

/** Alice starts a session from `bundle`, whispers through the relay; Bob's device opens it (or refuses). */
async function whisperVia(ctx: Ctx, from: { device: TestDevice; wire: WireClient }, to: { device: TestDevice; wire: WireClient }, bundle: PrekeyBundle, text: string): Promise<string> {
  from.device.sessions.delete(to.device.key);
  await from.device.startSession(to.device, bundle);
  const body = await from.device.send(to.device, text);
  const arrived = to.wire.next('whisper');
  assert.is(outcome(await from.wire.request({ t: 'whisper', id: from.wire.id(), to: to.device.me.user, body })), 'ok');
  const whisper = await arrived;
  return to.device.receive(whisper.from, whisper.body);
}

spec('publish, claim: each one-time prekey handed out once, the owner told to top up, sessions work from served bundles', async (ctx) => {
  const bob = await online(ctx, 'bob', 3);
  const alice = await online(ctx, 'alice');
  const stored = await publish(bob);
  assert.equal(stored, { t: 'prekeys-stored', re: (stored as { re: string }).re, device: 'd1', remaining: 3 });
  const seen = new Set<number>();
  for (let i = 0; i < 3; i++) {
    const low = bob.wire.next('prekeys-low');
    const reply = await claim(alice.wire, 'BOB');
    assert.is(reply.user, 'bob');
    assert.is(reply.devices.length, 1);
    const verified = await verifyPrekeyBundle('bob', reply.devices[0]);
    assert.ok(verified.oneTimePrekeyId !== undefined && !seen.has(verified.oneTimePrekeyId));
    seen.add(verified.oneTimePrekeyId!);
    assert.equal(await low, { t: 'prekeys-low', device: 'd1', remaining: 2 - i });
    assert.is(await whisperVia(ctx, alice, bob, reply.devices[0], `hello ${i}`), `hello ${i}`);
  }
  // None left: the bundle comes without one (X3DH with three DHs), and still works.
  const bare = await claim(alice.wire, 'bob');
  assert.is(bare.devices[0].oneTime, undefined);
  assert.is(await whisperVia(ctx, alice, bob, bare.devices[0], 'no one-time prekey'), 'no one-time prekey');
  // Topping up: an upload of ids already used is stored again by the relay (it cannot know), a fresh one counts.
  const more = await publish(bob, { oneTime: [{ id: 500, key: toBase64(generateKeyPair().publicKey) }] });
  assert.is((more as { remaining: number }).remaining, 1);
});

spec('uploads the relay refuses: not signed by the logged-in identity, another device, duplicate ids, too many', async (ctx) => {
  const bob = await online(ctx, 'bob');
  const mallory = await generateIdentity();
  const spk = bob.device.signed.get(1)!.publicKey;
  const code = (reply: RelayMessage) => outcome(reply);
  assert.is(code(await publish(bob, { signedPrekey: await signPrekey(mallory, 'bob', 'd1', 1, spk) })), 'E_BAD_PREKEY');
  assert.is(code(await publish(bob, { signedPrekey: await signPrekey(bob.device.me.identity, 'bob', 'd2', 1, spk) })), 'E_BAD_PREKEY');
  const key = toBase64(generateKeyPair().publicKey);
  assert.is(code(await publish(bob, { oneTime: [{ id: 1, key }, { id: 1, key }] })), 'E_BAD_PREKEY');
  assert.is(code(await publish(bob, { oneTime: [{ id: 1, key: 'A'.repeat(44) }] })), 'E_BAD_PREKEY');
  const tooMany = Array.from({ length: PREKEY_LIMITS.maxOneTimePerUpload + 1 }, (_, i) => ({ id: i, key }));
  assert.is(code(await publish(bob, { oneTime: tooMany })), 'E_PROTOCOL');
  for (let batch = 0; batch * PREKEY_LIMITS.maxOneTimePerUpload < PREKEY_LIMITS.maxStoredOneTime; batch++) {
    const oneTime = Array.from({ length: PREKEY_LIMITS.maxOneTimePerUpload }, (_, i) => ({ id: 1000 + batch * 1000 + i, key }));
    assert.is(code(await publish(bob, { oneTime })), 'prekeys-stored');
  }
  assert.is(code(await publish(bob, { oneTime: [{ id: 9, key }] })), 'E_TOO_MANY_PREKEYS');
  // Claims: unknown user, no prekeys, bad name.
  const carol = await online(ctx, 'carol');
  assert.is(code(await carol.wire.request({ t: 'prekey-claim', id: 'c1', user: 'nobody' })), 'E_NO_SUCH_USER');
  assert.is(code(await carol.wire.request({ t: 'prekey-claim', id: 'c2', user: 'carol' })), 'E_NO_PREKEYS');
  assert.is(code(await carol.wire.request({ t: 'prekey-claim', id: 'c3', user: 'no spaces' })), 'E_BAD_NAME');
  assert.is(code(await carol.wire.request({ t: 'prekey-claim', id: 'c4', user: 'bob' })), 'prekey-bundle');
});

spec('claims are rate-limited per claimer (E_RATE with retryAfterMs); others may still claim', async (ctx) => {
  await ctx.relay.close();
  ctx.relay = await testRelay(ctx.dir.path, { limits: { prekeyClaimBurst: 2, prekeyClaimsPerMinute: 1 } });
  const bob = await online(ctx, 'bob');
  const alice = await online(ctx, 'alice');
  const carol = await online(ctx, 'carol');
  await publish(bob);
  await claim(alice.wire, 'bob');
  await claim(alice.wire, 'bob');
  const limited = await alice.wire.request({ t: 'prekey-claim', id: alice.wire.id(), user: 'bob' });
  assert.is(outcome(limited), 'E_RATE');
  assert.ok(limited.t === 'error' && (limited.retryAfterMs ?? 0) > 0);
  assert.is((await claim(carol.wire, 'bob')).devices[0].oneTime?.id, 102, 'the limited claim took no prekey');
});

spec('a relay that substitutes or reuses a prekey: detected by the devices, nothing decrypts', async (ctx) => {
  const bob = await online(ctx, 'bob');
  const alice = await online(ctx, 'alice');
  const carol = await online(ctx, 'carol');
  await publish(bob);
  const served = (await claim(alice.wire, 'bob')).devices[0];
  // Its own signed prekey: Alice refuses the bundle (E_BAD_PREKEY) before any message.
  const relayKey = toBase64(generateKeyPair().publicKey);
  await expectCode('E_BAD_PREKEY', () => verifyPrekeyBundle('bob', { ...served, signedPrekey: { ...served.signedPrekey, key: relayKey } }));
  // Its own one-time prekey under the real id: Bob cannot complete X3DH (E_DECRYPT), keeps his prekey.
  const substituted = { ...served, oneTime: { id: served.oneTime!.id, key: relayKey } };
  await expectCode('E_DECRYPT', () => whisperVia(ctx, alice, bob, substituted, 'for the relay?'));
  assert.ok(bob.device.oneTime.has(served.oneTime!.id));
  // The same one-time prekey handed to two people: the first session works, the second is refused.
  assert.is(await whisperVia(ctx, alice, bob, served, 'first'), 'first');
  const error = await expectCode('E_DECRYPT', () => whisperVia(ctx, carol, bob, served, 'second'));
  assert.is(error.details.reason, 'unknown-prekey');
  // A fresh, honest claim still works for Carol.
  assert.is(await whisperVia(ctx, carol, bob, (await claim(carol.wire, 'bob')).devices[0], 'honest'), 'honest');
});

spec.run();
