import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openWhisper, ReplayGuard, sealWhisper, WhisperCounter } from '../../../../shared/crypto/envelope.js';
import { generateIdentity, publicBundle, verifyPublicBundle } from '../../../../shared/crypto/identity.js';
import { keyFingerprint, safetyNumber } from '../../../../shared/crypto/safety-number.js';
import { fromBase64Strict, toBase64 } from '../../../../shared/crypto/bytes.js';
import { ChatError } from '../../../../shared/errors.js';
import { LevelStore } from '../../../../relay/level-store.js';
import type { RelayStore } from '../../../../relay/store.js';
import type { RunningRelay } from '../../../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../../../tui/core/client.js';
import type { ChatEvent, ChatEventOf } from '../../../../tui/core/events.js';
import { userDataDir } from '../../../../tui/core/paths.js';
import { WHISPER_STATE_FILE_NAME } from '../../../../tui/core/whisper-state.js';
import { WhisperCrypto } from '../../../../tui/core/whispers.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { testRelay } from '../../../helpers/relay.js';
import { tempDir } from '../../../helpers/temp.js';
import { WireClient } from '../../../helpers/wire-client.js';
import { Recorder } from '../../../helpers/recorder.js';
import { testClientOptions } from '../../../helpers/clients.js';
import { failure } from '../../../helpers/errors.js';

/**
 * End-to-end encrypted whispers through everything real: ChatClients (each with its own data
 * and config folder) and raw wire clients against a real relay with a real LevelDB. Waits are
 * bounded by a failure timeout, never asserted on.
 */
const PASSWORD = 'correct horse battery';


type Ctx = {
  dir: { path: string; remove: () => Promise<void> };
  relayDir: string;
  relay: RunningRelay;
  relayLog: string[];
  clients: ChatClient[];
  wires: WireClient[];
};

const spec = suite<Ctx>('end-to-end whispers');

function it(name: string, handler: (ctx: Ctx) => Promise<void>): void {
  spec(name, plainErrors(handler));
}

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-whispers-');
  ctx.relayDir = path.join(ctx.dir.path, 'relay');
  ctx.relayLog = [];
  ctx.relay = await testRelay(ctx.relayDir, { log: (line) => ctx.relayLog.push(line) });
  ctx.clients = [];
  ctx.wires = [];
});

spec.after.each(async (ctx) => {
  for (const wire of ctx.wires) wire.close();
  await Promise.all(ctx.clients.map((c) => c.close().catch(() => {})));
  await ctx.relay?.close().catch((e) => console.error('closing the relay failed:', e));
  await ctx.dir.remove().catch(() => {});
});

/** Its own data and config folder per `device` (default: the user name), as separate installs would have. */
function makeClient(ctx: Ctx, user: string, options: Partial<ChatClientOptions> & { device?: string } = {}): { client: ChatClient; rec: Recorder } {
  const { device = user, ...rest } = options;
  const client = new ChatClient({ ...testClientOptions(ctx, user, device), ...rest });
  ctx.clients.push(client);
  return { client, rec: new Recorder(client) };
}

async function online(ctx: Ctx, user: string, options: Partial<ChatClientOptions> & { device?: string } = {}): Promise<{ client: ChatClient; rec: Recorder }> {
  const made = makeClient(ctx, user, options);
  await made.client.connect();
  return made;
}

async function wire(ctx: Ctx, user: string): Promise<WireClient> {
  const client = await WireClient.session(ctx.relay.port, user, PASSWORD);
  ctx.wires.push(client);
  return client;
}

/** Restarts the relay on its data folder, after `edit` ran on its store (the relay stopped). */
async function restartRelay(ctx: Ctx, edit?: (store: RelayStore) => Promise<unknown>): Promise<void> {
  await ctx.relay.close();
  if (edit) {
    const store = await LevelStore.open(ctx.relayDir);
    try {
      await edit(store);
    } finally {
      await store.close();
    }
  }
  ctx.relay = await testRelay(ctx.relayDir, { log: (line) => ctx.relayLog.push(line) });
}

async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await filesUnder(full)));
    else if (entry.isFile()) found.push(full);
  }
  return found;
}

it('round trip both ways; the safety number is the same on both sides; /trust marks whispers verified', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob');

  await ann.whisper('bob', 'hello bob, only you can read this');
  const got = await bobRec.waitFor('whisper', (w) => w.from === 'ann');
  assert.equal([got.to, got.text, got.verified, got.own], ['bob', 'hello bob, only you can read this', false, undefined]);
  const own = annRec.of('whisper').find((w) => w.own);
  assert.equal([own?.from, own?.to, own?.text, own?.verified, own?.id], ['ann', 'bob', 'hello bob, only you can read this', false, got.id]);

  await bob.whisper('ANN', 'hi ann 👋\nsecond line');
  assert.is((await annRec.waitFor('whisper', (w) => !w.own)).text, 'hi ann 👋\nsecond line');

  const annView = await ann.verify('bob');
  const bobView = await bob.verify('ann');
  assert.is(annView.safetyNumber, bobView.safetyNumber, 'both sides read the same digits');
  assert.match(annView.safetyNumber, /^(\d{5} ){11}\d{5}$/);
  assert.is(annView.fingerprint, bobView.ownFingerprint);
  assert.is(annView.ownFingerprint, bobView.fingerprint);
  assert.is(annView.verified, false);
  assert.is(annView.pendingFingerprint, undefined);
  assert.ok(annRec.of('verify').length === 1, 'verify is an event too');
  const expected = await safetyNumber('ann', await ann.whisperCrypto!.ownBundle(), 'bob', await bob.whisperCrypto!.ownBundle());
  assert.is(annView.safetyNumber, expected);

  const trusted = await ann.trust('bob');
  assert.equal([trusted.type, trusted.user, trusted.fingerprint, trusted.accepted], ['trusted', 'bob', annView.fingerprint, false]);
  assert.is((await ann.verify('bob')).verified, true);
  await ann.whisper('bob', 'now verified');
  assert.is(annRec.of('whisper').find((w) => w.own && w.text === 'now verified')?.verified, true);
  await bob.whisper('ann', 'from bob again');
  assert.is((await annRec.waitFor('whisper', (w) => w.text === 'from bob again')).verified, true);
  assert.is((await bobRec.waitFor('whisper', (w) => w.text === 'now verified')).verified, false, "bob has not verified ann");

  // Errors with stable codes, before anything is sent.
  assert.is(await failure(ann.whisper('ann', 'me')), 'E_SELF');
  assert.is(await failure(ann.whisper('zed', 'hi')), 'E_NO_SUCH_USER');
  assert.is(await failure(ann.verify('ann')), 'E_SELF');
  assert.is(await failure(ann.trust('zed')), 'E_NO_SUCH_USER');
  assert.is(await failure(ann.whisper('bob', 'x'.repeat(4097))), 'E_TOO_LARGE');
  await bob.create('elsewhere');
  assert.is(await failure(ann.whisper('bob', 'you left')), 'E_NOT_IN_ROOM');
  assert.equal(annRec.of('key-changed'), []);
  assert.equal(bobRec.of('error'), []);
});

it('keys, pins and replay state persist: restarted clients whisper on without a key change', async (ctx) => {
  const first = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await first.client.whisper('bob', 'before restart');
  await bob.rec.waitFor('whisper');
  const fingerprint = await first.client.whisperCrypto!.ownFingerprint();
  await first.client.close();

  const annDir = userDataDir('ann', path.join(ctx.dir.path, 'ann-data'));
  for (const name of ['identity.json', 'key-pins.json', WHISPER_STATE_FILE_NAME]) {
    const stat = await fs.stat(path.join(annDir, name));
    assert.is(stat.mode & 0o777, 0o600, name);
  }
  const again = await online(ctx, 'ann', { register: false });
  assert.is(await again.client.whisperCrypto!.ownFingerprint(), fingerprint, 'the same identity is loaded');
  assert.is(again.client.whisperCrypto!.identityCreated, false);
  await again.client.whisper('bob', 'after restart');
  assert.is((await bob.rec.waitFor('whisper', (w) => w.text === 'after restart')).from, 'ann');
  assert.equal(bob.rec.of('key-changed'), []);
  assert.equal(again.rec.of('key-changed'), []);
  assert.equal(bob.rec.of('error'), []);
});

it('a protected identity file needs its passphrase (E_PASSPHRASE otherwise)', async (ctx) => {
  const kdf = { opsLimit: 1, memLimitBytes: 8192 };
  const { client } = await online(ctx, 'ann', { passphrase: 'open sesame', kdf });
  assert.is(client.whisperCrypto!.identityCreated, true);
  await client.close();
  assert.is(await failure(makeClient(ctx, 'ann', { register: false, passphrase: 'wrong' }).client.connect()), 'E_PASSPHRASE');
  assert.is(await failure(makeClient(ctx, 'ann', { register: false }).client.connect()), 'E_PASSPHRASE');
  const { client: back } = await online(ctx, 'ann', { register: false, passphrase: 'open sesame' });
  assert.is(back.state, 'online');
});

it('the relay never sees the text: a marker word is in no file of its data folder and no log line', async (ctx) => {
  const marker = `zebrafish${Date.now().toString(36)}quokka`;
  const roomMarker = `roommarker${Date.now().toString(36)}visible`;
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', `the secret is ${marker}`);
  await bob.client.whisper('ann', `got ${marker}, thanks`);
  // Bob's own whisper is an event too, and may come first (both start at once).
  assert.is((await bob.rec.waitFor('whisper', (w) => !w.own)).text, `the secret is ${marker}`);
  assert.is((await ann.rec.waitFor('whisper', (w) => !w.own)).text, `got ${marker}, thanks`);
  // A room message is stored in plain text on purpose: it shows the search would find a marker.
  await ann.client.say(`room text ${roomMarker}`);
  await ann.client.close();
  await bob.client.close();
  await ctx.relay.close();

  const files = await filesUnder(ctx.relayDir);
  assert.ok(files.length > 3, 'the relay wrote its LevelDB folder');
  let roomHits = 0;
  for (const file of files) {
    const bytes = await fs.readFile(file);
    assert.not.ok(bytes.includes(marker), `${file} holds the whisper text`);
    assert.not.ok(bytes.includes(Buffer.from(marker, 'utf16le')), `${file} holds the whisper text (UTF-16)`);
    if (bytes.includes(roomMarker)) roomHits += 1;
  }
  assert.ok(roomHits > 0, 'the room message is found, so the search works');
  assert.ok(ctx.relayLog.length > 0, 'the relay logged something');
  assert.not.ok(ctx.relayLog.some((line) => line.includes(marker)), 'no log line holds the whisper text');
  // Nor do the clients keep whispers on disk.
  for (const file of await filesUnder(ctx.dir.path)) {
    if (file.startsWith(ctx.relayDir)) continue;
    assert.not.ok((await fs.readFile(file)).includes(marker), file);
  }
  ctx.relay = await testRelay(ctx.relayDir);
});

it('a relay that substitutes a key: key-changed, whispers refused until /trust, then sealed to the new key', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'first');
  await bob.rec.waitFor('whisper');
  const realFingerprint = await bob.client.whisperCrypto!.ownFingerprint();
  const realNumber = (await ann.client.verify('bob')).safetyNumber;
  await ann.client.close();
  await bob.client.close();

  // The operator (or whoever copied the store) swaps in keys of its own, validly signed for "bob".
  const attacker = await generateIdentity();
  const forged = await publicBundle(attacker, 'bob');
  await restartRelay(ctx, (store) => store.setKeys('bob', forged));

  const { client: annAgain, rec } = await online(ctx, 'ann', { register: false });
  assert.is(await failure(annAgain.whisper('bob', 'second')), 'E_KEY_CHANGED');
  const changed = await rec.waitFor('key-changed');
  assert.equal([changed.user, changed.oldFingerprint, changed.newFingerprint], ['bob', realFingerprint, await keyFingerprint(forged)]);
  assert.ok(changed.message.includes('/trust bob'));
  assert.equal(rec.of('error'), [], 'the refusal is the rejected promise, not an extra error event');
  assert.is(await failure(annAgain.whisper('bob', 'third')), 'E_KEY_CHANGED');
  assert.is(rec.of('key-changed').length, 1, 'one change, one event');

  const view = await annAgain.verify('bob');
  assert.is(view.safetyNumber, realNumber, 'the pinned key is still the one in force');
  assert.is(view.pendingFingerprint, changed.newFingerprint);
  assert.is.not(view.pendingSafetyNumber, realNumber, 'the forged key gives another safety number');

  // Accepting it on purpose: whispers are now sealed to the forged key (which is why /verify comes first).
  const evil = await WireClient.session(ctx.relay.port, 'bob', PASSWORD, false, attacker);
  ctx.wires.push(evil);
  const trusted = await annAgain.trust('bob');
  assert.equal([trusted.accepted, trusted.fingerprint], [true, changed.newFingerprint]);
  const intercepted = evil.next('whisper');
  await annAgain.whisper('bob', 'fourth');
  const body = (await intercepted).body;
  const annKeys = await evil.request({ t: 'keys', id: 'k', user: 'ann' });
  assert.ok(annKeys.t === 'keys');
  const annBox = (await verifyPublicBundle('ann', annKeys.t === 'keys' ? annKeys.keys : null)).box;
  const opened = await openWhisper({ recipient: attacker, me: 'bob', from: 'ann', senderBox: annBox, body, guard: new ReplayGuard() });
  assert.is(opened.text, 'fourth');
});

it('tampered, replayed and misaddressed envelopes through the relay are refused with their codes', async (ctx) => {
  const bob = await online(ctx, 'bob');
  const mallory = await wire(ctx, 'mallory');
  const keys = await mallory.request({ t: 'keys', id: mallory.id(), user: 'bob' });
  if (keys.t !== 'keys') throw new Error(JSON.stringify(keys));
  const bobBox = (await verifyPublicBundle('bob', keys.keys)).box;
  const counter = new WhisperCounter();
  const seal = (text: string, from = 'mallory', to = 'bob') =>
    sealWhisper({ sender: mallory.identity!, from, to, recipientBox: bobBox, counter: counter.next(), time: Date.now(), text });
  const send = async (body: string) => {
    const reply = await mallory.request({ t: 'whisper', id: mallory.id(), to: 'bob', body });
    assert.is(reply.t, 'ok');
  };
  const errorsSoFar = () => bob.rec.refused('mallory').length;
  const nextRefusal = async (count: number) => {
    const from = bob.rec.mark();
    if (errorsSoFar() >= count) return bob.rec.refused('mallory')[count - 1];
    return (await bob.rec.waitFor('error', (e) => e.details?.from === 'mallory', from)).code;
  };

  const genuine = await seal('a genuine whisper');
  await send(genuine);
  assert.is((await bob.rec.waitFor('whisper')).text, 'a genuine whisper');

  await send(genuine);
  assert.is(await nextRefusal(1), 'E_REPLAY');

  const bytes = fromBase64Strict(await seal('tamper with me'))!;
  bytes[bytes.length - 5] ^= 0x01;
  await send(toBase64(bytes));
  assert.is(await nextRefusal(2), 'E_DECRYPT');

  await send(await seal('meant for carol', 'mallory', 'carol'));
  assert.is(await nextRefusal(3), 'E_MISADDRESSED');

  await send(await seal('pretending to be ann', 'ann', 'bob'));
  assert.is(await nextRefusal(4), 'E_MISADDRESSED');

  await send('this is not ciphertext at all');
  assert.is(await nextRefusal(5), 'E_DECRYPT');

  // Whispers from one sender are handled in order: once this one shows, all the above were handled.
  await send(await seal('the last one'));
  await bob.rec.waitFor('whisper', (w) => w.text === 'the last one');
  assert.equal(bob.rec.refused('mallory'), ['E_REPLAY', 'E_DECRYPT', 'E_MISADDRESSED', 'E_MISADDRESSED', 'E_DECRYPT']);
  assert.equal(bob.rec.of('whisper').map((w) => w.text), ['a genuine whisper', 'the last one'], 'no garbage is ever shown');
  for (const error of bob.rec.of('error')) assert.is(error.details?.from, 'mallory');

  // The replay guard survives a restart of the receiving client.
  await bob.client.close();
  const bobAgain = await online(ctx, 'bob', { register: false });
  await send(genuine);
  assert.is((await bobAgain.rec.waitFor('error', (e) => e.details?.from === 'mallory')).code, 'E_REPLAY');
  await send(await seal('after the restart'));
  assert.is((await bobAgain.rec.waitFor('whisper')).text, 'after the restart');
});

it('a contact on a new device: key-changed, their whispers held until /trust, then shown', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'hello');
  await bob.rec.waitFor('whisper');
  await bob.client.close();

  // Bob logs in from another machine: new keys, uploaded at login.
  const laptop = await online(ctx, 'bob', { register: false, device: 'bob-laptop' });
  await laptop.client.whisper('ann', 'from my new laptop');
  const changed = await ann.rec.waitFor('key-changed');
  assert.is(changed.user, 'bob');
  const refused = await ann.rec.waitFor('error', (e) => e.details?.from === 'bob');
  assert.is(refused.code, 'E_KEY_CHANGED');
  assert.is(refused.details?.held, true);
  assert.equal(ann.rec.of('whisper').filter((w) => !w.own), [], 'nothing shown before /trust');
  assert.is(await failure(ann.client.whisper('bob', 'who are you?')), 'E_KEY_CHANGED');

  const trusted = await ann.client.trust('bob');
  assert.is(trusted.accepted, true);
  const shown = await ann.rec.waitFor('whisper', (w) => !w.own);
  assert.equal([shown.from, shown.text, shown.verified], ['bob', 'from my new laptop', true]);
  await ann.client.whisper('bob', 'welcome back');
  assert.is((await laptop.rec.waitFor('whisper', (w) => !w.own)).text, 'welcome back');
});

it('a user without published keys: E_NO_KEY', async (ctx) => {
  await restartRelay(ctx, (store) => store.createAccount('oldtimer', 'not-a-real-hash'));
  const { client } = await online(ctx, 'ann');
  assert.is(await failure(client.whisper('oldtimer', 'hi')), 'E_NO_KEY');
  assert.is(await failure(client.verify('oldtimer')), 'E_NO_KEY');
});

it('key changes still waiting for /trust are announced again after a restart', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'hello');
  await bob.rec.waitFor('whisper');
  await bob.client.close();
  const mark = ann.rec.mark();
  await online(ctx, 'bob', { register: false, device: 'bob-laptop' });
  // The login shows as a presence; from then on bob's keys are looked at again before use.
  await ann.rec.waitFor('presence', (p) => p.user === 'bob' && p.event === 'join', mark);
  assert.is(await failure(ann.client.whisper('bob', 'again')), 'E_KEY_CHANGED');
  await ann.client.close();
  const back = await online(ctx, 'ann', { register: false });
  const again = await back.rec.waitFor('key-changed');
  assert.is(again.user, 'bob');
});

it('a bot whispering as fast as it can: 300 whispers are paced, not refused; all arrive, in order', async (ctx) => {
  // The relay's default flood limits (20 a second, bursts of 100); the client knows them.
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const texts = Array.from({ length: 300 }, (_, i) => `whisper ${i + 1}`);
  const sent = await Promise.allSettled(texts.map((text) => ann.client.whisper('bob', text)));
  const refused = sent.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as ChatError).code);
  assert.equal(refused, [], 'none refused');
  await bob.rec.waitFor('whisper', (w) => w.text === 'whisper 300');
  assert.equal(bob.rec.of('whisper').map((w) => w.text), texts, 'all arrived, in order, once');
  assert.equal(ann.rec.of('whisper').map((w) => w.text), texts);
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error')], []);
});

it('a relay stricter than the client was told: refused whispers and room messages are sent again after retryAfterMs; all arrive, in order', async (ctx) => {
  await ctx.relay.close();
  ctx.relay = await testRelay(ctx.relayDir, { log: (line) => ctx.relayLog.push(line), limits: { messagesPerSecond: 5, messageBurst: 10 } });
  // The clients believe the default limits (bursts of 100): most of the first burst is refused.
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const whispers = Array.from({ length: 15 }, (_, i) => `whisper ${i + 1}`);
  const lines = Array.from({ length: 15 }, (_, i) => `line ${i + 1}`);
  const sends = whispers.flatMap((text, i) => [ann.client.whisper('bob', text), ann.client.say(lines[i])]);
  const sent = await Promise.allSettled(sends);
  const refused = sent.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as ChatError).code);
  assert.equal(refused, [], 'none refused in the end');
  await bob.rec.waitFor('whisper', (w) => w.text === 'whisper 15');
  await bob.rec.waitFor('message', (m) => m.text === 'line 15');
  assert.equal(bob.rec.of('whisper').map((w) => w.text), whispers, 'whispers: all, in order, once');
  assert.equal(bob.rec.texts(), lines, 'room messages: all, in order, once');
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error')], []);
});

it("a room's members' keys are pinned before anyone whispers: on entering the room and as they join", async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const pinned = async (client: ChatClient, user: string) => {
    const deadline = Date.now() + 10_000;
    while (!client.whisperCrypto!.pins.get(user)) {
      if (Date.now() > deadline) throw new Error(`${client.user} never pinned ${user}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await pinned(bob.client, 'ann'); // bob entered a room with ann in it
  await pinned(ann.client, 'bob'); // bob joined ann's room
  // A client that does not prefetch pins only whom it whispers.
  const cat = await online(ctx, 'cat', { keyPrefetchMaxUsers: 0 });
  await pinned(ann.client, 'cat');
  await cat.client.whisper('ann', 'hello ann');
  assert.equal(cat.client.whisperCrypto!.pins.users(), ['ann']);
  assert.is((await ann.rec.waitFor('whisper', (w) => !w.own)).text, 'hello ann');
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error'), ...cat.rec.of('error')], []);
  assert.equal(ann.rec.of('key-changed'), []);
});

spec.run();

// ---- the whisper layer alone: a fake relay in two callbacks ---------------------------------

const layer = suite('whisper layer (fake relay)');

interface Side {
  crypto: WhisperCrypto;
  events: ChatEvent[];
  errors: ChatError[];
}

/** Two users' whisper layers; `served` is what the "relay" answers for a user's keys. */
async function pair(dir: string) {
  const served = new Map<string, unknown>();
  const fetches: string[] = [];
  let answerAs: string | null = null;
  /** One user's layer in its own folder (`device`: another install of the same user). */
  const open = async (user: string, device = user): Promise<Side> => {
    const side: Side = { crypto: null as unknown as WhisperCrypto, events: [], errors: [] };
    side.crypto = await WhisperCrypto.open({
      dir: path.join(dir, device),
      user,
      fetchKeys: async (who) => {
        fetches.push(who);
        const keys = served.get(who.toLowerCase());
        if (!keys) throw new ChatError('E_NO_SUCH_USER');
        return { user: answerAs ?? who, keys };
      },
      canFetch: () => true,
      emit: (event) => side.events.push(event),
      emitError: (error) => side.errors.push(error),
      maxTextBytes: 4096,
      maxBodyChars: 16 * 1024,
      state: { flushDelayMs: 3_600_000 },
    });
    return side;
  };
  const ann = await open('ann');
  const bob = await open('bob');
  served.set('ann', await ann.crypto.ownBundle());
  served.set('bob', await bob.crypto.ownBundle());
  return { ann, bob, open, served, fetches, answerAs: (name: string | null) => (answerAs = name) };
}

function whispers(side: Side): string[] {
  return side.events.filter((e): e is ChatEventOf<'whisper'> => e.type === 'whisper').map((e) => e.text);
}

layer('held whispers are bounded (32 per sender) and shown in order after /trust', plainErrors(async () => {
  const dir = await tempDir('securechat-layer-');
  try {
    const { ann, bob, open, served } = await pair(dir.path);
    bob.crypto.receive({ from: 'ann', body: (await ann.crypto.seal('bob', 'pinned')).body, time: 1, id: 'w0' });
    await bob.crypto.settled();
    assert.equal(whispers(bob), ['pinned']);
    // Ann's keys change (as the relay serves them); her new device seals 40 whispers.
    const annNew = (await open('ann', 'ann-new')).crypto;
    served.set('ann', await annNew.ownBundle());
    bob.crypto.forget('ann');
    for (let i = 1; i <= 40; i += 1) bob.crypto.receive({ from: 'ann', body: (await annNew.seal('bob', `n${i}`)).body, time: i, id: `w${i}` });
    await bob.crypto.settled();
    assert.equal(whispers(bob), ['pinned'], 'nothing shown from the new key');
    assert.is(bob.errors.length, 40);
    assert.ok(bob.errors.every((e) => e.code === 'E_KEY_CHANGED' && e.details.held === true));
    assert.is(bob.events.filter((e) => e.type === 'key-changed').length, 1, 'one change, one event');
    const trusted = await bob.crypto.trust('ann');
    assert.is(trusted.accepted, true);
    bob.crypto.releaseHeld('ann');
    await bob.crypto.settled();
    assert.equal(whispers(bob), ['pinned', ...Array.from({ length: 32 }, (_, i) => `n${i + 9}`)]);
  } finally {
    await dir.remove();
  }
}));

layer('a sender whose whispers fail to authenticate is not re-fetched more than once per 5 s', plainErrors(async () => {
  const dir = await tempDir('securechat-layer-');
  try {
    const { ann, bob, fetches } = await pair(dir.path);
    bob.crypto.receive({ from: 'ann', body: (await ann.crypto.seal('bob', 'hello')).body, time: 1, id: 'w0' });
    await bob.crypto.settled();
    const before = fetches.filter((u) => u === 'ann').length;
    for (let i = 0; i < 20; i += 1) {
      const bytes = fromBase64Strict((await ann.crypto.seal('bob', `tampered ${i}`)).body)!;
      bytes[40] ^= 0x80;
      bob.crypto.receive({ from: 'ann', body: toBase64(bytes), time: 2, id: `t${i}` });
    }
    await bob.crypto.settled();
    assert.equal(bob.errors.map((e) => e.code), Array(20).fill('E_DECRYPT'));
    assert.is(fetches.filter((u) => u === 'ann').length, before, 'fetched moments ago: not again');
  } finally {
    await dir.remove();
  }
}));

layer('a relay answering with the wrong user or a bundle signed for another name is refused; nothing pinned', plainErrors(async () => {
  const dir = await tempDir('securechat-layer-');
  try {
    const { ann, bob, served, answerAs } = await pair(dir.path);
    answerAs('mallory');
    assert.is(await failure(ann.crypto.seal('bob', 'x')), 'E_PROTOCOL');
    answerAs(null);
    served.set('bob', await ann.crypto.ownBundle()); // ann's bundle served as bob's: signed for "ann"
    assert.is(await failure(ann.crypto.seal('bob', 'x')), 'E_BAD_KEYS');
    assert.is(ann.crypto.pins.get('bob'), undefined);
    served.set('bob', await bob.crypto.ownBundle());
    const sealed = await ann.crypto.seal('BOB', 'fine now');
    assert.is(sealed.to, 'BOB');
    assert.is(sealed.verified, false);
  } finally {
    await dir.remove();
  }
}));

layer('a slow key fetch for one contact delays neither sealing for another nor opening from another', plainErrors(async () => {
  const dir = await tempDir('securechat-layer-');
  try {
    const served = new Map<string, unknown>();
    let releaseBob!: () => void;
    const bobGate = new Promise<void>((resolve) => (releaseBob = resolve));
    const open = async (user: string) => {
      const side: Side = { crypto: null as unknown as WhisperCrypto, events: [], errors: [] };
      side.crypto = await WhisperCrypto.open({
        dir: path.join(dir.path, user),
        user,
        fetchKeys: async (who) => {
          // Bob's lookup hangs (a slow relay, a slow disk) until the test lets it go.
          if (who.toLowerCase() === 'bob') await bobGate;
          return { user: who, keys: served.get(who.toLowerCase()) };
        },
        canFetch: () => true,
        emit: (event) => side.events.push(event),
        emitError: (error) => side.errors.push(error),
        maxTextBytes: 4096,
        maxBodyChars: 16 * 1024,
        state: { flushDelayMs: 3_600_000 },
      });
      served.set(user, await side.crypto.ownBundle());
      return side;
    };
    const [ann, bob, cat] = [await open('ann'), await open('bob'), await open('cat')];
    let bobSealed = false;
    const toBob = ann.crypto.seal('bob', 'to bob').then((sealed) => ((bobSealed = true), sealed));
    // Bob's whisper to ann: ann has never seen bob's keys, and the lookup hangs.
    ann.crypto.receive({ from: 'bob', body: (await bob.crypto.seal('ann', 'from bob')).body, time: 1, id: 'b1' });
    const toCat = await ann.crypto.seal('cat', 'to cat');
    assert.not.ok(bobSealed, "bob's keys are still being fetched");
    ann.crypto.receive({ from: 'cat', body: (await cat.crypto.seal('ann', 'from cat')).body, time: 2, id: 'c1' });
    const deadline = Date.now() + 5_000;
    while (!whispers(ann).includes('from cat') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(whispers(ann), ['from cat'], "cat's whisper is shown while bob's keys are still being fetched");
    cat.crypto.receive({ from: 'ann', body: toCat.body, time: 3, id: 'a1' });
    await cat.crypto.settled();
    assert.equal(whispers(cat), ['to cat']);
    releaseBob();
    const sealed = await toBob;
    await ann.crypto.settled();
    assert.equal(whispers(ann), ['from cat', 'from bob']);
    bob.crypto.receive({ from: 'ann', body: sealed.body, time: 4, id: 'a2' });
    await bob.crypto.settled();
    assert.equal(whispers(bob), ['to bob']);
    assert.equal([...ann.errors, ...bob.errors, ...cat.errors], []);
  } finally {
    await dir.remove();
  }
}));

layer.run();
