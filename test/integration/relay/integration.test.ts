import { connect } from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeControl } from '../../../shared/codec.js';
import { generateIdentity, publicBundle, signLoginChallenge } from '../../../shared/crypto/identity.js';
import { boundChallenge } from '../../../shared/login-proof.js';
import type { RunningRelay } from '../../../relay/server.js';
import { WireClient, errorCodeOf } from '../../helpers/wire-client.js';
import { testRelay, withWireRelayPerTest, type WireRelayContext } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';
import { eventually } from '../../helpers/wait.js';

type Ctx = WireRelayContext;
const relayTest = suite<Ctx>('relay');

withWireRelayPerTest(relayTest);

async function session(ctx: Ctx, user: string, register = true, password?: string): Promise<WireClient> {
  const client = await WireClient.session(ctx.relay.port, user, password, register);
  ctx.clients.push(client);
  return client;
}

relayTest('the first line facts: a real port and a sha256 fingerprint', (ctx) => {
  assert.ok(ctx.relay.port > 0);
  assert.match(ctx.relay.fingerprint, /^sha256:[0-9a-f]{64}$/);
});

relayTest('register, meet in global, talk: stored, acked to the sender, broadcast to others', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const bob = await session(ctx, 'bob');
  const heard = bob.next('message');
  const ack = await ann.request({ t: 'say', id: 'm1', text: 'hello bob' });
  assert.is(ack.t, 'ack');
  const message = await heard;
  assert.is(message.from, 'ann');
  assert.is(message.text, 'hello bob');
  assert.is(message.room, 'global');
  assert.is(message.id, 'm1');
  assert.is(ack.t === 'ack' && ack.seq, message.seq);
  assert.not.ok(ann.received.some((m) => m.t === 'message'), 'the sender does not get its own message back');
});

relayTest('presence and /users', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const joinedSeen = ann.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'join');
  const bob = await session(ctx, 'bob');
  await joinedSeen;
  const users = await bob.request({ t: 'users', id: 'u' });
  assert.equal(users.t === 'users' && users.users, ['ann', 'bob']);
});

relayTest('rooms: create, join, chatrooms, leave, and their error codes', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const bob = await session(ctx, 'bob');
  const created = await ann.request({ t: 'create', id: 'c1', room: 'Lobby' });
  assert.is(created.t === 'joined' && created.room, 'Lobby');
  assert.is(errorCodeOf(await ann.request({ t: 'create', id: 'c2', room: 'other' })), 'E_NOT_IN_GLOBAL');
  assert.is(errorCodeOf(await ann.request({ t: 'join', id: 'c3', room: 'other' })), 'E_NOT_IN_GLOBAL');
  assert.is(errorCodeOf(await ann.request({ t: 'rooms', id: 'c4' })), 'E_NOT_IN_GLOBAL');
  assert.is(errorCodeOf(await bob.request({ t: 'create', id: 'c5', room: 'LOBBY' })), 'E_ROOM_EXISTS');
  assert.is(errorCodeOf(await bob.request({ t: 'join', id: 'c6', room: 'nowhere' })), 'E_NO_SUCH_ROOM');
  assert.is(errorCodeOf(await bob.request({ t: 'create', id: 'c7', room: 'bad name' })), 'E_BAD_NAME');
  assert.is(errorCodeOf(await bob.request({ t: 'create', id: 'c8', room: 'global' })), 'E_BAD_NAME');
  assert.is(errorCodeOf(await bob.request({ t: 'join', id: 'c9', room: 'global' })), 'E_ALREADY_IN_ROOM');
  assert.is(errorCodeOf(await bob.request({ t: 'leave', id: 'c10' })), 'E_IN_GLOBAL');
  const rooms = await bob.request({ t: 'rooms', id: 'c11' });
  assert.equal(rooms.t === 'rooms' && rooms.rooms, [{ name: 'Lobby', members: 1 }]);
  const annSeesBob = ann.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'join');
  const joined = await bob.request({ t: 'join', id: 'c12', room: 'lobby' });
  assert.equal(joined.t === 'joined' && joined.users, ['ann', 'bob']);
  await annSeesBob;
  const annSeesLeave = ann.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'leave');
  const left = await bob.request({ t: 'leave', id: 'c13' });
  assert.is(left.t === 'joined' && left.room, 'global');
  await annSeesLeave;
  await ann.request({ t: 'leave', id: 'c14' });
  const none = await ann.request({ t: 'rooms', id: 'c15' });
  assert.equal(none.t === 'rooms' && none.rooms, [], 'a room ends with its last member');
});

relayTest('a chatroom that ended keeps its log and its sequence', async (ctx) => {
  const ann = await session(ctx, 'ann');
  await ann.request({ t: 'create', id: 'c1', room: 'den' });
  const first = await ann.request({ t: 'say', id: 'm1', text: 'remember me' });
  await ann.request({ t: 'leave', id: 'l1' });
  const again = await ann.request({ t: 'create', id: 'c2', room: 'den' });
  assert.is(again.t === 'joined' && again.history[0]?.text, 'remember me');
  const second = await ann.request({ t: 'say', id: 'm2', text: 'again' });
  assert.is(second.t === 'ack' && second.seq, (first.t === 'ack' ? first.seq : 0) + 1);
});

relayTest('whispers reach only their target, in the same room', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const bob = await session(ctx, 'bob');
  const cat = await session(ctx, 'cat');
  const got = bob.next('whisper');
  const sent = await ann.request({ t: 'whisper', id: 'w1', to: 'BOB', body: 'psst' });
  assert.is(sent.t, 'ok');
  const whisper = await got;
  assert.is(whisper.from, 'ann');
  assert.is(whisper.body, 'psst');
  assert.not.ok(cat.received.some((m) => m.t === 'whisper'));
  assert.is(errorCodeOf(await ann.request({ t: 'whisper', id: 'w2', to: 'ann', body: 'x' })), 'E_SELF');
  assert.is(errorCodeOf(await ann.request({ t: 'whisper', id: 'w3', to: 'nobody', body: 'x' })), 'E_NO_SUCH_USER');
  await cat.request({ t: 'create', id: 'c', room: 'elsewhere' });
  assert.is(errorCodeOf(await ann.request({ t: 'whisper', id: 'w4', to: 'cat', body: 'x' })), 'E_NOT_IN_ROOM');
});

relayTest('history: 50 on join, /history pages further back', async (ctx) => {
  const ann = await session(ctx, 'ann');
  await ann.request({ t: 'create', id: 'c', room: 'busy' });
  for (let i = 1; i <= 60; i++) await ann.request({ t: 'say', id: `m${i}`, text: `n${i}` });
  const bob = await session(ctx, 'bob');
  const joined = await bob.request({ t: 'join', id: 'j', room: 'busy' });
  assert.ok(joined.t === 'joined');
  if (joined.t !== 'joined') return;
  assert.is(joined.history.length, 50);
  assert.is(joined.history[0].text, 'n11');
  assert.is(joined.history[49].text, 'n60');
  assert.ok(joined.hasMore);
  const older = await bob.request({ t: 'history', id: 'h', before: joined.history[0].seq, limit: 50 });
  assert.ok(older.t === 'history');
  if (older.t !== 'history') return;
  assert.is(older.messages.length, 10);
  assert.is(older.messages[0].text, 'n1');
  assert.not.ok(older.hasMore);
});

relayTest('the same message sent twice is stored and delivered once', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const bob = await session(ctx, 'bob');
  const first = await ann.request({ t: 'say', id: 'dup', text: 'once' });
  const second = await ann.request({ t: 'say', id: 'dup', text: 'once', resent: true });
  assert.equal(second, first);
  const after = bob.waitFor((m) => m.t === 'message' && m.id === 'after');
  await ann.request({ t: 'say', id: 'after', text: 'next' });
  await after;
  assert.is(bob.received.filter((m) => m.t === 'message' && m.id === 'dup').length, 1);
});

relayTest('bad input: empty, too long, unknown type; the connection survives', async (ctx) => {
  const ann = await session(ctx, 'ann');
  assert.is(errorCodeOf(await ann.request({ t: 'say', id: 'e1', text: '   ' })), 'E_USAGE');
  assert.is(errorCodeOf(await ann.request({ t: 'say', id: 'e2', text: 'x'.repeat(5000) })), 'E_TOO_LARGE');
  ann.socket.write(encodeControl({ t: 'fly', id: 'e3' }));
  const reply = await ann.waitFor((m) => m.t === 'error' && m.re === 'e3');
  assert.is(errorCodeOf(reply), 'E_PROTOCOL');
  assert.is((await ann.request({ t: 'ping', id: 'p' })).t, 'pong');
});

relayTest('wrong password and unknown user get the same E_AUTH; repeated failures get E_RATE', async (ctx) => {
  const ann = await session(ctx, 'ann');
  ann.close();
  const probe = await WireClient.open(ctx.relay.port);
  ctx.clients.push(probe);
  await probe.hello();
  const wrong = await probe.request({ t: 'login', id: 'a', user: 'ann', password: 'wrong password', ...(await probe.credentials('ann')) });
  const unknown = await probe.request({ t: 'login', id: 'b', user: 'nobody', password: 'wrong password', ...(await probe.credentials('nobody')) });
  assert.is(errorCodeOf(wrong), 'E_AUTH');
  assert.is(errorCodeOf(unknown), 'E_AUTH');
  assert.is(wrong.t === 'error' && wrong.message, unknown.t === 'error' && unknown.message);
  await probe.request({ t: 'login', id: 'c', user: 'ann', password: 'wrong password', ...(await probe.credentials('ann')) });
  const limited = await probe.request({ t: 'login', id: 'd', user: 'ann', password: 'correct horse', ...(await probe.credentials('ann')) });
  assert.is(errorCodeOf(limited), 'E_RATE');
  assert.ok(limited.t === 'error' && (limited.retryAfterMs ?? 0) > 0);
});

relayTest('commands before login get E_NOT_LOGGED_IN; a second hello closes', async (ctx) => {
  const client = await WireClient.open(ctx.relay.port);
  ctx.clients.push(client);
  client.send({ t: 'hello', v: 1 });
  await client.next('welcome');
  assert.is(errorCodeOf(await client.request({ t: 'say', id: 's', text: 'x' })), 'E_NOT_LOGGED_IN');
  client.send({ t: 'hello', v: 1 });
  await client.whenClosed();
});

relayTest('an unknown protocol version gets E_VERSION, not a hang', async (ctx) => {
  const client = await WireClient.open(ctx.relay.port);
  ctx.clients.push(client);
  client.send({ t: 'hello', v: 99 });
  const error = await client.next('error');
  assert.is(error.code, 'E_VERSION');
  await client.whenClosed();
});

relayTest('garbage bytes close that connection only; the relay keeps serving', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const bob = await session(ctx, 'bob');
  const vandal = await WireClient.open(ctx.relay.port);
  ctx.clients.push(vandal);
  vandal.socket.write('GET / HTTP/1.1\r\nHost: relay\r\n\r\n');
  await vandal.whenClosed();
  const heard = bob.next('message');
  await ann.request({ t: 'say', id: 'still', text: 'still here' });
  assert.is((await heard).text, 'still here');
});

relayTest('an oversize frame is refused with E_FRAME_TOO_LARGE', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const header = Buffer.alloc(5);
  header.writeUInt32BE(10 * 1024 * 1024, 0);
  header[4] = 1;
  const error = ann.next('error');
  ann.socket.write(header);
  assert.is((await error).code, 'E_FRAME_TOO_LARGE');
  await ann.whenClosed();
  const bob = await session(ctx, 'bob');
  assert.is((await bob.request({ t: 'ping', id: 'p' })).t, 'pong');
});

relayTest('a TLS 1.2 client is refused at the handshake', async (ctx) => {
  const outcome = await new Promise<string>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: ctx.relay.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: Error & { code?: string }) => resolve(error.code ?? 'error'));
  });
  assert.is.not(outcome, 'connected');
});

relayTest('a second login replaces the first session', async (ctx) => {
  const first = await session(ctx, 'ann');
  const bye = first.next('bye');
  await session(ctx, 'ann', false);
  assert.is((await bye).code, 'E_REPLACED');
});

relayTest('exit acknowledges, closes and revokes the token', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const token = ann.received.find((m) => m.t === 'session');
  assert.is((await ann.request({ t: 'exit', id: 'x' })).t, 'ok');
  await ann.whenClosed();
  const again = await WireClient.open(ctx.relay.port);
  ctx.clients.push(again);
  await again.hello();
  const proof = await again.resumeProof('ann');
  const reply = await again.request({ t: 'resume', id: 'r', user: 'ann', token: token?.t === 'session' ? token.token : '', proof });
  assert.is(errorCodeOf(reply), 'E_BAD_TOKEN');
});

relayTest('closing tells clients', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const bye = ann.next('bye');
  await ctx.relay.close();
  assert.is((await bye).code, 'E_SHUTDOWN');
  ctx.relay = await testRelay(ctx.dir.path);
});

relayTest.run();

const restart = suite('relay restart');

restart('a restart keeps accounts, history and resume tokens; a resume catches up on what was missed', async () => {
  const dir = await tempDir();
  let relay = await testRelay(dir.path);
  const ann = await WireClient.session(relay.port, 'ann');
  const session = ann.received.find((m) => m.t === 'session');
  const token = session?.t === 'session' ? session.token : '';
  await ann.request({ t: 'create', id: 'c', room: 'keep' });
  const ack = await ann.request({ t: 'say', id: 'm1', text: 'before restart' });
  const seq = ack.t === 'ack' ? ack.seq : 0;
  await relay.close();
  await ann.whenClosed();

  relay = await testRelay(dir.path);
  const bob = await WireClient.session(relay.port, 'bob');
  await bob.request({ t: 'create', id: 'c', room: 'keep' });
  for (let i = 0; i < 70; i++) await bob.request({ t: 'say', id: `b${i}`, text: `missed ${i}` });

  const back = await WireClient.open(relay.port);
  await back.hello();
  const joinedNext = back.next('joined');
  const resumed = await back.request({ t: 'resume', id: 'r', user: 'ann', token, proof: await back.resumeProof('ann'), room: 'keep', since: seq });
  assert.is(resumed.t === 'session' && resumed.resumed, true);
  const joined = await joinedNext;
  assert.is(joined.room, 'keep');
  assert.is(joined.history.length, 70);
  assert.is(joined.history[0].text, 'missed 0');
  assert.is(joined.history[69].text, 'missed 69');

  const login = await WireClient.session(relay.port, 'ann', 'correct horse', false);
  login.close();
  back.close();
  bob.close();
  await relay.close();
  await dir.remove();
});

restart('a client id is acknowledged with its first seq after a restart, whatever the resent flag says', async () => {
  const dir = await tempDir();
  const fast = { limits: { messagesPerSecond: 10_000, messageBurst: 10_000 } };
  let relay = await testRelay(dir.path, fast);
  const ann = await WireClient.session(relay.port, 'ann');
  await ann.request({ t: 'create', id: 'c', room: 'once' });
  const first = await ann.request({ t: 'say', id: 'only-once', text: 'hello' });
  for (let i = 0; i < 1100; i++) await ann.request({ t: 'say', id: `fill${i}`, text: 'filler' });
  const older = await ann.request({ t: 'say', id: 'only-once', text: 'hello' });
  assert.equal(older, first);
  ann.close();
  await relay.close();

  relay = await testRelay(dir.path, fast);
  const again = await WireClient.session(relay.port, 'ann', 'correct horse', false);
  await again.request({ t: 'create', id: 'c', room: 'once' });
  const retried = await again.request({ t: 'say', id: 'only-once', text: 'hello' });
  assert.equal(retried, first);
  const page = await again.request({ t: 'history', id: 'h', limit: 500 });
  assert.ok(page.t === 'history');
  if (page.t === 'history') assert.is(page.messages.filter((m) => m.id === 'only-once').length, 0, 'only the first copy, older than this page');
  const all = await again.request({ t: 'history', id: 'h2', before: 2, limit: 5 });
  assert.ok(all.t === 'history' && all.messages.length === 1 && all.messages[0].id === 'only-once');
  again.close();
  await relay.close();
  await dir.remove();
});

restart.run();

const keys = suite('relay key directory');

async function helloWithChallenge(port: number): Promise<{ client: WireClient; challenge: Uint8Array }> {
  const client = await WireClient.open(port);
  client.send({ t: 'hello', v: 1 });
  const welcome = await client.next('welcome');
  return { client, challenge: boundChallenge(welcome.challenge, client.socket) };
}

keys('register uploads signed keys with a proof; others fetch them; a bad proof or bundle is refused', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path);
  const annId = await generateIdentity();
  const { client: ann, challenge } = await helloWithChallenge(relay.port);
  const registered = await ann.request({
    t: 'register', id: 'r', user: 'ann', password: 'correct horse',
    keys: await publicBundle(annId, 'ann'), proof: await signLoginChallenge(annId, 'ann', challenge),
  });
  assert.is(registered.t, 'session');

  const bob = await WireClient.session(relay.port, 'bob');
  const fetched = await bob.request({ t: 'keys', id: 'k', user: 'ANN' });
  assert.equal(fetched.t === 'keys' && fetched.keys, await publicBundle(annId, 'ann'));
  assert.is(errorCodeOf(await bob.request({ t: 'keys', id: 'k2', user: 'nobody' })), 'E_NO_SUCH_USER');
  const bobKeys = await ann.request({ t: 'keys', id: 'k3', user: 'bob' });
  assert.equal(bobKeys.t === 'keys' && bobKeys.keys, await publicBundle(bob.identity!, 'bob'));

  // A proof made for another connection's challenge does not log in.
  const other = await helloWithChallenge(relay.port);
  const replayed = await other.client.request({
    t: 'login', id: 'l', user: 'ann', password: 'correct horse',
    keys: await publicBundle(annId, 'ann'), proof: await signLoginChallenge(annId, 'ann', challenge),
  });
  assert.is(errorCodeOf(replayed), 'E_AUTH');
  // Keys signed for another name are refused.
  const third = await helloWithChallenge(relay.port);
  const wrongName = await third.client.request({
    t: 'register', id: 'r2', user: 'cat', password: 'correct horse',
    keys: await publicBundle(annId, 'ann'), proof: await signLoginChallenge(annId, 'cat', third.challenge),
  });
  assert.is(errorCodeOf(wrongName), 'E_BAD_KEYS');

  // A new device's keys replace the old ones at login (contacts then see a key change).
  const newId = await generateIdentity();
  const fourth = await helloWithChallenge(relay.port);
  const relogin = await fourth.client.request({
    t: 'login', id: 'l2', user: 'ann', password: 'correct horse',
    keys: await publicBundle(newId, 'ann'), proof: await signLoginChallenge(newId, 'ann', fourth.challenge),
  });
  assert.is(relogin.t, 'session');
  const refetched = await bob.request({ t: 'keys', id: 'k4', user: 'ann' });
  assert.equal(refetched.t === 'keys' && refetched.keys, await publicBundle(newId, 'ann'));

  for (const client of [ann, bob, other.client, third.client, fourth.client]) client.close();
  await relay.close();
  await dir.remove();
});

keys('a resume needs the login proof of the stored keys; register and login without keys are refused', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path);
  const ann = await WireClient.session(relay.port, 'ann');
  const session = ann.received.find((m) => m.t === 'session');
  const token = session?.t === 'session' ? session.token : '';
  ann.close();
  await ann.whenClosed();

  const bare = await WireClient.open(relay.port);
  await bare.hello();
  assert.is(errorCodeOf(await bare.request({ t: 'resume', id: 'r1', user: 'ann', token })), 'E_BAD_TOKEN', 'no proof');
  assert.is(errorCodeOf(await bare.request({ t: 'resume', id: 'r2', user: 'ann', token, proof: await bare.resumeProof('ann', await generateIdentity()) })), 'E_BAD_TOKEN', 'another key');
  bare.send({ t: 'login', id: 'l1', user: 'ann', password: 'correct horse' } as never);
  assert.is(errorCodeOf(await bare.waitFor((m) => m.t === 'error' && m.re === 'l1')), 'E_PROTOCOL');

  const back = await WireClient.open(relay.port);
  await back.hello();
  const resumed = await back.request({ t: 'resume', id: 'r3', user: 'ann', token, proof: await back.resumeProof('ann') });
  assert.is(resumed.t, 'session');

  for (const client of [bare, back]) client.close();
  await relay.close();
  await dir.remove();
});

keys.run();

const listen = suite('relay listen failure');

listen('a taken port is reported with E_ADDRESS_IN_USE and leaves the data folder usable', async () => {
  const dir = await tempDir();
  const first = await testRelay(dir.path);
  const other = await tempDir();
  let code: string | undefined;
  try {
    await testRelay(other.path, { port: first.port });
  } catch (error) {
    code = (error as { code?: string }).code;
  }
  assert.is(code, 'E_ADDRESS_IN_USE');
  const retry = await testRelay(other.path);
  await retry.close();
  await first.close();
  await dir.remove();
  await other.remove();
});

listen.run();

const held = suite('relay holds sealed messages briefly');

held('a whisper to someone whose connection just dropped is held and delivered when they resume', async () => {
  const dir = await tempDir();
  // No presence grace: the leave shows when the relay noticed the drop.
  const relay = await testRelay(dir.path, { limits: { sealedHoldMs: 60_000, presenceGraceMs: 0 } });
  const ann = await WireClient.session(relay.port, 'ann');
  const bob = await WireClient.session(relay.port, 'bob');
  const session = bob.received.find((m) => m.t === 'session');
  const gone = ann.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'leave');
  bob.close();
  await gone;
  const queued = await ann.request({ t: 'whisper', id: 'w1', to: 'bob', body: 'opaque-ciphertext' });
  assert.equal(queued, { t: 'ok', re: 'w1', queued: true });

  const back = await WireClient.open(relay.port);
  await back.hello();
  const whisper = back.next('whisper');
  back.send({ t: 'resume', id: 'r', user: 'bob', token: session?.t === 'session' ? session.token : '', proof: await back.resumeProof('bob') });
  const delivered = await whisper;
  assert.is(delivered.from, 'ann');
  assert.is(delivered.body, 'opaque-ciphertext');

  // After /exit nothing is held: the sender hears at once that the user is gone.
  await back.request({ t: 'exit', id: 'x' });
  await back.whenClosed();
  const refused = await ann.request({ t: 'whisper', id: 'w2', to: 'bob', body: 'x' });
  assert.is(errorCodeOf(refused), 'E_NOT_IN_ROOM');
  ann.close();
  await relay.close();
  await dir.remove();
});

held('nothing is held past the hold time', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path, { limits: { sealedHoldMs: 1, presenceGraceMs: 0 } });
  const ann = await WireClient.session(relay.port, 'ann');
  const bob = await WireClient.session(relay.port, 'bob');
  const gone = ann.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'leave');
  bob.close();
  await gone;
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.is(errorCodeOf(await ann.request({ t: 'whisper', id: 'w', to: 'bob', body: 'x' })), 'E_NOT_IN_ROOM');
  ann.close();
  await relay.close();
  await dir.remove();
});

held.run();

const grace = suite('relay presence grace after a dropped connection');

/** A session in `room` (created by the first caller), its token, and the relay's answer to /join. */
async function inRoom(port: number, user: string, room: string, create: boolean): Promise<{ client: WireClient; token: string }> {
  const client = await WireClient.session(port, user);
  const session = client.received.find((m) => m.t === 'session');
  await client.request(create ? { t: 'create', id: 'c', room } : { t: 'join', id: 'j', room });
  return { client, token: session?.t === 'session' ? session.token : '' };
}

async function resumeInto(port: number, user: string, token: string, room: string): Promise<{ client: WireClient; users: string[] }> {
  const client = await WireClient.open(port);
  await client.hello();
  const joined = client.next('joined');
  client.send({ t: 'resume', id: 'r', user, token, room, proof: await client.resumeProof(user) });
  return { client, users: (await joined).users };
}

/** Waits (bounded) until the relay has seen connections close down to `count`. */
function untilConnections(relay: RunningRelay, count: number): Promise<void> {
  return eventually(() => relay.connectionCount <= count, `the relay down to ${count} connections`, 5_000);
}

const presenceOf = (client: WireClient, user: string) =>
  client.received.filter((m) => m.t === 'presence' && m.user === user).map((m) => (m.t === 'presence' ? m.event : ''));

grace('a resume within the grace is silent: the room hears neither leave nor join, and lists the user throughout', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path, { limits: { presenceGraceMs: 60_000 } });
  const ann = await inRoom(relay.port, 'ann', 'dev', true);
  const bob = await inRoom(relay.port, 'bob', 'dev', false);
  bob.client.close();
  await untilConnections(relay, 1);
  const listed = await ann.client.request({ t: 'users', id: 'u1' });
  assert.equal(listed.t === 'users' && listed.users, ['ann', 'bob']);
  const watcher = await WireClient.session(relay.port, 'cat');
  const rooms = await watcher.request({ t: 'rooms', id: 'r1' });
  assert.equal(rooms.t === 'rooms' && rooms.rooms, [{ name: 'dev', members: 2 }]);
  const back = await resumeInto(relay.port, 'bob', bob.token, 'dev');
  assert.equal(back.users, ['ann', 'bob']);
  // A message after the resume reaches bob, and ann saw no presence of bob beyond his first join.
  const seen = back.client.waitFor((m) => m.t === 'message' && m.text === 'welcome back');
  await ann.client.request({ t: 'say', id: 's1', text: 'welcome back' });
  await seen;
  assert.equal(presenceOf(ann.client, 'bob'), ['join']);
  for (const client of [ann.client, back.client, watcher]) client.close();
  await relay.close();
  await dir.remove();
});

grace('when the grace ends without a resume the room hears the leave, and an empty chatroom ends then', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path, { limits: { presenceGraceMs: 150 } });
  const ann = await inRoom(relay.port, 'ann', 'dev', true);
  const bob = await inRoom(relay.port, 'bob', 'dev', false);
  const left = ann.client.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'leave');
  bob.client.close();
  await left;
  const listed = await ann.client.request({ t: 'users', id: 'u1' });
  assert.equal(listed.t === 'users' && listed.users, ['ann']);
  // The last member drops: the room lives on through the grace, then ends.
  ann.client.close();
  await untilConnections(relay, 0);
  const watcher = await WireClient.session(relay.port, 'cat');
  const during = await watcher.request({ t: 'rooms', id: 'r1' });
  assert.equal(during.t === 'rooms' && during.rooms, [{ name: 'dev', members: 1 }]);
  // The room's end announces nothing to a watcher in global: ask until the grace has run out.
  let asked = 1;
  const roomsNow = () => watcher.request({ t: 'rooms', id: `r${++asked}` });
  await eventually(async () => {
    const now = await roomsNow();
    return now.t === 'rooms' && now.rooms.length === 0;
  }, 'the empty chatroom ended after its grace', 5_000, 50);
  const after = await roomsNow();
  assert.equal(after.t === 'rooms' && after.rooms, []);
  watcher.close();
  await relay.close();
  await dir.remove();
});

grace('a fresh login after a drop announces the leave from the old room and the join in global', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path, { limits: { presenceGraceMs: 60_000 } });
  const ann = await inRoom(relay.port, 'ann', 'dev', true);
  const bob = await inRoom(relay.port, 'bob', 'dev', false);
  const watcher = await WireClient.session(relay.port, 'cat');
  bob.client.close();
  await untilConnections(relay, 2);
  const left = ann.client.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'leave');
  const joinedGlobal = watcher.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'join');
  const again = await WireClient.session(relay.port, 'bob', undefined, false);
  await Promise.all([left, joinedGlobal]);
  for (const client of [ann.client, watcher, again]) client.close();
  await relay.close();
  await dir.remove();
});

grace('a fresh login into the room the user dropped from is announced (it may be a new device with new keys)', async () => {
  const dir = await tempDir();
  const relay = await testRelay(dir.path, { limits: { presenceGraceMs: 60_000 } });
  const ann = await WireClient.session(relay.port, 'ann');
  const bob = await WireClient.session(relay.port, 'bob');
  bob.close();
  await untilConnections(relay, 1);
  const joined = ann.waitFor((m) => m.t === 'presence' && m.user === 'bob' && m.event === 'join');
  const again = await WireClient.session(relay.port, 'bob', undefined, false);
  await joined;
  assert.equal(presenceOf(ann, 'bob'), ['join', 'join'], 'no leave in between');
  for (const client of [ann, again]) client.close();
  await relay.close();
  await dir.remove();
});

grace.run();
