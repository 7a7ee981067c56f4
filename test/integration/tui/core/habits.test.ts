import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatClient, type ChatClientOptions } from '../../../../tui/core/client.js';
import { dispatchLine } from '../../../../tui/core/dispatch.js';
import { plainSuite } from '../../../helpers/core-helpers.js';
import { testClientOptions } from '../../../helpers/clients.js';
import { failure } from '../../../helpers/errors.js';
import { Recorder } from '../../../helpers/recorder.js';
import { withRelayPerTest, type RelayTestContext } from '../../../helpers/relay.js';
import { WireClient } from '../../../helpers/wire-client.js';

/**
 * Chat habits of IRC users in the client core against the real relay (port 0, LevelDB in a
 * temp folder): /away shown in /users across a reconnect; long lines sent as several messages. Waits are bounded, never asserted on.
 */
type Ctx = RelayTestContext;

const spec = suite<Ctx>('chat habits in the client core');
withRelayPerTest(spec, 'securechat-habits-');
const it = plainSuite(spec);

async function online(ctx: Ctx, user: string, options: Partial<ChatClientOptions> = {}): Promise<{ client: ChatClient; rec: Recorder }> {
  const client = new ChatClient({ ...testClientOptions(ctx, user), ...options });
  ctx.clients.push(client);
  const rec = new Recorder(client);
  await client.connect();
  return { client, rec };
}

it('/away: the room hears it, /users and a join show it, a reconnect keeps it, /back clears it; too long is E_TOO_LARGE', async (ctx) => {
  const { client: ann, rec: annRec } = await online(ctx, 'ann');
  const { client: bob, rec: bobRec } = await online(ctx, 'bob');
  await ann.create('den');
  await bob.join('den');
  await ann.away('at lunch');
  assert.equal(await bobRec.waitFor('away'), { type: 'away', room: 'den', user: 'ann', text: 'at lunch' });
  assert.equal(bob.awayUsers, { ann: 'at lunch' });
  await bob.users();
  assert.equal(bobRec.of('users').at(-1)?.away, { ann: 'at lunch' });

  // Someone joining later sees it in the room's state.
  const { client: cat, rec: catRec } = await online(ctx, 'cat');
  await cat.join('den');
  assert.equal(catRec.of('joined').at(-1)?.away, { ann: 'at lunch' });

  // A dropped connection: the relay forgets the session, the client sets it again.
  const mark = bobRec.mark();
  ann.dropConnection();
  await annRec.waitFor('reconnecting');
  ann.reconnectNow();
  await annRec.waitFor('connected', (c) => c.resumed, 2);
  await bobRec.waitFor('away', (e) => e.text === 'at lunch', mark);
  await bob.users();
  assert.equal(bobRec.of('users').at(-1)?.away, { ann: 'at lunch' });

  assert.is(await failure(ann.away('x'.repeat(201))), 'E_TOO_LARGE');
  const back = bobRec.mark();
  await ann.away();
  assert.equal(await bobRec.waitFor('away', () => true, back), { type: 'away', room: 'den', user: 'ann' });
  await bob.users();
  assert.is(bobRec.of('users').at(-1)?.away, undefined);
});

it('the relay checks an away text itself: over maxAwayBytes (UTF-8 bytes) is E_TOO_LARGE, exactly the limit is fine, blank clears', async (ctx) => {
  const wire = await WireClient.session(ctx.relay.port, 'zed');
  try {
    const code = (m: { t: string; code?: string }) => (m.t === 'error' ? m.code : m.t);
    assert.is(code(await wire.request({ t: 'away', id: 'a1', text: 'é'.repeat(101) })), 'E_TOO_LARGE', '202 bytes in 101 characters');
    assert.is(code(await wire.request({ t: 'away', id: 'a2', text: 'é'.repeat(100) })), 'ok', 'exactly 200 bytes');
    assert.is(code(await wire.request({ t: 'away', id: 'a3', text: '   ' })), 'ok');
    const users = await wire.request({ t: 'users', id: 'u1' });
    assert.ok(users.t === 'users' && users.away === undefined, 'blank cleared it');
  } finally {
    wire.close();
  }
});

it('a line longer than a message goes as several, in order, cut at spaces; a long whisper too', async (ctx) => {
  const { client: ann } = await online(ctx, 'ann');
  const { rec: bobRec } = await online(ctx, 'bob');
  const words = Array.from({ length: 1200 }, (_, i) => `w${i}`).join(' '); // 6,689 bytes: two messages
  const failures: string[] = [];
  const frontEnd = { client: ann, refused: (e: { code: string }) => failures.push(e.code), failed: (e: { code: string }) => failures.push(e.code) };
  assert.is(await dispatchLine(words, frontEnd), 'said');
  await bobRec.waitFor('message', (m) => m.text.endsWith('w1199'));
  const texts = bobRec.of('message').map((m) => m.text);
  assert.is(texts.length, 2);
  assert.ok(texts.every((t) => Buffer.byteLength(t) <= ann.maxMessageBytes));
  assert.is(texts.join(' '), words);
  assert.is(await dispatchLine(`/whisper bob ${words}`, frontEnd), 'done');
  await bobRec.waitFor('whisper', (w) => w.text.endsWith('w1199'));
  assert.is(bobRec.of('whisper').map((w) => w.text).join(' '), words);
  assert.equal(failures, []);
});

it('/ignore hides room messages, whispers and history of a user (also one without an account), persists across a restart; /unignore', async (ctx) => {
  const { client: ann } = await online(ctx, 'ann');
  const first = await online(ctx, 'bob');
  assert.equal(await first.client.ignore('Ann'), ['Ann']);
  assert.equal(await first.client.ignore('nobody_yet'), ['Ann', 'nobody_yet'], 'no account needed');
  assert.equal(first.rec.of('ignored').map((e) => e.change), ['added', 'added']);
  await ann.say('hidden one');
  await ann.whisper('bob', 'hidden whisper');
  await first.client.say('marker');
  await first.rec.waitFor('message', (m) => m.text === 'marker');
  assert.equal(first.rec.of('message').map((m) => m.text), ['marker']);
  assert.equal(first.rec.of('whisper'), []);
  await first.client.close();

  // A new run of bob's client reads the list back: ann's history is hidden too.
  const again = await online(ctx, 'bob', { register: false });
  assert.equal(again.rec.of('joined')[0].history.map((m) => m.text), ['marker']);
  await again.client.ignore();
  assert.equal(again.rec.of('ignored').at(-1), { type: 'ignored', users: ['Ann', 'nobody_yet'], change: 'list' });
  assert.is(await failure(again.client.ignore('bob')), 'E_SELF');
  await again.client.unignore('ann');
  await again.client.unignore('ann');
  assert.equal(again.rec.of('ignored').slice(-2).map((e) => e.change), ['removed', 'not-listed']);
  await ann.say('seen again');
  await again.rec.waitFor('message', (m) => m.text === 'seen again');
});

it('returnToLastRoom: a restart goes back to the chatroom of the last run on this relay (created again if it ended); after /leave it stays in global', async (ctx) => {
  const { client: ann } = await online(ctx, 'ann');
  await ann.create('den');
  const first = await online(ctx, 'bob', { returnToLastRoom: true });
  assert.is(first.client.room, 'global');
  await first.client.join('den');
  await first.client.close();
  const again = await online(ctx, 'bob', { register: false, returnToLastRoom: true });
  assert.is(again.client.room, 'den', 'back in the room of the last run');
  await again.client.close();

  // The room ended meanwhile (everyone left): it is opened again.
  await ann.leave();
  const third = await online(ctx, 'bob', { register: false, returnToLastRoom: true });
  assert.is(third.client.room, 'den');
  assert.equal(third.rec.of('error'), []);
  await third.client.leave();
  await third.client.close();
  const fourth = await online(ctx, 'bob', { register: false, returnToLastRoom: true });
  assert.is(fourth.client.room, 'global', '/leave was the last word');
  await fourth.client.close();
  // Without the option (scripts) nothing changes.
  await third.client.close();
  const script = await online(ctx, 'ann', { register: false });
  assert.is(script.client.room, 'global');
});

it('a reconnect walks back into the room by itself (no file needed)', async (ctx) => {
  const { client: ann, rec } = await online(ctx, 'ann');
  await ann.create('den');
  ann.dropConnection();
  await rec.waitFor('reconnecting');
  ann.reconnectNow();
  await rec.waitFor('connected', (c) => c.resumed, 2);
  assert.is(ann.room, 'den');
});

it.run();
