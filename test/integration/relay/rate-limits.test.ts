import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RelayMessage } from '../../../shared/messages.js';
import type { Limits } from '../../../shared/limits.js';
import { WireClient, errorCodeOf } from '../../helpers/wire-client.js';
import { closeWireRelayAfterEach, testRelay, type WireRelayContext } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';

type Ctx = WireRelayContext;
const limits = suite<Ctx>('relay limits that hold across reconnects');

async function start(ctx: Ctx, overrides: Partial<Limits>): Promise<void> {
  ctx.dir = await tempDir();
  ctx.relay = await testRelay(ctx.dir.path, { limits: overrides });
  ctx.clients = [];
}

closeWireRelayAfterEach(limits);

function tokenOf(client: WireClient): string {
  const session = client.received.find((m) => m.t === 'session');
  return session?.t === 'session' ? session.token : '';
}

async function resume(ctx: Ctx, user: string, token: string): Promise<{ client: WireClient; reply: RelayMessage }> {
  const client = await WireClient.open(ctx.relay.port);
  ctx.clients.push(client);
  await client.hello();
  const reply = await client.request({ t: 'resume', id: 'r', user, token, proof: await client.resumeProof(user) });
  return { client, reply };
}

limits('the flood bucket is the user\'s: a resume or a fresh login does not refill it', async (ctx) => {
  await start(ctx, { messagesPerSecond: 0.01, messageBurst: 5 });
  const ann = await WireClient.session(ctx.relay.port, 'ann');
  ctx.clients.push(ann);
  for (let i = 0; i < 5; i++) assert.is((await ann.request({ t: 'say', id: `a${i}`, text: 'hi' })).t, 'ack');
  assert.is(errorCodeOf(await ann.request({ t: 'say', id: 'a5', text: 'hi' })), 'E_FLOOD');
  const token = tokenOf(ann);
  ann.close();
  await ann.whenClosed();

  const { client: back, reply } = await resume(ctx, 'ann', token);
  assert.is(reply.t, 'session');
  assert.is(errorCodeOf(await back.request({ t: 'say', id: 'b0', text: 'hi' })), 'E_FLOOD', 'a resume keeps the empty bucket');
  assert.is(errorCodeOf(await back.request({ t: 'whisper', id: 'w0', to: 'nobody', body: 'x' })), 'E_FLOOD', 'whispers share it');
  assert.is(errorCodeOf(await back.request({ t: 'away', id: 'aw0', text: 'lunch' })), 'E_FLOOD', 'so do away texts (each one is told to the room)');
  back.close();

  const fresh = await WireClient.session(ctx.relay.port, 'ann', 'correct horse', false);
  ctx.clients.push(fresh);
  assert.is(errorCodeOf(await fresh.request({ t: 'say', id: 'c0', text: 'hi' })), 'E_FLOOD', 'so does a fresh login');
});

limits('other requests spend the user\'s request bucket, apart from the flood bucket', async (ctx) => {
  await start(ctx, { requestsPerSecond: 0.01, requestBurst: 3 });
  const ann = await WireClient.session(ctx.relay.port, 'ann');
  ctx.clients.push(ann);
  for (let i = 0; i < 3; i++) assert.is((await ann.request({ t: 'users', id: `u${i}` })).t, 'users');
  const refused = await ann.request({ t: 'history', id: 'h0', limit: 10 });
  assert.is(errorCodeOf(refused), 'E_FLOOD', 'history pages share the bucket');
  assert.ok(refused.t === 'error' && (refused.retryAfterMs ?? 0) > 0, 'the refusal says when to ask again');
  assert.is(errorCodeOf(await ann.request({ t: 'key-batch', id: 'k0', users: ['ann'] })), 'E_FLOOD', 'so do key fetches');
  assert.is((await ann.request({ t: 'say', id: 's0', text: 'hi' })).t, 'ack', 'room messages have their own bucket');
  assert.is((await ann.request({ t: 'ping', id: 'p0' })).t, 'pong', 'a ping costs no token');
  const token = tokenOf(ann);
  ann.close();
  await ann.whenClosed();
  const { client: back, reply } = await resume(ctx, 'ann', token);
  assert.is(reply.t, 'session');
  assert.is(errorCodeOf(await back.request({ t: 'rooms', id: 'r0' })), 'E_FLOOD', 'a resume keeps the empty bucket');
});

limits('resumes per address are bounded', async (ctx) => {
  await start(ctx, { resumesPerMinute: 0.01, resumeBurst: 3 });
  const ann = await WireClient.session(ctx.relay.port, 'ann');
  ctx.clients.push(ann);
  const token = tokenOf(ann);
  for (let i = 0; i < 3; i++) {
    const { client, reply } = await resume(ctx, 'ann', token);
    assert.is(reply.t, 'session', `resume ${i}`);
    client.close();
    await client.whenClosed();
  }
  const { reply } = await resume(ctx, 'ann', token);
  assert.is(errorCodeOf(reply), 'E_RATE');
  assert.ok(reply.t === 'error' && (reply.retryAfterMs ?? 0) > 0);
});

limits('new connections per address are bounded (what comes before login)', async (ctx) => {
  await start(ctx, { connectionRatePerAddress: 0.01, connectionBurstPerAddress: 4 });
  const outcomes: string[] = [];
  for (let i = 0; i < 6; i++) {
    const client = await WireClient.open(ctx.relay.port);
    ctx.clients.push(client);
    const welcomed = await Promise.race([client.hello().then(() => true, () => false), client.whenClosed().then(() => false)]);
    if (!welcomed) await client.whenClosed();
    const bye = client.received.find((m) => m.t === 'bye');
    outcomes.push(welcomed ? 'welcome' : bye?.t === 'bye' ? bye.code : 'closed');
  }
  assert.equal(outcomes, ['welcome', 'welcome', 'welcome', 'welcome', 'E_RATE', 'E_RATE']);
  // Another address is not affected.
  const other = await WireClient.open(ctx.relay.port, { localAddress: '127.0.0.2' });
  ctx.clients.push(other);
  assert.is((await other.hello()).t, 'welcome');
});

limits.run();
