import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../shared/errors.js';
import { LevelStore } from '../relay/level-store.js';
import type { StoredMessage } from '../relay/store.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'securechat-store-'));
  dirs.push(dir);
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ChatError);
    assert.is((error as ChatError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

function msg(roomKey: string, seq: number, over: Partial<StoredMessage> = {}): StoredMessage {
  return { room: roomKey.toUpperCase(), roomKey, seq, from: 'Alice', text: `m${seq}`, time: 1_000 + seq, id: `${roomKey}-${seq}`, ...over };
}

test.after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('open creates the data folder 0700 with LevelDB in db/, and a second open is E_DATA_LOCKED', async () => {
  const dir = join(await tempDir(), 'nested', 'relay');
  const store = await LevelStore.open(dir);
  try {
    assert.is((await stat(dir)).mode & 0o777, 0o700);
    assert.ok((await stat(join(dir, 'db'))).isDirectory());
    await rejectsWith(LevelStore.open(dir), 'E_DATA_LOCKED');
  } finally {
    await store.close();
  }
  // The lock is released on close.
  const again = await LevelStore.open(dir);
  await again.close();
  await again.close(); // idempotent
});

test('accounts: create, case-insensitive lookup, duplicates, password change, removal, list', async () => {
  const store = await LevelStore.open(await tempDir());
  try {
    await store.createAccount('Alice', 'hash-a');
    const a = await store.getAccount('ALICE');
    assert.is(a?.name, 'Alice');
    assert.is(a?.passwordHash, 'hash-a');
    assert.type(a?.created, 'number');
    await rejectsWith(store.createAccount('alice', 'x'), 'E_USER_EXISTS');
    await rejectsWith(store.createAccount('bad name', 'x'), 'E_BAD_NAME');
    assert.is(await store.getAccount('no such'), undefined);
    assert.is(await store.getAccount('nobody'), undefined);

    assert.is(await store.setPasswordHash('alice', 'hash-b'), true);
    assert.is((await store.getAccount('Alice'))?.passwordHash, 'hash-b');
    assert.is(await store.setPasswordHash('nobody', 'x'), false);
    assert.is(await store.setPasswordHash('', 'x'), false);

    await store.createAccount('bob', 'hash-c');
    assert.equal((await store.listAccounts()).map((r) => r.name), ['Alice', 'bob']);
    assert.is(await store.removeAccount('BOB'), true);
    assert.is(await store.removeAccount('bob'), false);
    assert.is(await store.removeAccount('!!'), false);
    assert.equal((await store.listAccounts()).map((r) => r.name), ['Alice']);
  } finally {
    await store.close();
  }
});

test('concurrent creation of one name: exactly one wins', async () => {
  const store = await LevelStore.open(await tempDir());
  try {
    const results = await Promise.allSettled(['carol', 'Carol', 'CAROL', 'carol'].map((n) => store.createAccount(n, 'h')));
    assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.is((r.reason as ChatError).code, 'E_USER_EXISTS');
  } finally {
    await store.close();
  }
});

test('resume tokens: check, other user, unknown, expiry, revoke one and all, account removal', async () => {
  let now = 1_000_000;
  const dir = await tempDir();
  let store = await LevelStore.open(dir, { now: () => now });
  try {
    await store.createAccount('alice', 'h');
    await store.createAccount('bob', 'h');
    const t1 = await store.issueToken('Alice', 60_000);
    assert.match(t1, /^[A-Za-z0-9_-]{43}$/);
    const t2 = await store.issueToken('alice', 120_000);
    const tb = await store.issueToken('bob', 60_000);
    assert.is(await store.checkToken('alice', t1), true);
    assert.is(await store.checkToken('ALICE', t2), true);
    assert.is(await store.checkToken('bob', t1), false);
    assert.is(await store.checkToken('alice', tb), false);
    assert.is(await store.checkToken('alice', t1 + 'x'), false);
    assert.is(await store.checkToken('alice', ''), false);
    assert.is(await store.checkToken('alice', 'x'.repeat(10_000)), false);
    assert.is(await store.checkToken('not a name', t1), false);
    assert.is(await store.checkToken('alice', 42 as unknown as string), false);

    now += 60_000; // t1 and tb expire exactly now
    assert.is(await store.checkToken('alice', t1), false);
    assert.is(await store.checkToken('alice', t2), true);

    await store.revokeToken(t2);
    await store.revokeToken(t2); // unknown: ignored
    await store.revokeToken('');
    assert.is(await store.checkToken('alice', t2), false);

    const t3 = await store.issueToken('alice', 60_000);
    const t4 = await store.issueToken('alice', 60_000);
    const tb2 = await store.issueToken('bob', 60_000);
    await store.revokeTokens('ALICE');
    assert.is(await store.checkToken('alice', t3), false);
    assert.is(await store.checkToken('alice', t4), false);
    assert.is(await store.checkToken('bob', tb2), true);

    // Tokens survive a restart.
    await store.close();
    store = await LevelStore.open(dir, { now: () => now });
    assert.is(await store.checkToken('bob', tb2), true);

    await store.removeAccount('bob');
    assert.is(await store.checkToken('bob', tb2), false);
    await store.createAccount('bob', 'h'); // a new bob does not inherit the old tokens
    assert.is(await store.checkToken('bob', tb2), false);
  } finally {
    await store.close();
  }
});

test('a token for a name without an account is refused', async () => {
  const store = await LevelStore.open(await tempDir());
  try {
    // A token issued for a name that has no account (never created) is useless.
    const orphan = await store.issueToken('ghost', 60_000);
    assert.is(await store.checkToken('ghost', orphan), false);
  } finally {
    await store.close();
  }
});

test('messages: numeric order, rooms apart (prefix names), paging back, since, hasMore', async () => {
  const store = await LevelStore.open(await tempDir());
  try {
    const a = Array.from({ length: 25 }, (_, i) => msg('a', i + 1));
    const ab = Array.from({ length: 3 }, (_, i) => msg('ab', i + 1));
    await store.appendMessages([...a.slice(0, 10), ...ab]);
    await store.appendMessages(a.slice(10));
    await store.appendMessages([]);

    let page = await store.lastMessages('a', 5);
    assert.equal(page.messages.map((m) => m.seq), [21, 22, 23, 24, 25]);
    assert.is(page.hasMore, true);
    page = await store.lastMessages('a', 5, 21);
    assert.equal(page.messages.map((m) => m.seq), [16, 17, 18, 19, 20]);
    page = await store.lastMessages('a', 10, 6);
    assert.equal(page.messages.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.is(page.hasMore, false);
    page = await store.lastMessages('a', 5, 6);
    assert.is(page.hasMore, false);
    page = await store.lastMessages('a', 4, 6);
    assert.equal(page.messages.map((m) => m.seq), [2, 3, 4, 5]);
    assert.is(page.hasMore, true);
    assert.equal(await store.lastMessages('a', 5, 1), { messages: [], hasMore: false });
    assert.equal(await store.lastMessages('a', 5, 0), { messages: [], hasMore: false });
    assert.equal((await store.lastMessages('a', 0)).messages, []);
    assert.is((await store.lastMessages('a', 0)).hasMore, true);
    assert.equal((await store.lastMessages('a', 100)).messages.length, 25);
    assert.equal((await store.lastMessages('a', 100, Number.MAX_SAFE_INTEGER + 10)).messages.length, 25);
    assert.equal((await store.lastMessages('ab', 100)).messages.map((m) => m.text), ['m1', 'm2', 'm3']);
    assert.equal(await store.lastMessages('nope', 10), { messages: [], hasMore: false });
    assert.equal((await store.lastMessages('a', 1)).messages[0], a[24]);

    let since = await store.messagesSince('a', 9, 5);
    assert.equal(since.messages.map((m) => m.seq), [10, 11, 12, 13, 14]);
    assert.is(since.hasMore, true);
    since = await store.messagesSince('a', 20, 5);
    assert.equal(since.messages.map((m) => m.seq), [21, 22, 23, 24, 25]);
    assert.is(since.hasMore, false);
    since = await store.messagesSince('a', 25, 5);
    assert.equal(since, { messages: [], hasMore: false });
    since = await store.messagesSince('a', -1, 2);
    assert.equal(since.messages.map((m) => m.seq), [1, 2]);
    since = await store.messagesSince('a', 0, 100);
    assert.is(since.messages.length, 25);
    since = await store.messagesSince('ab', 0, 100);
    assert.is(since.messages.length, 3);
    assert.equal(await store.messagesSince('a', Number.MAX_SAFE_INTEGER, 5), { messages: [], hasMore: false });
  } finally {
    await store.close();
  }
});

test('appendMessages refuses keys that would break the layout', async () => {
  const store = await LevelStore.open(await tempDir());
  try {
    await rejectsWith(store.appendMessages([msg('a!b', 1)]), 'E_INTERNAL');
    await rejectsWith(store.appendMessages([msg('', 1)]), 'E_INTERNAL');
    await rejectsWith(store.appendMessages([msg('a', 1), msg('a!', 2)]), 'E_INTERNAL');
    // Nothing of a refused batch was written, and numbering did not move.
    assert.equal((await store.lastMessages('a', 10)).messages, []);
    const [first] = await store.appendMessages([msg('a', 1)]);
    assert.is(first.message.seq, 1);
  } finally {
    await store.close();
  }
});

test('client ids and dense room seqs survive a restart; a retried id is never stored twice', async () => {
  const dir = await tempDir();
  let store = await LevelStore.open(dir);
  try {
    await store.appendMessages([msg('lobby', 1, { id: 'c1' }), msg('lobby', 2, { id: 'c2', from: 'Bob' }), msg('dev', 1, { id: 'c1', from: 'Bob' })]);
    await store.appendMessages([msg('lobby', 3, { id: 'c3' })]);
    await store.close();
    store = await LevelStore.open(dir);
    assert.is((await store.findByClientId('alice', 'c1'))?.seq, 1);
    assert.equal(await store.findByClientId('BOB', 'c1'), msg('dev', 1, { id: 'c1', from: 'Bob' }));
    assert.is((await store.findByClientId('bob', 'c2'))?.roomKey, 'lobby');
    assert.is(await store.findByClientId('alice', 'c2'), undefined);
    assert.is(await store.findByClientId('carol', 'c1'), undefined);
    // Numbering continues where it stopped; a known id (also twice in one batch) is the first copy.
    const outcomes = await store.appendMessages([
      msg('lobby', 4, { id: 'c4' }),
      msg('dev', 9, { id: 'c1', from: 'bob', text: 'again' }),
      msg('lobby', 5, { id: 'c4', text: 'twice in one batch' }),
      msg('dev', 2, { id: 'c5' }),
    ]);
    assert.equal(
      outcomes.map((o) => [o.message.roomKey, o.message.seq, o.duplicate, o.message.text]),
      [['lobby', 4, false, 'm4'], ['dev', 1, true, 'm1'], ['lobby', 4, true, 'm4'], ['dev', 2, false, 'm2']],
    );
    assert.equal((await store.lastMessages('lobby', 10)).messages.map((m) => m.seq), [1, 2, 3, 4]);
    assert.equal((await store.lastMessages('dev', 10)).messages.map((m) => m.text), ['m1', 'm2']);
  } finally {
    await store.close();
  }
});

test('audit: queued without blocking, newest first, flushed on close, clipped fields', async () => {
  const dir = await tempDir();
  let now = 5_000_000;
  let store = await LevelStore.open(dir, { now: () => now });
  try {
    store.audit({ event: 'register', user: 'alice', address: '127.0.0.1' });
    now += 1;
    store.audit({ event: 'login-failed', user: 'x'.repeat(5_000), address: '::1', detail: 'bad password' });
    now += 1;
    store.audit({ event: 'login', user: 'alice' });
    const listed = await store.listAudit(10);
    assert.equal(listed.map((e) => e.event), ['login', 'login-failed', 'register']);
    assert.is(listed[2].time, 5_000_000);
    assert.is(listed[2].address, '127.0.0.1');
    assert.ok(listed[1].user!.length < 300);
    assert.is(listed[0].address, undefined);
    assert.equal((await store.listAudit(1)).map((e) => e.event), ['login']);

    // Many events in one tick: all written, same-millisecond order kept.
    for (let i = 0; i < 500; i++) store.audit({ event: 'rate-limited', detail: String(i) });
    store.audit({ event: 'logout', user: 'alice' });
    await store.close();
    store.audit({ event: 'login' }); // after close: ignored, never throws
    store = await LevelStore.open(dir, { now: () => now });
    const after = await store.listAudit(1_000);
    assert.is(after.length, 504);
    assert.is(after[0].event, 'logout');
    assert.is(after[1].detail, '499');
    assert.is(after[500].detail, '0');
  } finally {
    await store.close();
  }
});

test('audit: events older than the retention are pruned at open', async () => {
  const dir = await tempDir();
  let now = 10_000_000;
  let store = await LevelStore.open(dir, { now: () => now });
  store.audit({ event: 'login', user: 'old' });
  now += 5_000;
  store.audit({ event: 'login', user: 'new' });
  await store.close();
  now += 1_000;
  store = await LevelStore.open(dir, { now: () => now, auditRetentionMs: 3_000 });
  try {
    assert.equal((await store.listAudit(10)).map((e) => e.user), ['new']);
  } finally {
    await store.close();
  }
});

test('expired tokens are pruned at open', async () => {
  const dir = await tempDir();
  let now = 1_000;
  let store = await LevelStore.open(dir, { now: () => now });
  await store.createAccount('alice', 'h');
  const short = await store.issueToken('alice', 10);
  const long = await store.issueToken('alice', 10_000);
  await store.close();
  now += 100;
  store = await LevelStore.open(dir, { now: () => now });
  try {
    assert.is(await store.checkToken('alice', short), false);
    assert.is(await store.checkToken('alice', long), true);
  } finally {
    await store.close();
  }
});

test.run();
