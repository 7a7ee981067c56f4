/**
 * Registration and login through the real relay follow shared/account-rules.ts: the same
 * limits as `relay user add` (issue 12, item 3).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_LIMITS } from '../../../shared/limits.js';
import { PasswordHasher } from '../../../relay/passwords.js';
import { LevelStore } from '../../../relay/level-store.js';
import { WireClient, outcome } from '../../helpers/wire-client.js';
import { CHEAP_HASHING, closeWireRelayAfterEach, testRelay, type WireRelayContext } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';

type Ctx = WireRelayContext;
const spec = suite<Ctx>('relay account rules');

spec.before.each(async (ctx) => {
  ctx.dir = await tempDir('securechat-account-rules-');
  ctx.clients = [];
});

closeWireRelayAfterEach(spec);

async function opened(ctx: Ctx): Promise<WireClient> {
  const client = await WireClient.open(ctx.relay.port);
  ctx.clients.push(client);
  await client.hello();
  return client;
}

/** Sends register or login as `user` and returns the reply's error code ('session' on success). */
async function attempt(client: WireClient, t: 'register' | 'login', user: string, password: string): Promise<string> {
  return outcome(await client.passwordAttempt(t, user, password));
}

spec('register refuses passwords above maxPasswordChars (as relay user add does) and creates nothing', async (ctx) => {
  ctx.relay = await testRelay(ctx.dir.path);
  const client = await opened(ctx);
  assert.is(await attempt(client, 'register', 'carol', 'x'.repeat(2_000)), 'E_PASSWORD_TOO_LONG');
  assert.is(await attempt(client, 'register', 'carol', 'x'.repeat(DEFAULT_LIMITS.maxPasswordChars + 1)), 'E_PASSWORD_TOO_LONG');
  assert.is(await attempt(client, 'register', 'carol', 'short'), 'E_WEAK_PASSWORD');
  // Nothing was stored: the name is still free, and the longest allowed password works.
  assert.is(await attempt(client, 'register', 'carol', 'x'.repeat(DEFAULT_LIMITS.maxPasswordChars)), 'session');
});

spec('register refuses reserved names in any case; the name stays free of an account', async (ctx) => {
  ctx.relay = await testRelay(ctx.dir.path);
  for (const name of ['global', 'Global', 'relay', 'admin', 'System']) {
    const client = await opened(ctx);
    assert.is(await attempt(client, 'register', name, 'correct horse'), 'E_BAD_NAME', name);
  }
  const client = await opened(ctx);
  assert.is(await attempt(client, 'login', 'global', 'correct horse'), 'E_AUTH');
});

spec('an over-long password at login is refused before hashing with the same code, and is not a failure', async (ctx) => {
  ctx.relay = await testRelay(ctx.dir.path);
  const dave = await WireClient.session(ctx.relay.port, 'dave', 'dave-password');
  ctx.clients.push(dave);
  dave.close();
  const client = await opened(ctx);
  // More than the free failures: had they counted, the right password would now get E_RATE.
  for (let i = 0; i < DEFAULT_LIMITS.loginFreeFailures + 2; i++) {
    assert.is(await attempt(client, 'login', 'dave', 'y'.repeat(2_000)), 'E_PASSWORD_TOO_LONG');
  }
  assert.is(await attempt(client, 'login', 'dave', 'dave-password'), 'session');
});

spec('an existing account with a reserved name still logs in', async (ctx) => {
  // Made before the rule existed (here: straight into the store, as an old relay would have).
  const store = await LevelStore.open(ctx.dir.path);
  const hasher = new PasswordHasher(CHEAP_HASHING);
  try {
    await store.createAccount('global', await hasher.hash('old account pw'));
  } finally {
    await hasher.close();
    await store.close();
  }
  ctx.relay = await testRelay(ctx.dir.path);
  const old = await WireClient.session(ctx.relay.port, 'global', 'old account pw', false);
  ctx.clients.push(old);
  const users = await old.request({ t: 'users', id: old.id() });
  assert.ok(users.t === 'users' && users.users.includes('global'));
});

spec.run();
