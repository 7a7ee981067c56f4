import fs from 'node:fs/promises';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../shared/errors.js';
import { ChatClient, type ChatClientOptions } from '../../../../tui/core/client.js';
import { plainSuite } from '../../../helpers/core-helpers.js';
import { testRelay, withRelayPerTest, type RelayTestContext } from '../../../helpers/relay.js';
import { Recorder } from '../../../helpers/recorder.js';
import { failure } from '../../../helpers/errors.js';

/**
 * The client core against the real relay (port 0, LevelDB in a temp folder), several real
 * clients per test. Waits are bounded by a generous failure timeout, never asserted on.
 */
const PASSWORD = 'correct horse battery';

type Ctx = RelayTestContext;

const spec = suite<Ctx>('client core against the relay');

/** Every test reports a ChatError readably (see test/helpers/core-helpers.ts). */
const it = plainSuite(spec);
withRelayPerTest(spec, 'securechat-core-');

function makeClient(ctx: Ctx, user: string, options: Partial<ChatClientOptions> = {}): { client: ChatClient; rec: Recorder } {
  const client = new ChatClient({
    host: '127.0.0.1',
    port: ctx.relay.port,
    user,
    password: PASSWORD,
    register: true,
    trust: { fingerprint: ctx.relay.fingerprint },
    configDir: path.join(ctx.dir.path, 'config'),
    dataDir: path.join(ctx.dir.path, 'data'),
    backoff: { baseMs: 20, maxMs: 200 },
    ...options,
  });
  ctx.clients.push(client);
  return { client, rec: new Recorder(client) };
}

async function online(ctx: Ctx, user: string, options: Partial<ChatClientOptions> = {}): Promise<{ client: ChatClient; rec: Recorder }> {
  const made = makeClient(ctx, user, options);
  await made.client.connect();
  return made;
}

it('register, then log in again; connected and joined say where we are', async (ctx) => {
  const { client: ann, rec } = await online(ctx, 'ann');
  assert.is(ann.state, 'online');
  assert.is(ann.room, 'global');
  assert.equal(ann.roomUsers, ['ann']);
  assert.is(ann.fingerprint, ctx.relay.fingerprint);
  assert.equal(rec.events.map((e) => e.type).filter((t) => t !== 'rtt'), ['connected', 'joined']);
  const connected = rec.of('connected')[0];
  assert.equal(connected, {
    type: 'connected',
    server: `127.0.0.1:${ctx.relay.port}`,
    user: 'ann',
    fingerprint: ctx.relay.fingerprint,
    resumed: false,
    registration: 'open',
  });
  assert.is(ann.registration, 'open');
  await ann.close();
  assert.is(ann.state, 'closed');

  const { client: again } = await online(ctx, 'ANN', { register: false });
  assert.is(again.user, 'ann', 'the relay spells the name');
});

it('login failures: wrong password and unknown user both E_AUTH; taken name, weak password, bad name', async (ctx) => {
  await online(ctx, 'ann');
  assert.is(await failure(makeClient(ctx, 'ann', { register: false, password: 'wrong password' }).client.connect()), 'E_AUTH');
  assert.is(await failure(makeClient(ctx, 'nobody', { register: false }).client.connect()), 'E_AUTH');
  assert.is(await failure(makeClient(ctx, 'ann').client.connect()), 'E_USER_EXISTS');
  assert.is(await failure(makeClient(ctx, 'cat', { password: 'short' }).client.connect()), 'E_WEAK_PASSWORD');
  assert.is(await failure(makeClient(ctx, 'dan', { password: undefined }).client.connect()), 'E_USAGE');
  assert.throws(() => new ChatClient({ user: 'bad name!' }), (e: ChatError) => e.code === 'E_BAD_NAME');
  const failed = makeClient(ctx, 'nobody2', { register: false }).client;
  await failure(failed.connect());
  assert.is(failed.state, 'idle', 'a failed first connect can be retried');
});

it('a relay with registration closed refuses new accounts', async (ctx) => {
  await ctx.relay.close();
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), { registration: 'closed' });
  assert.is(await failure(makeClient(ctx, 'eve').client.connect()), 'E_REGISTRATION_CLOSED');
});

it('an unpinned self-signed relay is refused (E_UNTRUSTED); --tofu records it; a wrong pin is E_FINGERPRINT_MISMATCH', async (ctx) => {
  const untrusted = makeClient(ctx, 'ann', { trust: {} }).client;
  const error = await untrusted.connect().catch((e: ChatError) => e);
  assert.is((error as ChatError).code, 'E_UNTRUSTED');
  assert.is((error as ChatError).details.fingerprint, ctx.relay.fingerprint);

  const { client, rec } = makeClient(ctx, 'ann', { trust: { tofu: true } });
  await client.connect();
  const trusted = rec.of('trust-new')[0];
  assert.equal(trusted, {
    type: 'trust-new',
    server: `127.0.0.1:${ctx.relay.port}`,
    fingerprint: ctx.relay.fingerprint,
    recorded: true,
    file: path.join(ctx.dir.path, 'config', 'known_relays'),
  });
  assert.is(await fs.readFile(trusted.file!, 'utf8'), `127.0.0.1:${ctx.relay.port} ${ctx.relay.fingerprint}\n`);
  const wrongPin = 'sha256:' + '0'.repeat(64);
  assert.is(await failure(makeClient(ctx, 'bob', { trust: { fingerprint: wrongPin } }).client.connect()), 'E_FINGERPRINT_MISMATCH');
});

it('room messages: others get them, the sender gets an ack and its own message once', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  const { rec: bobRec } = await online(ctx, 'bob');
  await annRec.waitFor('presence', (p) => p.user === 'bob' && p.event === 'join');
  assert.equal(ann.roomUsers.sort(), ['ann', 'bob']);

  const ack = await ann.say('hello bob');
  assert.is(ack.room, 'global');
  const heard = await bobRec.waitFor('message', (m) => m.text === 'hello bob');
  assert.equal(heard, { type: 'message', room: 'global', seq: ack.seq, from: 'ann', text: 'hello bob', id: ack.id, time: ack.time });
  assert.equal(annRec.of('ack'), [{ type: 'ack', ...ack }]);
  assert.equal(annRec.of('message'), [{ type: 'message', room: 'global', seq: ack.seq, from: 'ann', text: 'hello bob', id: ack.id, time: ack.time, own: true }]);
  assert.is(ann.unackedCount, 0);

  assert.is(await failure(ann.say('x'.repeat(5000))), 'E_TOO_LARGE');
  assert.is(await failure(ann.say('   ')), 'E_USAGE');
});

it('every command and its error codes', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob');
  const { client: cat } = await online(ctx, 'cat');

  // from the global room
  assert.equal((await ann.users()).sort(), ['ann', 'bob', 'cat']);
  assert.equal(await ann.rooms(), []);
  assert.is(await failure(ann.leave()), 'E_IN_GLOBAL');
  assert.is(await failure(ann.join('nowhere')), 'E_NO_SUCH_ROOM');
  assert.is(await failure(ann.join('bad/name')), 'E_BAD_NAME');
  assert.is(await failure(ann.whisper('ann', 'me')), 'E_SELF');
  assert.is(await failure(ann.whisper('zed', 'hi')), 'E_NO_SUCH_USER');

  // a chatroom
  const created = await ann.create('Lobby');
  assert.equal(created, { room: 'Lobby', users: ['ann'] });
  assert.is(ann.room, 'Lobby');
  assert.equal(annRec.of('left').map((e) => e.room), ['global']);
  assert.is(await failure(bob.create('lobby')), 'E_ROOM_EXISTS');
  assert.is(await failure(ann.create('other')), 'E_NOT_IN_GLOBAL');
  assert.is(await failure(ann.join('other')), 'E_NOT_IN_GLOBAL');
  assert.is(await failure(ann.rooms()), 'E_NOT_IN_GLOBAL');
  assert.equal(await bob.rooms(), [{ name: 'Lobby', members: 1 }]);
  assert.equal(bobRec.of('rooms').at(-1), { type: 'rooms', rooms: [{ name: 'Lobby', members: 1 }] });
  assert.is(await failure(ann.whisper('cat', 'you are elsewhere')), 'E_NOT_IN_ROOM');

  await bob.join('lobby');
  await annRec.waitFor('presence', (p) => p.user === 'bob' && p.event === 'join' && p.room === 'Lobby');
  assert.equal((await ann.users()).sort(), ['ann', 'bob']);
  assert.equal(annRec.of('users').at(-1)?.room, 'Lobby');

  await ann.whisper('bob', 'psst');
  const whisper = await bobRec.waitFor('whisper');
  assert.equal([whisper.from, whisper.to, whisper.text], ['ann', 'bob', 'psst']);
  assert.ok(annRec.of('whisper').some((w) => w.own === true && w.to === 'bob' && w.text === 'psst'));

  const rtt = await ann.ping();
  assert.ok(rtt >= 0);
  assert.is(ann.rttMs, rtt);
  assert.is(annRec.of('rtt').at(-1)?.ms, rtt);

  await bob.leave();
  assert.is(bob.room, 'global');
  await annRec.waitFor('presence', (p) => p.user === 'bob' && p.event === 'leave');
  assert.equal(ann.roomUsers, ['ann']);
  await cat.leave().catch(() => {});
});

it('commands through run(): slash lines and text; failures become error events', async (ctx) => {
  const { client: ann, rec } = await online(ctx, 'ann');
  const { rec: bobRec } = await online(ctx, 'bob');
  await ann.run('/create den');
  assert.is(ann.room, 'den');
  await ann.run('/create again');
  await ann.run('/history x');
  await ann.run('/nope');
  await ann.run('hello den');
  await ann.run('/leave');
  await ann.run('/rooms');
  const errors = rec.of('error').map((e) => [e.code, e.command]);
  assert.equal(errors, [
    ['E_NOT_IN_GLOBAL', 'create'],
    ['E_USAGE', 'history'],
    ['E_UNKNOWN_COMMAND', 'nope'],
  ]);
  assert.ok(rec.of('ack').length === 1);
  assert.equal(rec.of('rooms').at(-1)?.rooms, []);
  assert.equal(bobRec.texts(), [], 'bob was not in den');
});

it('history on join, then /history pages back', async (ctx) => {
  const { client: ann } = await online(ctx, 'ann');
  await ann.create('talk');
  const sent = [];
  for (let i = 1; i <= 60; i += 1) sent.push(ann.say(`line ${i}`));
  await Promise.all(sent);
  const { client: bob, rec } = await online(ctx, 'bob');
  await bob.join('talk');
  const joined = rec.of('joined').at(-1)!;
  assert.is(joined.room, 'talk');
  assert.is(joined.history.length, 50);
  assert.is(joined.history[0].text, 'line 11');
  assert.is(joined.history[49].text, 'line 60');
  assert.is(joined.hasMore, true);
  assert.is(joined.rejoined, false);

  const page = await bob.history(4);
  assert.equal(page.map((m) => m.text), ['line 7', 'line 8', 'line 9', 'line 10']);
  assert.equal(rec.of('history').at(-1)?.hasMore, true);
  const rest = await bob.history();
  assert.equal(rest.map((m) => m.text), ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
  assert.equal(rec.of('history').at(-1)?.hasMore, false);
  assert.equal(await bob.history(), []);
  assert.is(await failure(bob.history(0)), 'E_USAGE');

  // In a room entered empty, /history pages back from the first message seen live.
  await ann.leave();
  await ann.create('fresh');
  const { client: cat } = await online(ctx, 'cat');
  await cat.join('fresh');
  for (let i = 1; i <= 3; i += 1) await cat.say(`new ${i}`);
  assert.equal(await cat.history(), []);
  await ann.say('ann here');
  assert.equal(await ann.history(2), [], 'nothing older than what ann saw live');
});

it('cut off mid-conversation: reconnects, resumes, nothing lost, nothing twice, both ways', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  await ann.create('room1');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob', { backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
  await bob.join('room1');
  await annRec.waitFor('presence', (p) => p.user === 'bob');

  for (let i = 1; i <= 5; i += 1) await ann.say(`before ${i}`);
  await bobRec.waitFor('message', (m) => m.text === 'before 5');

  bob.dropConnection();
  const disconnected = await bobRec.waitFor('disconnected');
  assert.is(disconnected.willReconnect, true);
  await bobRec.waitFor('reconnecting');
  assert.is(bob.state, 'reconnecting');
  assert.is(await failure(bob.users()), 'E_CLOSED');

  // While bob is away: ann talks on, bob types (queued, sent on return).
  const away = [];
  for (let i = 1; i <= 8; i += 1) away.push(ann.say(`while away ${i}`));
  const queued = [bob.say('bob typed 1'), bob.say('bob typed 2')];
  await Promise.all(away);
  assert.is(bob.unackedCount, 2);

  bob.reconnectNow();
  const back = await bobRec.waitFor('connected', (c) => c.resumed);
  assert.is(back.resumed, true);
  await Promise.all(queued);
  for (let i = 1; i <= 3; i += 1) await ann.say(`after ${i}`);
  await bobRec.waitFor('message', (m) => m.text === 'after 3');
  await annRec.waitFor('message', (m) => m.text === 'bob typed 2');

  const expected = [...[1, 2, 3, 4, 5].map((i) => `before ${i}`), ...[1, 2, 3, 4, 5, 6, 7, 8].map((i) => `while away ${i}`), 'after 1', 'after 2', 'after 3'];
  assert.equal(bobRec.texts(), expected);
  assert.equal(annRec.texts(), ['bob typed 1', 'bob typed 2']);
  const rejoined = bobRec.of('joined').at(-1)!;
  assert.is(rejoined.rejoined, true);
  assert.is(rejoined.room, 'room1');
  assert.equal(bobRec.of('message').filter((m) => m.own).map((m) => m.text), ['bob typed 1', 'bob typed 2']);
  assert.is(bob.room, 'room1');
  // sequence ids strictly increase: no duplicate, no reordering
  const seqs = bobRec.of('message').map((m) => m.seq);
  assert.equal(seqs, [...seqs].sort((a, b) => a - b));
  assert.is(new Set(seqs).size, seqs.length);
});

it('an unacknowledged message is resent with its id and stored once', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob', { backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
  // Bob stops reading: the relay stores his message, but its ack waits unread in the socket.
  const socket = (bob as unknown as { conn: { socket: import('node:tls').TLSSocket } }).conn.socket;
  socket.pause();
  const said = bob.say('exactly once');
  await annRec.waitFor('message', (m) => m.text === 'exactly once');
  bob.dropConnection();
  await bobRec.waitFor('reconnecting');
  assert.is(bob.unackedCount, 1);
  bob.reconnectNow();
  const ack = await said;
  await ann.say('later');
  await bobRec.waitFor('message', (m) => m.text === 'later');
  assert.equal(annRec.texts(), ['exactly once']);
  assert.equal(bobRec.of('ack').map((a) => a.seq), [ack.seq]);
  assert.equal(bobRec.of('message').filter((m) => m.own).map((m) => m.text), ['exactly once']);

  // And a message cut off before the relay saw it is sent on return.
  const lost = bob.say('sent late');
  bob.dropConnection();
  await bobRec.waitFor('reconnecting', () => true, bobRec.mark());
  bob.reconnectNow();
  await lost;
  await annRec.waitFor('message', (m) => m.text === 'sent late');
  assert.equal(annRec.texts(), ['exactly once', 'sent late']);
});

it('a long absence: more missed than one page is fetched in full', async (ctx) => {
  await ctx.relay.close();
  const limits = { historyOnJoin: 3, historyMaxPage: 4 };
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), { limits });
  const { client: ann } = await online(ctx, 'ann', { limits });
  const { client: bob, rec: bobRec } = await online(ctx, 'bob', { limits, backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
  await ann.say('seen 1');
  await bobRec.waitFor('message', (m) => m.text === 'seen 1');
  bob.dropConnection();
  await bobRec.waitFor('reconnecting');
  for (let i = 1; i <= 23; i += 1) await ann.say(`missed ${i}`);
  bob.reconnectNow();
  await bobRec.waitFor('connected', (c) => c.resumed);
  await ann.say('live');
  await bobRec.waitFor('message', (m) => m.text === 'live');
  assert.equal(bobRec.texts(), ['seen 1', ...Array.from({ length: 23 }, (_, i) => `missed ${i + 1}`), 'live']);
});

it('a refused resume token falls back to the password and walks back into the chatroom', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  await ann.create('den');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob', { backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
  await bob.join('den');
  await ann.say('one');
  await bobRec.waitFor('message', (m) => m.text === 'one');
  (bob as unknown as { token: string }).token = 'not-a-valid-token';
  bob.dropConnection();
  await bobRec.waitFor('reconnecting');
  await ann.say('two');
  bob.reconnectNow();
  const back = await bobRec.waitFor('connected', () => true, 2);
  assert.is(back.resumed, false);
  await bobRec.waitFor('message', (m) => m.text === 'two');
  assert.is(bob.room, 'den');
  await bob.say('back');
  await annRec.waitFor('message', (m) => m.text === 'back');
  assert.equal(bobRec.texts(), ['one', 'two']);
});

it('the relay restarts on the same data: clients resume; accounts and history are kept', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob');
  await ann.create('keep');
  await bob.join('keep');
  await ann.say('before restart');
  await bobRec.waitFor('message', (m) => m.text === 'before restart');

  const port = ctx.relay.port;
  await ctx.relay.close();
  const bye = await annRec.waitFor('bye');
  assert.is(bye.code, 'E_SHUTDOWN');
  assert.is((await annRec.waitFor('disconnected')).willReconnect, true);
  const queued = ann.say('said while the relay was down');
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), { port });

  assert.is((await annRec.waitFor('connected', () => true, 2)).resumed, true);
  assert.is((await bobRec.waitFor('connected', () => true, 2)).resumed, true);
  await queued;
  await bobRec.waitFor('message', (m) => m.text === 'said while the relay was down');
  assert.is(ann.room, 'keep');
  assert.is(bob.room, 'keep');

  // A new login sees the old account and the history.
  await ann.exit();
  const { client: again, rec: againRec } = await online(ctx, 'ann', { register: false });
  await again.join('keep');
  assert.equal(againRec.of('joined').at(-1)!.history.map((m) => m.text), ['before restart', 'said while the relay was down']);
  assert.ok(againRec.of('joined').at(-1)!.history.every((m) => m.own === true));
});

it('exit: says goodbye after everything is acknowledged and does not reconnect', async (ctx) => {
  const { client: ann, rec } = await online(ctx, 'ann');
  const { rec: bobRec } = await online(ctx, 'bob');
  const sent = [ann.say('a'), ann.say('b'), ann.say('c')];
  await ann.exit();
  assert.is(ann.state, 'closed');
  assert.is(ann.unackedCount, 0);
  await Promise.all(sent);
  const last = rec.events.at(-1)!;
  assert.is(last.type, 'disconnected');
  assert.is(last.type === 'disconnected' && last.willReconnect, false);
  assert.is(rec.of('reconnecting').length, 0);
  await bobRec.waitFor('presence', (p) => p.user === 'ann' && p.event === 'leave');
  assert.equal(bobRec.texts(), ['a', 'b', 'c']);
  assert.is(await failure(ann.say('too late')), 'E_CLOSED');
});

it('a second login of the same account replaces the first, which stops (E_REPLACED)', async (ctx) => {
  const { client: first, rec } = await online(ctx, 'ann');
  await online(ctx, 'ann', { register: false });
  const bye = await rec.waitFor('bye');
  assert.is(bye.code, 'E_REPLACED');
  const gone = await rec.waitFor('disconnected');
  assert.is(gone.willReconnect, false);
  assert.is(gone.code, 'E_REPLACED');
  assert.is(first.state, 'closed');
  assert.is(rec.of('reconnecting').length, 0);
});

it('the outbound queue is bounded while disconnected (E_FLOOD)', async (ctx) => {
  const { client: bob, rec } = await online(ctx, 'bob', { maxUnackedMessages: 2, backoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 } });
  bob.dropConnection();
  await rec.waitFor('reconnecting');
  const a = bob.say('1');
  const b = bob.say('2');
  assert.is(await failure(bob.say('3')), 'E_FLOOD');
  await bob.close();
  assert.is(await failure(a), 'E_CLOSED');
  assert.is(await failure(b), 'E_CLOSED');
});

it('messages beyond the flood limit are paced, not refused: all stored, in order', async (ctx) => {
  await ctx.relay.close();
  const limits = { messagesPerSecond: 40, messageBurst: 5 };
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), { limits });
  const { client: ann, rec: annRec } = await online(ctx, 'ann', { limits });
  const { rec: bobRec } = await online(ctx, 'bob', { limits });
  const lines = Array.from({ length: 40 }, (_, i) => `burst ${i + 1}`);
  await Promise.all(lines.map((line) => ann.say(line)));
  await bobRec.waitFor('message', (m) => m.text === 'burst 40');
  assert.equal(bobRec.texts(), lines);
  assert.equal(annRec.of('error'), []);
});

it('heartbeat: an idle client stays connected through the relay idle timeout and measures rtt', async (ctx) => {
  await ctx.relay.close();
  const limits = { heartbeatMs: 60, idleTimeoutMs: 400 };
  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), { limits });
  const { client, rec } = await online(ctx, 'ann', { limits });
  for (let i = 0; i < 8; i += 1) await rec.waitFor('rtt', () => true, rec.mark());
  assert.is(client.state, 'online');
  assert.is(rec.of('disconnected').length, 0);
  assert.ok(client.rttMs !== null);
});

it('rtt is measured right after connecting, not only after the heartbeat interval', async (ctx) => {
  // The default heartbeat is 20 s; the rtt must come from the connect itself.
  const { client, rec } = await online(ctx, 'ann');
  await rec.waitFor('rtt');
  assert.ok(client.rttMs !== null && client.rttMs >= 0);
});

it('connect() works again after the client gave up: it resumes and goes back to its room', async (ctx) => {
  const { client, rec } = await online(ctx, 'ann', { maxReconnectAttempts: 1, backoff: { baseMs: 10, maxMs: 20 } });
  await client.create('den');
  const port = ctx.relay.port;
  await ctx.relay.close();
  await rec.waitFor('disconnected', (d) => !d.willReconnect);
  assert.is(client.state, 'closed');
  assert.is(await failure(client.say('offline')), 'E_CLOSED');

  ctx.relay = await testRelay(path.join(ctx.dir.path, 'relay'), { port });
  const mark = rec.mark();
  await client.connect();
  assert.is(client.state, 'online');
  assert.is(client.room, 'den');
  const connected = await rec.waitFor('connected', () => true, mark);
  assert.is(connected.resumed, true);
  await rec.waitFor('rtt', () => true, mark);
  await client.say('back again');
  assert.is(await failure(client.connect()), 'E_USAGE', 'not while online');

  // After close() too; a closed client that registered logs in (never registers twice).
  await client.close();
  await client.connect();
  assert.is(client.state, 'online');
});

it('without reconnect, a lost connection stops the client', async (ctx) => {
  const { client, rec } = await online(ctx, 'ann', { reconnect: false });
  const pending = client.say('maybe');
  client.dropConnection();
  const gone = await rec.waitFor('disconnected');
  assert.is(gone.willReconnect, false);
  assert.is(client.state, 'closed');
  assert.is(await failure(pending), 'E_CLOSED');
});

it.run();
