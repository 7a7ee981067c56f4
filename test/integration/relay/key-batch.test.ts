import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { publicBundle } from '../../../shared/crypto/identity.js';
import { MAX_KEYS_PER_REQUEST } from '../../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../../shared/messages.js';
import { LevelStore } from '../../../relay/level-store.js';
import { identityOf, WireClient } from '../../helpers/wire-client.js';
import { closeWireRelayAfterEach, testRelay, type WireRelayContext } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';

/**
 * `key-batch`: the keys of many users in one request, against a real relay on a real LevelDB,
 * from a raw wire client (so hostile requests are sent as they are, not as the client core
 * would shape them).
 */
type Ctx = WireRelayContext;
const spec = suite<Ctx>('relay key-batch');

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-key-batch-');
  // An account made before keys existed (no bundle): answered as E_NO_KEY.
  const store = await LevelStore.open(ctx.dir.path);
  try {
    await store.createAccount('oldtimer', 'not-a-real-hash');
  } finally {
    await store.close();
  }
  ctx.relay = await testRelay(ctx.dir.path);
  ctx.clients = [];
});

closeWireRelayAfterEach(spec);

async function session(ctx: Ctx, user: string): Promise<WireClient> {
  const client = await WireClient.session(ctx.relay.port, user);
  ctx.clients.push(client);
  return client;
}

function errorCode(message: RelayMessage): string | undefined {
  return message.t === 'error' ? message.code : undefined;
}

/** Sends anything as a request (hostile shapes the types would not allow) and waits for its answer. */
function raw(client: WireClient, message: Record<string, unknown> & { id: string }): Promise<RelayMessage> {
  return client.request(message as unknown as ClientMessage & { id: string });
}

spec('found, unknown and keyless users in one answer; one entry per user whatever the spelling', async (ctx) => {
  const ann = await session(ctx, 'ann');
  await session(ctx, 'Bob');
  await session(ctx, 'cat');
  const reply = await ann.request({ t: 'key-batch', id: ann.id(), users: ['bob', 'CAT', 'nobody', 'oldtimer', 'BOB', 'ann'] });
  if (reply.t !== 'key-batch') throw new Error(JSON.stringify(reply));
  assert.equal(reply.found.map((f) => f.user), ['Bob', 'cat', 'ann'], "the relay's spelling, each once, in the order asked");
  assert.equal(reply.found[0].keys, await publicBundle(await identityOf('Bob'), 'Bob'));
  assert.equal(reply.found[1].keys, await publicBundle(await identityOf('cat'), 'cat'));
  assert.equal(reply.missing, [
    { user: 'nobody', code: 'E_NO_SUCH_USER' },
    { user: 'oldtimer', code: 'E_NO_KEY' },
  ]);
});

spec('hostile lists: too many names, none, a bad name, not names at all; the connection stays usable', async (ctx) => {
  const ann = await session(ctx, 'ann');
  const many = Array.from({ length: MAX_KEYS_PER_REQUEST + 1 }, (_, i) => `user${i}`);
  assert.is(errorCode(await raw(ann, { t: 'key-batch', id: 'too-many', users: many })), 'E_PROTOCOL');
  assert.is(errorCode(await raw(ann, { t: 'key-batch', id: 'none', users: [] })), 'E_PROTOCOL');
  assert.is(errorCode(await raw(ann, { t: 'key-batch', id: 'not-a-list', users: 'ann' })), 'E_PROTOCOL');
  assert.is(errorCode(await raw(ann, { t: 'key-batch', id: 'numbers', users: [1, 2] })), 'E_PROTOCOL');
  assert.is(errorCode(await raw(ann, { t: 'key-batch', id: 'too-long', users: ['x'.repeat(65)] })), 'E_PROTOCOL');
  // Within the schema but not a user name: the whole request is refused, as `keys` would refuse it.
  assert.is(errorCode(await ann.request({ t: 'key-batch', id: 'bad-name', users: ['ann', 'no spaces allowed'] })), 'E_BAD_NAME');
  assert.is(errorCode(await ann.request({ t: 'key-batch', id: 'bad-start', users: ['-dash'] })), 'E_BAD_NAME');
  // The full list is fine, and the connection answers as before.
  const full = await ann.request({ t: 'key-batch', id: 'full', users: many.slice(0, MAX_KEYS_PER_REQUEST) });
  assert.ok(full.t === 'key-batch' && full.missing.length === MAX_KEYS_PER_REQUEST && full.found.length === 0);
  assert.is((await ann.request({ t: 'ping', id: 'still-there' })).t, 'pong');
});

spec('only after login', async (ctx) => {
  const client = await WireClient.open(ctx.relay.port);
  ctx.clients.push(client);
  await client.hello();
  assert.is(errorCode(await client.request({ t: 'key-batch', id: 'early', users: ['ann'] })), 'E_NOT_LOGGED_IN');
});

spec.run();
