import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fromBase64Strict, toBase64 } from '../../../../shared/crypto/bytes.js';
import { generateIdentity } from '../../../../shared/crypto/identity.js';
import { generateKeyPair, signPrekey } from '../../../../shared/crypto/prekeys.js';
import { parseBody } from '../../../../shared/crypto/session.js';
import { LevelStore } from '../../../../relay/level-store.js';
import type { RelayStore } from '../../../../relay/store.js';
import type { RunningRelay } from '../../../../relay/server.js';
import { ChatClient, type ChatClientOptions } from '../../../../tui/core/client.js';
import { userDataDir } from '../../../../tui/core/paths.js';
import type { IncomingWhisper } from '../../../../tui/core/whispers.js';
import { plainErrors } from '../../../helpers/core-helpers.js';
import { sendAndAccept, testClientOptions } from '../../../helpers/clients.js';
import { sha256OfFile, loopbackOptions, writeTestFile } from '../../../helpers/transfer-helpers.js';
import { failure } from '../../../helpers/errors.js';
import { Recorder } from '../../../helpers/recorder.js';
import { testRelay } from '../../../helpers/relay.js';
import { identityOf, WireClient } from '../../../helpers/wire-client.js';
import { openWhisper, ReplayGuard, sealWhisper, WhisperCounter } from '../../../../shared/crypto/envelope.js';
import { verifyPublicBundle } from '../../../../shared/crypto/identity.js';
import { PREKEY_LIMITS } from '../../../../shared/limits.js';
import { tempDir } from '../../../helpers/temp.js';

/**
 * Forward-secret whispers (issue 16) through a real relay with a real LevelDB: ChatClients
 * with their own data folders, sessions started by prekey claims (X3DH) and run by the Double
 * Ratchet (tui/core/session-crypto.ts). Waits are bounded by the failure timeout.
 */
type Ctx = {
  dir: { path: string; remove: () => Promise<void> };
  relayDir: string;
  relay: RunningRelay;
  relayLog: string[];
  clients: ChatClient[];
};

const spec = suite<Ctx>('forward-secret sessions');
const it = (name: string, handler: (ctx: Ctx) => Promise<void>) => spec(name, plainErrors(handler));

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-sessions-');
  ctx.relayDir = path.join(ctx.dir.path, 'relay');
  ctx.relayLog = [];
  ctx.relay = await testRelay(ctx.relayDir, { log: (line) => ctx.relayLog.push(line) });
  ctx.clients = [];
});

spec.after.each(async (ctx) => {
  await Promise.all(ctx.clients.map((c) => c.close().catch(() => {})));
  await ctx.relay?.close().catch((e) => console.error('closing the relay failed:', e));
  await ctx.dir.remove().catch(() => {});
});

type Side = { client: ChatClient; rec: Recorder; bodies: IncomingWhisper[]; signals: IncomingWhisper[] };

/** A client online in its own folders (`device`), recording the ciphertext the relay hands it. */
async function online(ctx: Ctx, user: string, options: Partial<ChatClientOptions> & { device?: string } = {}): Promise<Side> {
  const { device = user, ...rest } = options;
  const client = new ChatClient({ ...testClientOptions(ctx, user, device), ...rest });
  ctx.clients.push(client);
  const rec = new Recorder(client);
  await client.connect();
  const bodies: IncomingWhisper[] = [];
  const crypto = client.whisperCrypto!;
  const receive = crypto.receive.bind(crypto);
  crypto.receive = (message) => {
    bodies.push(message);
    receive(message);
  };
  const signals: IncomingWhisper[] = [];
  const receiveSignal = crypto.receiveSignal.bind(crypto);
  crypto.receiveSignal = (message, deliver) => {
    signals.push(message);
    receiveSignal(message, deliver);
  };
  return { client, rec, bodies, signals };
}

const dataDir = (ctx: Ctx, device: string, user = device) => userDataDir(user, path.join(ctx.dir.path, `${device}-data`));
/** A body's version and kind bytes (2 = session; kind 1 = with the X3DH prefix, 2 = a plain ratchet message). */
const head = (body: string) => Array.from(fromBase64Strict(body)!.subarray(0, 2));

/** Stops the relay, edits its store, starts it again on the same port (clients still running reconnect to it). */
async function restartRelay(ctx: Ctx, edit: (store: RelayStore) => Promise<unknown>): Promise<void> {
  const { port } = ctx.relay;
  await ctx.relay.close();
  const store = await LevelStore.open(ctx.relayDir);
  try {
    await edit(store);
  } finally {
    await store.close();
  }
  ctx.relay = await testRelay(ctx.relayDir, { port, log: (line) => ctx.relayLog.push(line) });
}

it('the first whisper starts a session: the relay carries only v2 ciphertext; the state files are 0600', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  const marker = `okapi${Date.now().toString(36)}`;
  await ann.client.whisper('bob', `first ${marker}`);
  assert.is((await bob.rec.waitFor('whisper')).text, `first ${marker}`);
  await bob.client.whisper('ann', 'reply');
  assert.is((await ann.rec.waitFor('whisper', (w) => !w.own)).text, 'reply');
  await ann.client.whisper('bob', 'second');
  await bob.rec.waitFor('whisper', (w) => w.text === 'second');

  assert.equal(head(bob.bodies[0]!.body), [2, 1], 'the first carries the X3DH prefix');
  assert.equal(head(ann.bodies[0]!.body), [2, 2]);
  assert.equal(head(bob.bodies[1]!.body), [2, 2], 'bob answered: no prefix any more');
  for (const { body } of [...ann.bodies, ...bob.bodies]) assert.not.ok(Buffer.from(body, 'base64').includes(Buffer.from(marker)));
  assert.not.ok(ctx.relayLog.some((line) => line.includes(marker)));
  for (const [device, peer] of [['ann', 'bob'], ['bob', 'ann']]) {
    for (const name of ['device.json', 'prekeys.json', 'sessions.journal']) {
      const stat = await fs.stat(path.join(dataDir(ctx, device!), name));
      assert.is(stat.mode & 0o777, 0o600, `${device} ${name}`);
    }
  }
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error')], []);
});

it('a conversation survives a restart of either client: no new X3DH, both ways', async (ctx) => {
  const ann = await online(ctx, 'ann');
  let bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'one');
  await bob.rec.waitFor('whisper');
  await bob.client.whisper('ann', 'two');
  await ann.rec.waitFor('whisper', (w) => !w.own);
  await bob.client.close();
  bob = await online(ctx, 'bob', { register: false });
  await ann.client.whisper('bob', 'three');
  assert.is((await bob.rec.waitFor('whisper')).text, 'three');
  assert.equal(head(bob.bodies[0]!.body), [2, 2], 'the saved session, not a new one');
  await bob.client.whisper('ann', 'four');
  assert.is((await ann.rec.waitFor('whisper', (w) => w.text === 'four')).from, 'bob');
  await ann.client.close();
  const annAgain = await online(ctx, 'ann', { register: false });
  await bob.client.whisper('ann', 'five');
  assert.is((await annAgain.rec.waitFor('whisper')).text, 'five');
  await annAgain.client.whisper('bob', 'six');
  await bob.rec.waitFor('whisper', (w) => w.text === 'six');
  assert.ok([...annAgain.bodies, ...bob.bodies].every((b) => head(b.body)[1] === 2));
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error'), ...annAgain.rec.of('error')], []);
});

it('a crash after the state write and before the send never reuses a message key', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'before');
  await bob.rec.waitFor('whisper');
  // Sealed (the advanced state is written when seal resolves), then the process dies: this very
  // moment's data folder is what the next start finds (a kill -9 in a child process, and a power
  // loss, are in session-files.test.ts).
  const lost = await ann.client.whisperCrypto!.seal('bob', 'lost in the crash');
  await fs.cp(path.join(ctx.dir.path, 'ann-data'), path.join(ctx.dir.path, 'ann-crashed-data'), { recursive: true });
  await ann.client.close();
  const after = await online(ctx, 'ann', { register: false, device: 'ann-crashed' });
  await after.client.whisper('bob', 'after');
  assert.is((await bob.rec.waitFor('whisper', (w) => w.text === 'after')).from, 'ann');
  const lostHeader = toBase64(parseBody(lost.body).header);
  const nextHeader = toBase64(parseBody(bob.bodies[1]!.body).header);
  assert.is.not(nextHeader, lostHeader, 'another ratchet position, so another message key');
  // The lost one, delivered late after all, still opens once (its key was skipped, not reused).
  bob.client.whisperCrypto!.receive({ from: 'ann', body: lost.body, time: Date.now(), id: 'late' });
  assert.is((await bob.rec.waitFor('whisper', (w) => w.id === 'late')).text, 'lost in the crash');
  assert.equal(bob.rec.of('error'), []);
});

it('crossing starts: both whisper first at once, then the conversation goes on both ways', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  // Each has the other's key pinned (the room prefetch), neither has a session.
  await Promise.all([ann.client.whisper('bob', 'a0'), bob.client.whisper('ann', 'b0')]);
  await Promise.all([bob.rec.waitFor('whisper', (w) => w.text === 'a0'), ann.rec.waitFor('whisper', (w) => w.text === 'b0')]);
  assert.equal([head(bob.bodies[0]!.body)[1], head(ann.bodies[0]!.body)[1]], [1, 1], 'two X3DH starts crossed');
  for (let round = 1; round <= 4; round += 1) {
    if (round % 2 === 0) await Promise.all([ann.client.whisper('bob', `a${round}`), bob.client.whisper('ann', `b${round}`)]);
    else {
      await ann.client.whisper('bob', `a${round}`);
      await bob.client.whisper('ann', `b${round}`);
    }
    await Promise.all([bob.rec.waitFor('whisper', (w) => w.text === `a${round}`), ann.rec.waitFor('whisper', (w) => w.text === `b${round}`)]);
  }
  assert.equal(bob.rec.of('whisper').filter((w) => !w.own).map((w) => w.text), ['a0', 'a1', 'a2', 'a3', 'a4']);
  assert.equal(ann.rec.of('whisper').filter((w) => !w.own).map((w) => w.text), ['b0', 'b1', 'b2', 'b3', 'b4']);
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error')], []);
});

it('a relay that substitutes the signed prekey is detected (E_BAD_PREKEY, nothing sent)', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.close();
  await bob.client.close();
  await restartRelay(ctx, async (store) => {
    const [real] = await store.claimPrekeys('bob');
    const forger = await generateIdentity();
    const key = generateKeyPair().publicKey;
    const signedPrekey = await signPrekey(forger, 'bob', real!.bundle.device, real!.bundle.signedPrekey.id, key);
    await store.putPrekeys('bob', { ...real!.bundle, signedPrekey, oneTime: [] });
  });
  const annAgain = await online(ctx, 'ann', { register: false });
  assert.is(await failure(annAgain.client.whisper('bob', 'to a forged prekey')), 'E_BAD_PREKEY');
  assert.equal(await fs.readdir(path.join(dataDir(ctx, 'ann'), 'sessions')), [], 'no session kept');
});

it('a relay that substitutes one-time prekeys is harmless: bob refuses the first message, nothing shown', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.close();
  await bob.client.close();
  await restartRelay(ctx, async (store) => {
    // Take all of bob's one-time prekeys out and put keys of the relay's own under the same ids.
    const taken = [];
    for (let i = 0; i < 300; i += 1) {
      const [claimed] = await store.claimPrekeys('bob');
      if (!claimed?.bundle.oneTime) break;
      taken.push({ bundle: claimed.bundle, id: claimed.bundle.oneTime.id });
    }
    assert.ok(taken.length > 0);
    const oneTime = taken.slice(0, 50).map(({ id }) => ({ id, key: toBase64(generateKeyPair().publicKey) }));
    const { oneTime: _, ...rest } = taken[0]!.bundle;
    await store.putPrekeys('bob', { ...rest, oneTime });
  });
  const annAgain = await online(ctx, 'ann', { register: false });
  const bobAgain = await online(ctx, 'bob', { register: false });
  await annAgain.client.whisper('bob', 'sealed with a forged prekey');
  const refused = await bobAgain.rec.waitFor('error', (e) => e.details?.from === 'ann');
  assert.is(refused.code, 'E_DECRYPT');
  assert.equal(bobAgain.rec.of('whisper'), [], 'nothing shown');
  // Session reset: bob starts a session with ann's real prekeys and says so; ann sends on it from now on.
  assert.is((await bobAgain.rec.waitFor('session-reset', (e) => e.side === 'asked')).user, 'ann');
  const told = await annAgain.rec.waitFor('session-reset', (e) => e.side === 'told');
  assert.is(told.user, 'bob');
  assert.ok(typeof told.time === 'number' && told.message.includes('send it again'));
  await annAgain.client.whisper('bob', 'after the reset');
  await bobAgain.rec.waitFor('whisper', (w) => w.text === 'after the reset');
  await bobAgain.client.whisper('ann', 'and back');
  await annAgain.rec.waitFor('whisper', (w) => w.text === 'and back');
});

it('session reset: bob lost his sessions; ann\'s next whisper cannot be read, bob asks for a new session once, and the conversation goes on', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'before');
  await bob.rec.waitFor('whisper', (w) => w.text === 'before');
  await bob.client.whisper('ann', 'answer');
  await ann.rec.waitFor('whisper', (w) => w.text === 'answer');
  await bob.client.close();
  // A lost or restored-from-backup folder: the sessions are gone, identity and prekeys stay.
  const bobDir = dataDir(ctx, 'bob');
  await fs.rm(path.join(bobDir, 'sessions'), { recursive: true, force: true });
  await fs.rm(path.join(bobDir, 'sessions.journal'), { force: true });
  const bobAgain = await online(ctx, 'bob', { register: false });
  for (const text of ['lost 1', 'lost 2']) await ann.client.whisper('bob', text);
  const refused = await bobAgain.rec.waitFor('error', (e) => e.details?.from === 'ann');
  assert.is(refused.code, 'E_DECRYPT');
  await ann.rec.waitFor('session-reset', (e) => e.side === 'told' && e.user === 'bob');
  await bobAgain.rec.waitFor('error', (e) => e.details?.from === 'ann', 2);
  await ann.client.whisper('bob', 'after the reset');
  await bobAgain.rec.waitFor('whisper', (w) => w.text === 'after the reset');
  assert.equal(bobAgain.rec.of('whisper').map((w) => w.text), ['after the reset'], 'the lost ones are not shown');
  assert.is(bobAgain.rec.of('session-reset').length, 1, 'one reset for the burst (resetMinIntervalMs)');
  assert.is(ann.rec.of('session-reset').length, 1);
  await bobAgain.client.whisper('ann', 'back again');
  await ann.rec.waitFor('whisper', (w) => w.text === 'back again');
});

it('with a passphrase the prekey and session files are sealed: no private key readable in them', async (ctx) => {
  const kdf = { opsLimit: 1, memLimitBytes: 8192 };
  const ann = await online(ctx, 'ann', { passphrase: 'open sesame', kdf });
  const bob = await online(ctx, 'bob');
  await ann.client.whisper('bob', 'sealed at rest');
  await bob.rec.waitFor('whisper');
  const records = (await fs.readFile(path.join(dataDir(ctx, 'ann'), 'sessions.journal'), 'utf8')).split('\0', 1)[0]!.split('\n').filter(Boolean);
  assert.ok(records.length > 0, 'the sending state is in the journal while the client runs');
  const journalled = records.map((line) => (JSON.parse(line) as { s: string }).s);
  const sealedForm = async (name: string) => [name, await fs.readFile(path.join(dataDir(ctx, 'ann'), name), 'utf8')];
  await ann.client.close();
  for (const [name, text] of [await sealedForm('prekeys.json'), await sealedForm('sessions/bob.json'), ...journalled.map((t) => ['a journal record', t])]) {
    const stored = JSON.parse(text!) as Record<string, unknown>;
    assert.equal(Object.keys(stored).sort(), ['box', 'kind', 'nonce', 'v'], name);
  }
  const wrong = new ChatClient({ ...testClientOptions(ctx, 'ann'), register: false, passphrase: 'wrong', kdf });
  ctx.clients.push(wrong);
  assert.is(await failure(wrong.connect()), 'E_PASSPHRASE');
  const back = await online(ctx, 'ann', { register: false, passphrase: 'open sesame', kdf });
  await bob.client.whisper('ann', 'still readable');
  assert.is((await back.rec.waitFor('whisper')).text, 'still readable');
});

it('transfer signals ride the same sessions (v2 bodies, signal kind): a file goes through', async (ctx) => {
  const transfers = (user: string) => ({ transfers: { downloadDir: path.join(ctx.dir.path, `${user}-downloads`), transfer: loopbackOptions() } });
  await fs.mkdir(path.join(ctx.dir.path, 'bob-downloads'));
  await fs.mkdir(path.join(ctx.dir.path, 'ann-downloads'));
  const ann = await online(ctx, 'ann', transfers('ann'));
  const bob = await online(ctx, 'bob', transfers('bob'));
  await ann.client.whisper('bob', 'a file is coming');
  await bob.rec.waitFor('whisper');
  const file = await writeTestFile(ctx.dir.path, 'small.bin', 64 * 1024);
  const { received } = await sendAndAccept(ann, bob, file);
  assert.is(received.hash, await sha256OfFile(file));
  assert.ok(bob.signals.length > 0 && ann.signals.length > 0);
  for (const { body } of [...bob.signals, ...ann.signals]) assert.is(head(body)[0], 2, 'a session body');
  assert.equal([...ann.rec.of('error'), ...bob.rec.of('error')], []);
});

it('prekeys-low: a device whose one-time prekeys run low on the relay uploads more', async (ctx) => {
  await ctx.relay.close();
  ctx.relay = await testRelay(ctx.relayDir, { limits: { prekeyClaimBurst: 200, prekeyClaimsPerMinute: 6000 } });
  const bob = await online(ctx, 'bob');
  const localOneTime = async () => (JSON.parse(await fs.readFile(path.join(dataDir(ctx, 'bob'), 'prekeys.json'), 'utf8')) as { data: { oneTime: unknown[] } }).data.oneTime.length;
  const first = await localOneTime();
  assert.is(first, PREKEY_LIMITS.maxOneTimePerUpload, 'one full upload at the first login');
  const mallory = await WireClient.session(ctx.relay.port, 'mallory', 'correct horse battery');
  try {
    let remaining = first;
    while (remaining >= PREKEY_LIMITS.oneTimeLowWater) {
      const reply = await mallory.request({ t: 'prekey-claim', id: mallory.id(), user: 'bob' });
      assert.is(reply.t, 'prekey-bundle');
      remaining -= 1;
    }
  } finally {
    mallory.close();
  }
  const deadline = Date.now() + 10_000;
  while ((await localOneTime()) === first && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.ok((await localOneTime()) > first, 'more one-time prekeys were made (and uploaded)');
  assert.equal(bob.rec.of('error'), []);
});

it('a resume in the same run uploads no prekeys when the relay holds them all (nor rewrites prekeys.json); one that runs low still tops up', async (ctx) => {
  const bob = await online(ctx, 'bob');
  const file = path.join(dataDir(ctx, 'bob'), 'prekeys.json');
  const written = (await fs.stat(file)).mtimeMs;
  const crypto = bob.client.whisperCrypto!;
  const publish = crypto.publishPrekeys.bind(crypto);
  const uploads: unknown[] = [];
  const counting = async (upload: unknown) => {
    uploads.push(upload);
    return PREKEY_LIMITS.maxStoredOneTime;
  };
  // Counts what the login of the resume sends to the relay.
  crypto.publishPrekeys = (send) => publish(async (upload) => (uploads.push(upload), send(upload)));
  bob.client.dropConnection();
  await bob.rec.waitFor('reconnecting');
  bob.client.reconnectNow();
  await bob.rec.waitFor('connected', (c) => c.resumed);
  assert.equal(uploads, [], 'nothing new: no upload on the resume');
  assert.is((await fs.stat(file)).mtimeMs, written, 'prekeys.json was not written again');
  // The relay reports few left (as after claims while bob was away): a top-up, then nothing again.
  const device = (bob.client.whisperCrypto as unknown as { sessions: { device: string } }).sessions.device;
  await crypto.prekeysLow(device, PREKEY_LIMITS.oneTimeLowWater - 1, counting);
  assert.is(uploads.length, 1, 'the top-up');
  uploads.length = 0;
  await publish(counting);
  assert.equal(uploads, [], 'the relay holds them again');
  assert.equal(bob.rec.of('error'), []);
});

it('a prekey upload the relay refuses with E_FLOOD (its request bucket) is sent again after retryAfterMs: the login still publishes', async (ctx) => {
  await ctx.relay.close();
  // One request at once, one more each 400 ms: the login's second upload (the one-time prekeys) meets an empty bucket.
  ctx.relay = await testRelay(ctx.relayDir, { limits: { requestBurst: 1, requestsPerSecond: 2.5 } });
  const bob = await online(ctx, 'bob');
  const mallory = await WireClient.session(ctx.relay.port, 'mallory', 'correct horse battery');
  try {
    const reply = (await mallory.request({ t: 'prekey-claim', id: mallory.id(), user: 'bob' })) as { t: string; devices?: { oneTime?: unknown }[] };
    assert.is(reply.t, 'prekey-bundle');
    assert.ok(reply.devices?.[0]?.oneTime, 'the one-time prekeys reached the relay');
  } finally {
    mallory.close();
  }
  assert.equal(bob.rec.of('error'), []);
});

it('refusing the v1 downgrade: a relay that serves no prekeys for a contact whose bundle is version 2 gets E_DOWNGRADE, nothing sent', async (ctx) => {
  const bob = await online(ctx, 'bob');
  const ann = await online(ctx, 'ann');
  // Both come back after the restart in the same run: nothing due, so neither uploads again.
  await restartRelay(ctx, (store) => store.removePrekeys('bob'));
  await ann.rec.waitFor('connected', () => true, 2);
  await bob.rec.waitFor('connected', () => true, 2);
  assert.is(await failure(ann.client.whisper('bob', 'must not go out without forward secrecy')), 'E_DOWNGRADE');
  assert.equal(await fs.readdir(path.join(dataDir(ctx, 'ann'), 'sessions')).catch(() => []), [], 'no session');
  assert.equal(bob.bodies, [], 'nothing reached bob');
  assert.is(ann.client.whisperCrypto!.pins.get('bob')?.bundle.v, 2);
});

it('mixed clients: a contact without prekeys (an older client) gets the v1 envelope, and its v1 whispers are opened', async (ctx) => {
  const ann = await online(ctx, 'ann');
  const old = await WireClient.session(ctx.relay.port, 'olde', 'correct horse battery');
  try {
    const arrived = old.next('whisper');
    await ann.client.whisper('olde', 'to an older client');
    const { body } = (await arrived) as { body: string };
    assert.is(head(body)[0], 1, 'the v1 envelope');
    const keys = await old.request({ t: 'keys', id: old.id(), user: 'ann' });
    const annBox = (await verifyPublicBundle('ann', keys.t === 'keys' ? keys.keys : null)).box;
    const me = await identityOf('olde');
    assert.is((await openWhisper({ recipient: me, me: 'olde', from: 'ann', senderBox: annBox, body, guard: new ReplayGuard() })).text, 'to an older client');
    const reply = await sealWhisper({ sender: me, from: 'olde', to: 'ann', recipientBox: annBox, counter: new WhisperCounter().next(), time: Date.now(), text: 'v1 back' });
    assert.is((await old.request({ t: 'whisper', id: old.id(), to: 'ann', body: reply })).t, 'ok');
    assert.is((await ann.rec.waitFor('whisper', (w) => !w.own)).text, 'v1 back');
    assert.equal(ann.rec.of('error'), []);
  } finally {
    old.close();
  }
});

spec.run();
