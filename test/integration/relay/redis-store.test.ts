/**
 * RedisStore behaviour beyond the store contract (test/integration/relay/store-contract.test.ts runs that):
 * durability across `kill -9` of redis-server, failing fast while Redis is down and
 * recovering by itself, refusing an unsafe Redis, pub/sub of stored messages, two relays on
 * one Redis, and the documented key layout. Real redis-server processes throughout; skipped
 * with a printed line when none is installed.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../helpers/errors.js';
import { Redis } from 'ioredis';
import { ChatError } from '../../../shared/errors.js';
import { RedisStore, type RedisStoreOptions } from '../../../relay/redis-store.js';
import type { MessageDraft } from '../../../relay/store.js';
import { freeLoopbackPort, redisServerAvailable, REDIS_SERVER_PATH, startRedisServer, type TestRedisServer } from '../../helpers/redis-server.js';

interface Context {
  server: TestRedisServer;
  admin: Redis;
  stores: RedisStore[];
}

const spec = suite<Context>('RedisStore on a real redis-server');

spec.before(async (ctx) => {
  ctx.server = await startRedisServer();
  ctx.admin = new Redis(ctx.server.url, { lazyConnect: true });
  ctx.admin.on('error', () => undefined); // it reconnects by itself after the kill -9 test
  await ctx.admin.connect();
});
spec.before.each(async (ctx) => {
  ctx.stores = [];
  await ctx.admin.flushall();
});
spec.after.each(async (ctx) => {
  for (const store of ctx.stores) await store.close();
});
spec.after(async (ctx) => {
  await ctx.admin.quit().catch(() => undefined);
  await ctx.server.stop();
});

async function open(ctx: Context, options: RedisStoreOptions = {}): Promise<RedisStore> {
  const store = await RedisStore.connect(ctx.server.url, { onError: () => undefined, ...options });
  ctx.stores.push(store);
  return store;
}

function draft(roomKey: string, n: number, over: Partial<MessageDraft> = {}): MessageDraft {
  return { room: roomKey, roomKey, from: 'alice', text: `m${n}`, time: 1_000 + n, id: `${roomKey}-${n}`, ...over };
}

/** Resolves with the first error `onError` receives (the store reports an outage once). */
function firstError(): { onError: (error: unknown) => void; reported: Promise<unknown> } {
  let onError: (error: unknown) => void = () => undefined;
  const reported = new Promise<unknown>((resolve) => (onError = resolve));
  return { onError, reported };
}

spec('kill -9 of redis-server after 3,000 acknowledged appends: all present after a restart, dense seqs, ids still known', async (ctx) => {
  const rooms = ['r1', 'r2', 'r3'];
  const total = 3_000;
  const store = await open(ctx);
  // Batches of 50, each awaited, the way the relay's MessageLog writes: every message counted
  // here was acknowledged (its append resolved) before the kill.
  let acked = 0;
  for (let start = 0; start < total; start += 50) {
    const batch = Array.from({ length: 50 }, (_, i) => draft(rooms[(start + i) % 3], start + i));
    acked += (await store.appendMessages(batch)).filter((o) => !o.duplicate).length;
  }
  assert.is(acked, total);
  // With `appendfsync everysec` Redis write()s the AOF
  // buffer to the file before it sends the replies of the commands in it (beforeSleep), and
  // fsyncs once a second in a background thread. A killed process leaves what it wrote in the
  // kernel's page cache, so kill -9 of redis-server loses nothing acknowledged, however soon
  // after the ack it comes. What everysec can lose is the last ~1 s of acknowledged writes if
  // the machine itself goes down (kernel crash, power loss) before the fsync. One exception
  // reaches a process kill too: while a background fsync is still running (a busy disk),
  // Redis postpones the write() for up to 2 s but still replies, so acks of that window are
  // only in Redis' memory. `appendfsync always` closes both (Redis 7.0 fsyncs before it
  // replies) at a cost measured by bench/redis-append.ts. A test cannot pull the power; this
  // one checks the process kill, the case the issue asks for. It waits out that postponement
  // window (2 s) first: on a machine busy with other work it was hit (50 of 3,000 acks lost
  // with no pause), which is Redis' documented everysec behaviour, not the store's.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  await ctx.server.kill9();
  await ctx.server.restart();
  const after = await open(ctx);
  for (const room of rooms) {
    const page = await after.messagesSince(room, 0, total);
    assert.is(page.messages.length, total / 3, `${room} lost messages`);
    assert.equal(page.messages.map((m) => m.seq), Array.from({ length: total / 3 }, (_, i) => i + 1));
    assert.is(page.hasMore, false);
  }
  // Numbering continues; an acknowledged id is still recognised.
  const [next, retry] = await after.appendMessages([draft('r1', total + 1), draft('r2', 1)]);
  assert.equal([next.message.seq, next.duplicate], [total / 3 + 1, false]);
  assert.equal([retry.message.roomKey, retry.message.seq, retry.duplicate], ['r2', 1, true]);
});

spec('Redis down: sends fail fast with E_STORE_UNAVAILABLE; the store recovers by itself; queued audit events are written', async (ctx) => {
  const outage = firstError();
  const store = await open(ctx, { onError: outage.onError });
  await store.appendMessages([draft('lobby', 1)]);
  await ctx.server.kill9();
  store.audit({ event: 'login', user: 'during-outage' });
  const started = Date.now();
  const error = await rejectsWith(store.appendMessages([draft('lobby', 2)]), 'E_STORE_UNAVAILABLE');
  assert.ok(Date.now() - started < 1_000, `failing took ${Date.now() - started} ms`);
  assert.type(error.details.reason, 'string');
  await rejectsWith(store.getAccount('alice'), 'E_STORE_UNAVAILABLE');
  assert.is(((await outage.reported) as ChatError).code, 'E_STORE_UNAVAILABLE');

  await ctx.server.restart();
  await store.ready();
  // The client retries its send: stored now, numbered after the message acknowledged before.
  const [retried] = await store.appendMessages([draft('lobby', 2)]);
  assert.equal([retried.message.seq, retried.duplicate], [2, false]);
  assert.equal((await store.listAudit(10)).map((e) => e.user), ['during-outage']);
});

spec('close while Redis is down returns at once and reports the audit events it could not write', async (ctx) => {
  const reports: unknown[] = [];
  const store = await RedisStore.connect(ctx.server.url, { onError: (error) => reports.push(error) });
  try {
    await ctx.server.kill9();
    store.audit({ event: 'logout', user: 'alice' });
    const started = Date.now();
    await store.close();
    assert.ok(Date.now() - started < 1_000, `close took ${Date.now() - started} ms`);
    assert.ok(reports.some((error) => /1 events were not written/.test((error as Error).message)));
    await rejectsWith(store.getAccount('alice'), 'E_STORE_UNAVAILABLE');
  } finally {
    await ctx.server.restart();
  }
});

spec('connect: unreachable Redis is E_STORE_UNAVAILABLE, quickly', async () => {
  const port = await freeLoopbackPort();
  const started = Date.now();
  await rejectsWith(RedisStore.connect(`redis://127.0.0.1:${port}`), 'E_STORE_UNAVAILABLE');
  assert.ok(Date.now() - started < 3_000);
});

spec('connect: a Redis without AOF, with eviction, or with another schema is refused (E_STORE_CONFIG)', async (ctx) => {
  // Its own server: switching AOF back on in a running Redis starts a rewrite, and a Redis
  // still writing its first AOF refuses to shut down.
  const withoutAof = await startRedisServer({ appendonly: false });
  try {
    await rejectsWith(RedisStore.connect(withoutAof.url), 'E_STORE_CONFIG');
    await (await RedisStore.connect(withoutAof.url, { requireSafeConfig: false })).close();
  } finally {
    await withoutAof.stop();
  }
  try {
    await ctx.admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await rejectsWith(RedisStore.connect(ctx.server.url), 'E_STORE_CONFIG');
  } finally {
    await ctx.admin.config('SET', 'maxmemory-policy', 'noeviction');
  }
  await ctx.admin.set('sc:schema', '2');
  await rejectsWith(RedisStore.connect(ctx.server.url), 'E_STORE_CONFIG');
  await (await open(ctx, { keyPrefix: 'other:' })).close();
});

spec('every newly stored message is published on its room channel, in seq order; retries are not', async (ctx) => {
  const store = await open(ctx);
  const subscriber = new Redis(ctx.server.url);
  try {
    const received: Array<{ seq: number; text: string }> = [];
    const three = new Promise<void>((resolve) =>
      subscriber.on('message', (channel: string, json: string) => {
        assert.is(channel, 'sc:room:lobby');
        received.push(JSON.parse(json) as { seq: number; text: string });
        if (received.length === 3) resolve();
      }),
    );
    assert.is(store.roomChannel('lobby'), 'sc:room:lobby');
    await subscriber.subscribe('sc:room:lobby');
    await store.appendMessages([draft('lobby', 1), draft('lobby', 2), draft('lobby', 1, { text: 'retry' })]);
    await store.appendMessages([draft('lobby', 3)]);
    await three;
    assert.equal(received.map((m) => [m.seq, m.text]), [[1, 'm1'], [2, 'm2'], [3, 'm3']]);
  } finally {
    subscriber.disconnect();
  }
});

spec('two relays on one Redis: one account per name, one dense numbering, retries recognised across relays', async (ctx) => {
  const [r1, r2] = [await open(ctx), await open(ctx)];
  const created = await Promise.allSettled([r1, r2, r1, r2].map((store, i) => store.createAccount(i % 2 ? 'Dana' : 'dana', 'h')));
  assert.is(created.filter((r) => r.status === 'fulfilled').length, 1);

  const sent = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 ? r2 : r1).appendMessages([draft('lobby', i, { from: i % 2 ? 'bob' : 'alice' })])),
  );
  assert.equal(sent.map(([o]) => o.message.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  // The relay a client resumes on recognises a send it made through the other one.
  const [again] = await r2.appendMessages([draft('lobby', 0, { text: 'resent after moving' })]);
  assert.equal([again.message.seq, again.duplicate, again.message.text], [sent[0][0].message.seq, true, 'm0']);
  // A token issued on one relay works on the other.
  const token = await r1.issueToken('dana', 60_000);
  assert.is(await r2.checkToken('DANA', token), true);
});

spec('key layout as documented (docs/storage.md), under the key prefix, with expiries', async (ctx) => {
  const store = await open(ctx, { keyPrefix: 'x:', clientIdRetentionMs: 60_000 });
  await store.createAccount('Alice', 'h');
  await store.issueToken('alice', 30_000);
  await store.appendMessages([draft('lobby', 1, { id: 'c1' })]);
  await store.putRoomFile('lobby', { id: 'ab12', room: 'lobby', name: 'a.txt', size: 1, hash: 'cd'.repeat(64), from: 'alice', time: 1, path: 'p' });
  store.audit({ event: 'login', user: 'alice' });
  await store.flushAudit();

  const keys = (await ctx.admin.keys('*')).sort();
  const token = keys.find((k) => k.startsWith('x:tok:'))!;
  assert.match(token, /^x:tok:[0-9a-f]{64}$/);
  assert.equal(keys, [
    'x:accounts', 'x:acct:alice', 'x:audit', 'x:filerooms', 'x:files:lobby', 'x:msgid:alice:c1',
    'x:room:lobby:log', 'x:room:lobby:seq', 'x:schema', token, 'x:utok:alice',
  ]);
  const types = await Promise.all(keys.map((k) => ctx.admin.type(k)));
  assert.equal(types, ['set', 'hash', 'stream', 'set', 'hash', 'string', 'stream', 'string', 'string', 'string', 'set']);
  const ttl = async (key: string): Promise<number> => ctx.admin.pttl(key);
  assert.ok((await ttl('x:msgid:alice:c1')) > 50_000 && (await ttl('x:msgid:alice:c1')) <= 60_000);
  assert.ok((await ttl(token)) > 20_000 && (await ttl(token)) <= 30_000);
  assert.ok((await ttl('x:utok:alice')) > 20_000);
  for (const key of ['x:acct:alice', 'x:room:lobby:log', 'x:room:lobby:seq', 'x:accounts']) assert.is(await ttl(key), -1, key);
  assert.equal(JSON.parse((await ctx.admin.get('x:msgid:alice:c1'))!), { roomKey: 'lobby', seq: 1, time: 1_001 });
  assert.equal(await ctx.admin.xrange('x:room:lobby:log', '-', '+'), [['1-0', ['m', JSON.stringify({ room: 'lobby', roomKey: 'lobby', seq: 1, from: 'alice', text: 'm1', time: 1_001, id: 'c1' })]]]);
});

if (redisServerAvailable()) spec.run();
else console.log(`(redis-server not found at ${REDIS_SERVER_PATH}: relay-redis-store tests skipped)`);
