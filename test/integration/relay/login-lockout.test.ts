/**
 * Nobody can lock an account's owner out by failing logins on purpose (issue 12, item 4;
 * relay/login-limiter.ts). Through the real relay, with clients bound to distinct loopback
 * addresses: A = 127.0.0.1 (the attacker), B = 127.0.0.2 (bob's known address),
 * C = 127.0.0.3 (an address bob never used).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WireClient, outcome } from '../../helpers/wire-client.js';
import { withWireRelayPerTest, type WireRelayContext } from '../../helpers/relay.js';

const ATTACKER = '127.0.0.1';
const KNOWN = '127.0.0.2';
const NEW_PLACE = '127.0.0.3';
/** Free failures, then a delay far longer than the test: any refusal shows as E_RATE at once. */
const LIMITS = { loginFreeFailures: 10, loginBaseDelayMs: 10 * 60_000, loginMaxDelayMs: 10 * 60_000 };
const BOB_PASSWORD = 'bob-real-password';

type Ctx = WireRelayContext;
const spec = suite<Ctx>('login lockout');

withWireRelayPerTest(spec, 'securechat-lockout-', { limits: LIMITS });

async function from(ctx: Ctx, localAddress: string): Promise<WireClient> {
  const client = await WireClient.open(ctx.relay.port, { localAddress });
  ctx.clients.push(client);
  await client.hello();
  return client;
}

/** Bob registers from his known address; the attacker then fails every free attempt on bob from A. */
async function bobUnderAttack(ctx: Ctx): Promise<string> {
  const home = await from(ctx, KNOWN);
  const registered = await home.passwordAttempt('register', 'bob', BOB_PASSWORD);
  assert.is(outcome(registered), 'session');
  home.close();
  const attacker = await from(ctx, ATTACKER);
  for (let i = 0; i < LIMITS.loginFreeFailures; i++) {
    assert.is(outcome(await attacker.passwordAttempt('login', 'bob', `guess number ${i}`)), 'E_AUTH');
  }
  // Both bob's account and the attacker's address now owe a 10-minute delay.
  const refused = await attacker.passwordAttempt('login', 'bob', BOB_PASSWORD);
  assert.is(outcome(refused), 'E_RATE');
  return registered.t === 'session' ? registered.token : '';
}

spec('failures from A do not stop bob at his known address B, nor his valid resume token', async (ctx) => {
  const token = await bobUnderAttack(ctx);

  // Bob at home logs in at once with his password.
  const home = await from(ctx, KNOWN);
  const login = await home.passwordAttempt('login', 'bob', BOB_PASSWORD);
  assert.is(outcome(login), 'session');
  assert.is(login.t === 'session' && login.resumed, false);
  const homeToken = login.t === 'session' ? login.token : '';

  // His client elsewhere resumes with its token: from an address bob never used...
  const travelling = await from(ctx, NEW_PLACE);
  const resumed = await travelling.request({ t: 'resume', id: travelling.id(), user: 'bob', token, proof: await travelling.resumeProof('bob') });
  assert.is(outcome(resumed), 'session');
  assert.is(resumed.t === 'session' && resumed.resumed, true);
  // ...and even from the attacker's own (delayed) address: a valid token is never delayed.
  const shared = await from(ctx, ATTACKER);
  const again = await shared.request({ t: 'resume', id: shared.id(), user: 'bob', token: homeToken, proof: await shared.resumeProof('bob') });
  assert.is(outcome(again), 'session');
});

spec('the account delay still slows password guesses from every address bob never logged in from', async (ctx) => {
  await bobUnderAttack(ctx);
  // Even with the right password: from an unknown address the account's delay applies.
  const elsewhere = await from(ctx, NEW_PLACE);
  const reply = await elsewhere.passwordAttempt('login', 'bob', BOB_PASSWORD);
  assert.is(outcome(reply), 'E_RATE');
  assert.ok(reply.t === 'error' && (reply.retryAfterMs ?? 0) > 60_000);
  // A valid resume from there makes the address known: then the password gets through too.
  const home = await from(ctx, KNOWN);
  const login = await home.passwordAttempt('login', 'bob', BOB_PASSWORD);
  const token = login.t === 'session' ? login.token : '';
  const resumed = await elsewhere.request({ t: 'resume', id: elsewhere.id(), user: 'bob', token, proof: await elsewhere.resumeProof('bob') });
  assert.is(outcome(resumed), 'session');
  const later = await from(ctx, NEW_PLACE);
  assert.is(outcome(await later.passwordAttempt('login', 'bob', BOB_PASSWORD)), 'session');
});

spec('failed resumes with bad tokens count nothing against bob or the address', async (ctx) => {
  const home = await from(ctx, KNOWN);
  assert.is(outcome(await home.passwordAttempt('register', 'bob', BOB_PASSWORD)), 'session');
  home.close();
  const attacker = await from(ctx, ATTACKER);
  for (let i = 0; i < LIMITS.loginFreeFailures + 5; i++) {
    const reply = await attacker.request({ t: 'resume', id: attacker.id(), user: 'bob', token: `forged-${i}`, proof: await attacker.resumeProof('bob') });
    assert.is(outcome(reply), 'E_BAD_TOKEN');
  }
  // Had they counted, bob from anywhere new (and anyone from A) would now wait 10 minutes.
  const elsewhere = await from(ctx, NEW_PLACE);
  assert.is(outcome(await elsewhere.passwordAttempt('login', 'bob', BOB_PASSWORD)), 'session');
  const fromA = await from(ctx, ATTACKER);
  assert.is(outcome(await fromA.passwordAttempt('login', 'bob', BOB_PASSWORD)), 'session');
});

spec.run();
