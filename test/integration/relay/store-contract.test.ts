/**
 * The durable-store contract (relay/store.ts), one suite body run unchanged against every
 * backend: LevelStore (temp folder) and RedisStore (a real redis-server, skipped with a printed
 * line when none is installed). Backend-specific behaviour lives in test/integration/relay/store.test.ts
 * (LevelDB) and test/integration/relay/redis-store.test.ts (Redis).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../helpers/errors.js';
import { ChatError } from '../../../shared/errors.js';
import type { MessageDraft, RelayStore, StoredMessage, StoredRoomFile } from '../../../relay/store.js';
import { availableBackends, type StoreBackend } from '../../helpers/store-backends.js';
import { definePrekeyContract } from '../../helpers/prekey-contract.js';

/** The n-th message of a room as drafted (text `m<n>`, client id `<room>-<n>` unless overridden). */
function draft(roomKey: string, n: number, over: Partial<MessageDraft> = {}): MessageDraft {
  return { room: roomKey.toUpperCase(), roomKey, from: 'Alice', text: `m${n}`, time: 1_000 + n, id: `${roomKey}-${n}`, ...over };
}

/** The same message as stored with sequence id `seq`. */
function stored(roomKey: string, n: number, seq: number, over: Partial<MessageDraft> = {}): StoredMessage {
  const d = draft(roomKey, n, over);
  return { room: d.room, roomKey: d.roomKey, seq, from: d.from, text: d.text, time: d.time, id: d.id };
}

function roomFile(id: string, over: Partial<StoredRoomFile> = {}): StoredRoomFile {
  return { id, room: 'Lobby', name: `${id}.txt`, size: 10, hash: 'ab'.repeat(64), from: 'alice', time: 1_000, path: `p${id}`, ...over };
}

function defineContract(backend: StoreBackend): void {
  const spec = suite(`store contract: ${backend.name}`);
  spec.before(() => backend.setUp());
  spec.before.each(() => backend.reset());
  spec.after(() => backend.tearDown());

  /** Runs `body` with a freshly opened store and closes it after (also on failure). */
  async function withStore(body: (store: RelayStore) => Promise<void>, options = {}): Promise<void> {
    const store = await backend.open(options);
    try {
      await body(store);
    } finally {
      await store.close();
    }
  }

  spec('accounts: many read at once, in order, undefined where getAccount gives it', () =>
    withStore(async (store) => {
      await store.createAccount('Alice', 'hash-a');
      await store.createAccount('Bob', 'hash-b');
      const many = await store.getAccounts(['bob', 'no such', 'nobody', 'ALICE', 'alice:x', 'Bob']);
      assert.equal(
        many.map((account) => account?.name),
        ['Bob', undefined, undefined, 'Alice', undefined, 'Bob'],
      );
      assert.is(many[0]?.passwordHash, 'hash-b');
      assert.equal(await store.getAccounts([]), []);
    }),
  );

  spec('accounts: create, case-insensitive lookup, duplicates, password and keys change, removal, list', () =>
    withStore(async (store) => {
      await store.createAccount('Alice', 'hash-a');
      const a = await store.getAccount('ALICE');
      assert.is(a?.name, 'Alice');
      assert.is(a?.passwordHash, 'hash-a');
      assert.type(a?.created, 'number');
      assert.is(a?.disabled, undefined);
      await rejectsWith(store.createAccount('alice', 'x'), 'E_USER_EXISTS');
      await rejectsWith(store.createAccount('bad name', 'x'), 'E_BAD_NAME');
      await rejectsWith(store.createAccount('a:b', 'x'), 'E_BAD_NAME');
      assert.is(await store.getAccount('no such'), undefined);
      assert.is(await store.getAccount('nobody'), undefined);
      assert.is(await store.getAccount('alice:x'), undefined);

      assert.is(await store.setPasswordHash('alice', 'hash-b'), true);
      assert.is((await store.getAccount('Alice'))?.passwordHash, 'hash-b');
      assert.is(await store.setPasswordHash('nobody', 'x'), false);
      assert.is(await store.setPasswordHash('', 'x'), false);
      const keys = { v: 1, sign: 's', box: 'b', sig: 'x' } as never;
      assert.is(await store.setKeys('ALICE', keys), true);
      assert.equal((await store.getAccount('alice'))?.keys, keys);
      assert.is(await store.setKeys('nobody', keys), false);

      await store.createAccount('bob', 'hash-c', keys);
      assert.equal((await store.getAccount('bob'))?.keys, keys);
      assert.equal((await store.listAccounts()).map((r) => r.name), ['Alice', 'bob']);
      assert.is(await store.removeAccount('BOB'), true);
      assert.is(await store.removeAccount('bob'), false);
      assert.is(await store.removeAccount('!!'), false);
      assert.is(await store.getAccount('bob'), undefined);
      assert.equal((await store.listAccounts()).map((r) => r.name), ['Alice']);
      // A removed name can be registered again.
      await store.createAccount('Bob', 'hash-d');
      assert.is((await store.getAccount('bob'))?.name, 'Bob');
    }),
  );

  spec('accounts survive a restart', async () => {
    await withStore((store) => store.createAccount('Carol', 'h'));
    await withStore(async (store) => assert.is((await store.getAccount('carol'))?.name, 'Carol'));
  });

  spec('concurrent creation of one name: exactly one wins', () =>
    withStore(async (store) => {
      const results = await Promise.allSettled(['carol', 'Carol', 'CAROL', 'carol'].map((n) => store.createAccount(n, 'h')));
      assert.is(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.is((r.reason as ChatError).code, 'E_USER_EXISTS');
      assert.is((await store.listAccounts()).length, 1);
    }),
  );

  spec('resume tokens: check, other user, unknown, expiry, revoke one and all, restart, account removal', async () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    let store = await backend.open(clock);
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
      assert.is(await store.checkToken('bob', tb), false);
      assert.is(await store.checkToken('alice', t2), true);

      await store.revokeToken(t2);
      await store.revokeToken(t2); // unknown: ignored
      await store.revokeToken('');
      await store.revokeToken('x'.repeat(10_000));
      assert.is(await store.checkToken('alice', t2), false);

      const t3 = await store.issueToken('alice', 60_000);
      const t4 = await store.issueToken('alice', 60_000);
      const tb2 = await store.issueToken('bob', 60_000);
      await store.revokeTokens('ALICE');
      await store.revokeTokens('nobody');
      assert.is(await store.checkToken('alice', t3), false);
      assert.is(await store.checkToken('alice', t4), false);
      assert.is(await store.checkToken('bob', tb2), true);
      // Tokens issued after a revoke-all work.
      const t5 = await store.issueToken('alice', 60_000);
      assert.is(await store.checkToken('alice', t5), true);

      // Tokens survive a restart.
      await store.close();
      store = await backend.open(clock);
      assert.is(await store.checkToken('bob', tb2), true);

      await store.removeAccount('bob');
      assert.is(await store.checkToken('bob', tb2), false);
      await store.createAccount('bob', 'h'); // a new bob does not inherit the old tokens
      assert.is(await store.checkToken('bob', tb2), false);
    } finally {
      await store.close();
    }
  });

  spec('a token for a name without an account is refused', () =>
    withStore(async (store) => {
      const orphan = await store.issueToken('ghost', 60_000);
      assert.is(await store.checkToken('ghost', orphan), false);
      await rejectsWith(store.issueToken('a:b', 60_000), 'E_BAD_NAME');
      await rejectsWith(store.issueToken('', 60_000), 'E_BAD_NAME');
    }),
  );

  spec('room log: dense seqs per room from 1, rooms apart (prefix names), paging back, since, hasMore', () =>
    withStore(async (store) => {
      const a = Array.from({ length: 25 }, (_, i) => draft('a', i + 1));
      const ab = Array.from({ length: 3 }, (_, i) => draft('ab', i + 1));
      const first = await store.appendMessages([...a.slice(0, 10), ...ab]);
      assert.equal(first.map((o) => [o.message.roomKey, o.message.seq, o.duplicate]), [
        ...a.slice(0, 10).map((_, i) => ['a', i + 1, false]),
        ['ab', 1, false], ['ab', 2, false], ['ab', 3, false],
      ]);
      await store.appendMessages(a.slice(10));
      assert.equal(await store.appendMessages([]), []);

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
      assert.equal((await store.lastMessages('a', 1)).messages[0], stored('a', 25, 25));

      let since = await store.messagesSince('a', 9, 5);
      assert.equal(since.messages.map((m) => m.seq), [10, 11, 12, 13, 14]);
      assert.is(since.hasMore, true);
      since = await store.messagesSince('a', 20, 5);
      assert.equal(since.messages.map((m) => m.seq), [21, 22, 23, 24, 25]);
      assert.is(since.hasMore, false);
      assert.equal(await store.messagesSince('a', 25, 5), { messages: [], hasMore: false });
      since = await store.messagesSince('a', -1, 2);
      assert.equal(since.messages.map((m) => m.seq), [1, 2]);
      since = await store.messagesSince('a', 0, 100);
      assert.is(since.messages.length, 25);
      assert.equal(since.messages[0], stored('a', 1, 1));
      assert.is((await store.messagesSince('ab', 0, 100)).messages.length, 3);
      assert.equal(await store.messagesSince('a', Number.MAX_SAFE_INTEGER, 5), { messages: [], hasMore: false });
      assert.equal(await store.messagesSince('nope', 0, 5), { messages: [], hasMore: false });
    }),
  );

  spec('room log: concurrent appends are numbered in call order', () =>
    withStore(async (store) => {
      const outcomes = await Promise.all([1, 2, 3, 4].map((n) => store.appendMessages([draft('lobby', n), draft('lobby', n + 10)])));
      assert.equal(outcomes.flat().map((o) => o.message.text), ['m1', 'm11', 'm2', 'm12', 'm3', 'm13', 'm4', 'm14']);
      assert.equal(outcomes.flat().map((o) => o.message.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
    }),
  );

  spec('room log: text is stored as given (quotes, backslashes, newlines, non-ASCII)', () =>
    withStore(async (store) => {
      const text = 'say "hi" \\ {"seq":99}\n\u0000 ünïcødé 🙂';
      const [outcome] = await store.appendMessages([draft('lobby', 1, { text })]);
      assert.is(outcome.message.text, text);
      assert.is((await store.lastMessages('lobby', 1)).messages[0].text, text);
    }),
  );

  spec('appendMessages refuses drafts that would break a key layout; nothing of such a batch is stored', () =>
    withStore(async (store) => {
      await rejectsWith(store.appendMessages([draft('a!b', 1)]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('a:b', 1)]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('', 1)]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('Lobby', 1)]), 'E_INTERNAL'); // not a key: upper case
      await rejectsWith(store.appendMessages([draft('a', 1), draft('a!', 2)]), 'E_INTERNAL');
      // Client ids come from the network: bounded like the wire's ids.
      await rejectsWith(store.appendMessages([draft('a', 1, { id: 'x'.repeat(65) })]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('a', 1, { id: 'c:1' })]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('a', 1, { id: 'c!1' })]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('a', 1, { id: '' })]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('a', 1, { from: 'a:b' })]), 'E_INTERNAL');
      await rejectsWith(store.appendMessages([draft('a', 1, { time: Number.NaN })]), 'E_INTERNAL');
      assert.equal((await store.lastMessages('a', 10)).messages, []);
      const [first] = await store.appendMessages([draft('a', 1, { id: 'x'.repeat(64) })]);
      assert.is(first.message.seq, 1);
      assert.is(await store.findByClientId('alice', 'c:1'), undefined);
      assert.is(await store.findByClientId('alice', 'x'.repeat(65)), undefined);
      assert.is(await store.findByClientId('a:b', 'a-1'), undefined);
    }),
  );

  spec('client ids: a retry (later batch, same batch, after a restart) is the first message, never stored twice', async () => {
    await withStore(async (store) => {
      await store.appendMessages([draft('lobby', 1, { id: 'c1' }), draft('lobby', 2, { id: 'c2', from: 'Bob' }), draft('dev', 1, { id: 'c1', from: 'Bob' })]);
      // A later batch: the retry answers with the first copy (its seq, text and time), not the new draft.
      const later = await store.appendMessages([draft('lobby', 3, { id: 'c3' }), draft('lobby', 9, { id: 'c1', text: 'retry' })]);
      assert.equal(later, [
        { message: stored('lobby', 3, 3, { id: 'c3' }), duplicate: false },
        { message: stored('lobby', 1, 1, { id: 'c1' }), duplicate: true },
      ]);
    });
    await withStore(async (store) => {
      // After a restart.
      assert.is((await store.findByClientId('alice', 'c1'))?.seq, 1);
      assert.equal(await store.findByClientId('BOB', 'c1'), stored('dev', 1, 1, { id: 'c1', from: 'Bob' }));
      assert.is((await store.findByClientId('bob', 'c2'))?.roomKey, 'lobby');
      assert.is(await store.findByClientId('alice', 'c2'), undefined);
      assert.is(await store.findByClientId('carol', 'c1'), undefined);
      // Numbering continues where it stopped; a known id (also twice in one batch, or sent to
      // another room) is the first copy.
      const outcomes = await store.appendMessages([
        draft('lobby', 4, { id: 'c4' }),
        draft('dev', 9, { id: 'c1', from: 'bob', text: 'again' }),
        draft('lobby', 5, { id: 'c4', text: 'twice in one batch' }),
        draft('dev', 2, { id: 'c5' }),
        draft('dev', 3, { id: 'c2', from: 'BOB', text: 'other room' }),
      ]);
      assert.equal(
        outcomes.map((o) => [o.message.roomKey, o.message.seq, o.duplicate, o.message.text]),
        [['lobby', 4, false, 'm4'], ['dev', 1, true, 'm1'], ['lobby', 4, true, 'm4'], ['dev', 2, false, 'm2'], ['lobby', 2, true, 'm2']],
      );
      assert.equal((await store.lastMessages('lobby', 10)).messages.map((m) => m.seq), [1, 2, 3, 4]);
      assert.equal((await store.lastMessages('lobby', 10)).messages.map((m) => m.id), ['c1', 'c2', 'c3', 'c4']);
      assert.equal((await store.lastMessages('dev', 10)).messages.map((m) => m.text), ['m1', 'm2']);
    });
  });

  spec('client ids of two users are independent', () =>
    withStore(async (store) => {
      const outcomes = await store.appendMessages([draft('lobby', 1, { id: 'same' }), draft('lobby', 2, { id: 'same', from: 'bob' })]);
      assert.equal(outcomes.map((o) => [o.message.seq, o.message.from, o.duplicate]), [[1, 'Alice', false], [2, 'bob', false]]);
      assert.is((await store.findByClientId('ALICE', 'same'))?.seq, 1);
      assert.is((await store.findByClientId('Bob', 'same'))?.seq, 2);
    }),
  );

  spec('room files index: put, list by room, delete, every file, survives a restart', async () => {
    await withStore(async (store) => {
      await store.putRoomFile('lobby', roomFile('bb01'));
      await store.putRoomFile('lobby', roomFile('aa01'));
      await store.putRoomFile('lobbyx', roomFile('cc01', { room: 'LobbyX' }));
      assert.equal((await store.listRoomFiles('lobby')).map((f) => f.id), ['aa01', 'bb01']);
      assert.equal(await store.listRoomFiles('lobbyx'), [roomFile('cc01', { room: 'LobbyX' })]);
      assert.equal(await store.listRoomFiles('none'), []);
      await store.putRoomFile('lobby', roomFile('aa01', { size: 99 })); // replaces
      assert.is((await store.listRoomFiles('lobby'))[0].size, 99);
      await store.deleteRoomFile('lobby', 'bb01');
      await store.deleteRoomFile('lobby', 'ffff'); // unknown: ignored
      await rejectsWith(store.putRoomFile('a!b', roomFile('dd01')), 'E_INTERNAL');
      await rejectsWith(store.putRoomFile('a:b', roomFile('dd01')), 'E_INTERNAL');
    });
    await withStore(async (store) => {
      const all = await store.allRoomFiles();
      assert.equal(
        all.map(({ roomKey, file }) => [roomKey, file.id]).sort(),
        [['lobby', 'aa01'], ['lobbyx', 'cc01']],
      );
      await store.deleteRoomFile('lobbyx', 'cc01');
      assert.equal((await store.allRoomFiles()).map(({ roomKey }) => roomKey), ['lobby']);
    });
  });

  spec('audit: queued without blocking, newest first, flushed on close, clipped fields', async () => {
    let now = 5_000_000;
    const clock = { now: () => now };
    let store = await backend.open(clock);
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
      assert.equal(await store.listAudit(0), []);

      // Many events in one tick: all written, same-millisecond order kept.
      for (let i = 0; i < 1_200; i++) store.audit({ event: 'rate-limited', detail: String(i) });
      store.audit({ event: 'logout', user: 'alice' });
      await store.close();
      store.audit({ event: 'login' }); // after close: ignored, never throws
      store = await backend.open(clock);
      const after = await store.listAudit(2_000);
      assert.is(after.length, 1_204);
      assert.is(after[0].event, 'logout');
      assert.is(after[1].detail, '1199');
      assert.is(after[1_200].detail, '0');
    } finally {
      await store.close();
    }
  });

  spec('audit: events older than the retention are pruned at open', async () => {
    let now = 10_000_000;
    await withStore(
      async (store) => {
        store.audit({ event: 'login', user: 'old' });
        now += 5_000;
        store.audit({ event: 'login', user: 'new' });
      },
      { now: () => now },
    );
    now += 1_000;
    await withStore(async (store) => assert.equal((await store.listAudit(10)).map((e) => e.user), ['new']), { now: () => now, auditRetentionMs: 3_000 });
  });

  definePrekeyContract(spec, backend, withStore);

  spec('close is idempotent and isClosed tells', async () => {
    const store = await backend.open();
    assert.is(store.isClosed, false);
    await Promise.all([store.close(), store.close()]);
    await store.close();
    assert.is(store.isClosed, true);
  });

  spec.run();
}

for (const backend of availableBackends()) defineContract(backend);
