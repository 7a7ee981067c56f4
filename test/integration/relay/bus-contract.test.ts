/**
 * The cluster bus contract: the same behavioural cases against LocalBus and RedisBus (a real
 * redis-server on a loopback port), then Redis-only cases with several RedisBus instances (several
 * relays) on one Redis. Without /usr/bin/redis-server the Redis side is skipped with a line.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ClusterBus, SealedMessage } from '../../../relay/bus.js';
import { LocalBus } from '../../../relay/local-bus.js';
import { RedisBus, type RedisBusOptions } from '../../../relay/redis-bus.js';
import { RedisStore } from '../../../relay/redis-store.js';
import type { MessageDraft } from '../../../relay/store.js';
import { ChatError } from '../../../shared/errors.js';
import { BusRecorder } from '../../helpers/bus-recorder.js';
import { eventually } from '../../helpers/wait.js';
import { REDIS_SERVER_PATH, redisServerAvailable, startRedisServer, type TestRedisServer } from '../../helpers/redis-server.js';
import { errorOf } from '../../helpers/errors.js';

/** One bus under test, with a way to get a message stored (the store publishes it on Redis). */
interface Subject {
  bus: ClusterBus;
  events: BusRecorder;
  store(draft: MessageDraft): Promise<void>;
  close(): Promise<void>;
}

type Backend = () => Promise<Subject>;

function whisper(body: string): SealedMessage {
  return { t: 'whisper', from: 'Alice', body, time: 1_000, id: 'w1' };
}

function draft(roomKey: string, id: string): MessageDraft {
  return { room: roomKey.toUpperCase(), roomKey, from: 'Alice', text: `text ${id}`, time: 2_000, id };
}

function contract(name: string, backend: Backend): void {
  const cases = suite(`bus contract (${name})`);
  let subject: Subject;
  cases.before.each(async () => {
    subject = await backend();
  });
  cases.after.each(async () => {
    await subject.close();
  });

  cases('take: a burst, then a refusal with the wait, then a token after that wait; keys apart', async () => {
    const { bus } = subject;
    for (let i = 0; i < 3; i++) assert.is(await bus.take('flood:alice', 10, 3), 0);
    const wait = await bus.take('flood:alice', 10, 3);
    assert.ok(wait > 0 && wait <= 100, `wait ${wait}`);
    assert.is(await bus.take('flood:bob', 10, 3), 0, 'another key has its own bucket');
    await new Promise((resolve) => setTimeout(resolve, wait + 5));
    assert.is(await bus.take('flood:alice', 10, 3), 0, 'refilled after the announced wait');
    assert.is(await bus.take('never', 0, 1), 0);
    assert.is(await bus.take('never', 0, 1), Infinity, 'no refill: never');
  });

  cases('take with prefetch never hands out more tokens than the bucket holds', async () => {
    const { bus } = subject;
    let taken = 0;
    for (let i = 0; i < 12; i++) if ((await bus.take('flood:carol', 0.001, 7, 5)) === 0) taken++;
    assert.is(taken, 7);
  });

  cases('sessions: claim, locate, room, release', async () => {
    const { bus } = subject;
    assert.is(await bus.locate('alice'), undefined);
    await bus.claimSession('alice');
    assert.equal(await bus.locate('alice'), { relayId: bus.relayId, roomKey: undefined });
    await bus.setUserRoom('alice', 'lobby');
    assert.equal(await bus.locate('alice'), { relayId: bus.relayId, roomKey: 'lobby' });
    await bus.setUserRoom('alice', undefined);
    assert.equal(await bus.locate('alice'), { relayId: bus.relayId, roomKey: undefined });
    await bus.releaseSession('alice');
    assert.is(await bus.locate('alice'), undefined);
    await bus.setUserRoom('alice', 'lobby'); // no session: nothing to change
    assert.is(await bus.locate('alice'), undefined);
  });

  cases('presence: enter, roster, chatrooms, away, leave events; the last leave ends the room', async () => {
    const { bus, events } = subject;
    await bus.watchRoom('lobby');
    await bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', false);
    assert.equal(await events.waitFor('presence'), { kind: 'presence', roomKey: 'lobby', roomName: 'Lobby', userName: 'Alice', event: 'join' });
    await bus.enterRoom('lobby', 'LOBBY', 'bob', 'bob', true);
    await bus.enterRoom('lobby', 'lobby', 'carol', 'Carol', false);
    // One channel keeps order: the event after Alice's join is Carol's (Bob entered silently),
    // and the room kept the name it was created with.
    const second = (await events.waitFor('presence', (e) => e.userName !== 'Alice'));
    assert.equal(second, { kind: 'presence', roomKey: 'lobby', roomName: 'Lobby', userName: 'Carol', event: 'join' });

    await bus.enterRoom('global', 'global', 'dave', 'Dave', true);
    assert.equal(await bus.roster('lobby'), [
      { userKey: 'alice', userName: 'Alice', away: false },
      { userKey: 'bob', userName: 'bob', away: false },
      { userKey: 'carol', userName: 'Carol', away: false },
    ]);
    assert.equal(await bus.chatrooms(), [{ name: 'Lobby', members: 3 }], 'the global room is not a chatroom');
    assert.is(await bus.roomLive('lobby'), true);
    assert.is(await bus.roomLive('elsewhere'), false);

    await bus.stepAway('lobby', 'bob', Date.now() + 60_000);
    assert.equal((await bus.roster('lobby')).map((m) => [m.userKey, m.away]), [['alice', false], ['bob', true], ['carol', false]]);
    await bus.enterRoom('lobby', 'Lobby', 'bob', 'bob', true); // back within the grace
    assert.equal((await bus.roster('lobby')).map((m) => m.away), [false, false, false]);

    const mark = events.mark();
    assert.is(await bus.leaveRoom('lobby', 'Lobby', 'alice', 'Alice'), false);
    assert.equal(await events.waitFor('presence', () => true, mark), { kind: 'presence', roomKey: 'lobby', roomName: 'Lobby', userName: 'Alice', event: 'leave' });
    assert.is(await bus.leaveRoom('lobby', 'Lobby', 'alice', 'Alice'), false, 'not in it: no second leave');
    assert.is(await bus.leaveRoom('lobby', 'Lobby', 'bob', 'bob'), false);
    assert.is(await bus.leaveRoom('lobby', 'Lobby', 'carol', 'Carol'), true, 'the last leave ends the chatroom');
    await events.waitFor('presence', (e) => e.userName === 'Carol' && e.event === 'leave', mark);
    assert.equal(events.of('presence', mark).map((e) => e.userName), ['Alice', 'bob', 'Carol']);
    assert.is(await bus.roomLive('lobby'), false);
    assert.equal(await bus.chatrooms(), []);
    assert.is(await bus.leaveRoom('global', 'global', 'dave', 'Dave'), false, 'the global room never ends');

    // An ended room starts again under a new display name.
    await bus.enterRoom('lobby', 'LoBBy', 'erin', 'Erin', true);
    assert.equal(await bus.chatrooms(), [{ name: 'LoBBy', members: 1 }]);
  });

  cases('away texts: kept on the member (from enterRoom or setAway), told to the room, cleared; not for non-members', async () => {
    const { bus, events } = subject;
    await bus.watchRoom('lobby');
    await bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', true, 'at lunch');
    await bus.enterRoom('lobby', 'Lobby', 'bob', 'Bob', true);
    assert.equal(await bus.roster('lobby'), [
      { userKey: 'alice', userName: 'Alice', away: false, awayText: 'at lunch' },
      { userKey: 'bob', userName: 'Bob', away: false },
    ]);
    await bus.setAway('lobby', 'lobby', 'bob', 'Bob', 'back in 5 ✓');
    assert.equal(await events.waitFor('away'), { kind: 'away', roomKey: 'lobby', roomName: 'Lobby', userName: 'Bob', text: 'back in 5 ✓' }, 'the room keeps its own spelling');
    assert.equal((await bus.roster('lobby')).map((m) => m.awayText), ['at lunch', 'back in 5 ✓']);
    // Stepping away on a dropped connection keeps the text (the grace is not a change of mind).
    await bus.stepAway('lobby', 'alice', Date.now() + 60_000);
    assert.equal((await bus.roster('lobby'))[0], { userKey: 'alice', userName: 'Alice', away: true, awayText: 'at lunch' });
    const mark = events.mark();
    await bus.setAway('lobby', 'Lobby', 'alice', 'Alice', undefined);
    assert.equal(await events.waitFor('away', () => true, mark), { kind: 'away', roomKey: 'lobby', roomName: 'Lobby', userName: 'Alice', text: undefined });
    assert.is((await bus.roster('lobby'))[0].awayText, undefined);
    // Entering again without a text clears it (the host passes the session's text each time).
    await bus.enterRoom('lobby', 'Lobby', 'bob', 'Bob', true);
    assert.equal((await bus.roster('lobby')).map((m) => m.awayText), [undefined, undefined]);
    await bus.setAway('lobby', 'Lobby', 'carol', 'Carol', 'not here');
    assert.equal((await bus.roster('lobby')).map((m) => m.userKey), ['alice', 'bob'], 'a non-member is not added');
    await bus.leaveRoom('lobby', 'Lobby', 'bob', 'Bob');
    assert.equal(events.of('away').map((e) => e.userName), ['Bob', 'Alice'], 'no event for a non-member');
  });

  cases('chatrooms are sorted by key with their member counts', async () => {
    const { bus } = subject;
    await bus.enterRoom('zoo', 'Zoo', 'alice', 'Alice', true);
    await bus.enterRoom('attic', 'Attic', 'bob', 'Bob', true);
    await bus.enterRoom('attic', 'Attic', 'carol', 'Carol', true);
    assert.equal(await bus.chatrooms(), [{ name: 'Attic', members: 2 }, { name: 'Zoo', members: 1 }]);
  });

  cases('routing: a sealed message reaches the target relay for its user, with its room', async () => {
    const { bus, events } = subject;
    await bus.route(bus.relayId, 'bob', whisper('ciphertext'), 'lobby');
    assert.equal(await events.waitFor('sealed'), { kind: 'sealed', userKey: 'bob', message: whisper('ciphertext'), roomKey: 'lobby' });
    const signal: SealedMessage = { t: 'signal', from: 'Alice', body: 'offer', time: 5, id: 's1' };
    await bus.route(bus.relayId, 'bob', signal, undefined);
    assert.equal(await events.waitFor('sealed', (e) => e.message.t === 'signal'), { kind: 'sealed', userKey: 'bob', message: signal, roomKey: undefined });
  });

  cases('announceReturn reaches the returned handler with this relay', async () => {
    const { bus, events } = subject;
    await bus.announceReturn('alice');
    assert.equal(await events.waitFor('returned'), { kind: 'returned', userKey: 'alice', relayId: bus.relayId });
  });

  cases('stored room messages reach roomMessage of a relay watching the room', async () => {
    const { bus, events } = subject;
    await bus.watchRoom('lobby');
    await subject.store(draft('lobby', 'm1'));
    await subject.store(draft('lobby', 'm2'));
    await events.waitFor('roomMessage', (e) => e.message.id === 'm2');
    assert.equal(events.of('roomMessage').map((e) => [e.message.seq, e.message.id, e.message.roomKey]), [[1, 'm1', 'lobby'], [2, 'm2', 'lobby']]);
  });

  cases('tickets: redeemed once, only as their kind; a cap per owner and kind; live records listed', async () => {
    const { bus } = subject;
    const first = await bus.issueTicket('put', 'alice', '{"n":1}', 60_000, 2);
    await bus.issueTicket('put', 'alice', '{"n":2}', 60_000, 2);
    assert.match(first, /^[A-Za-z0-9_-]{32}$/);
    assert.is((await errorOf(bus.issueTicket('put', 'alice', '{"n":3}', 60_000, 2))).code, 'E_RATE', 'the owner holds the most they may');
    await bus.issueTicket('get', 'alice', '{"n":4}', 60_000, 2); // another kind has its own cap
    await bus.issueTicket('put', 'bob', '{"n":5}', 60_000, 2); // another owner too
    assert.equal((await bus.liveTickets('put', 'alice')).sort(), ['{"n":1}', '{"n":2}']);
    assert.is(await bus.redeemTicket('get', first), undefined, 'not as another kind');
    assert.is(await bus.redeemTicket('put', first), '{"n":1}');
    assert.is(await bus.redeemTicket('put', first), undefined, 'single use');
    assert.is(await bus.redeemTicket('put', 'no-such-ticket'), undefined);
    assert.equal(await bus.liveTickets('put', 'alice'), ['{"n":2}'], 'a redeemed ticket is no longer live');
    await bus.issueTicket('put', 'alice', '{"n":6}', 60_000, 2); // room again under the cap
  });

  cases('tickets expire', async () => {
    const { bus } = subject;
    const ticket = await bus.issueTicket('pipe', 'alice', 'r', 50, 1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(await bus.liveTickets('pipe', 'alice'), []);
    assert.is(await bus.redeemTicket('pipe', ticket), undefined);
    await bus.issueTicket('pipe', 'alice', 'r', 50, 1); // an expired ticket no longer counts
  });

  cases('pipe rendezvous: the first side waits, the second finds it; one place each; leaving and expiry', async () => {
    const { bus } = subject;
    assert.equal(await bus.meetPipe('t|a|b', 't|b|a', 60_000), { kind: 'waiting' });
    assert.is((await errorOf(bus.meetPipe('t|a|b', 't|b|a', 60_000))).code, 'E_BAD_TICKET', 'this side already waits');
    assert.equal(await bus.meetPipe('t|b|a', 't|a|b', 60_000), { kind: 'partner', relayId: bus.relayId });
    assert.equal(await bus.meetPipe('t|c|a', 't|a|b', 60_000), { kind: 'waiting' }, 'a taken place is gone');
    await bus.leavePipe('t|c|a');
    assert.equal(await bus.meetPipe('t|a|c', 't|c|a', 60_000), { kind: 'waiting' }, 'a side that left is not found');
    assert.equal(await bus.meetPipe('u|a|b', 'u|b|a', 30), { kind: 'waiting' });
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(await bus.meetPipe('u|b|a', 'u|a|b', 60_000), { kind: 'waiting' }, 'a side whose wait ran out is not found');
  });

  cases.run();
}


// ---- LocalBus

contract('local', async () => {
  const bus = new LocalBus();
  const events = new BusRecorder();
  await bus.start(events);
  let seq = 0;
  return {
    bus,
    events,
    store: async (d) => bus.committed([{ ...d, seq: ++seq }]),
    close: () => bus.close(),
  };
});

// ---- RedisBus

if (!redisServerAvailable()) {
  console.log(`relay-bus-contract: ${REDIS_SERVER_PATH} is missing: the RedisBus side is skipped`);
} else {
  redisSide();
}

function redisSide(): void {
  let redis: TestRedisServer;
  let prefixes = 0;
  /** A fresh key prefix per test: the cases share one redis-server but nothing else. */
  const nextPrefix = (): string => `t${++prefixes}:`;

  async function redisBus(options: Partial<RedisBusOptions> & { keyPrefix: string; relayId: string }): Promise<{ bus: RedisBus; events: BusRecorder }> {
    const bus = new RedisBus({ url: redis.url, leaseMs: 1_000, graceMs: 60_000, ...options });
    const events = new BusRecorder();
    await bus.start(events);
    return { bus, events };
  }

  const setup = suite('redis bus: redis-server');
  setup('starts', async () => {
    redis = await startRedisServer();
  });
  setup.run();

  contract('redis', async () => {
    const keyPrefix = nextPrefix();
    const { bus, events } = await redisBus({ keyPrefix, relayId: 'r1' });
    const store = await RedisStore.connect(redis.url, { keyPrefix });
    return {
      bus,
      events,
      store: async (d) => void (await store.appendMessages([d])),
      close: async () => {
        await bus.close();
        await store.close();
      },
    };
  });

  const cluster = suite('redis bus: several relays on one Redis');
  const open: RedisBus[] = [];
  async function relays(count: number, options: Partial<RedisBusOptions> = {}): Promise<Array<{ bus: RedisBus; events: BusRecorder }>> {
    const keyPrefix = nextPrefix();
    const made = [];
    for (let i = 1; i <= count; i++) {
      const relay = await redisBus({ keyPrefix, relayId: `r${i}`, ...options });
      open.push(relay.bus);
      made.push(relay);
    }
    return made;
  }
  cluster.after.each(async () => {
    for (const bus of open.splice(0)) await bus.close();
  });

  cluster('flood tokens taken ahead are topped up in the background: a steady sender does not wait for Redis', async () => {
    const keyPrefix = nextPrefix();
    const { bus } = await redisBus({ keyPrefix, relayId: 'r1', leaseMs: 10_000 });
    open.push(bus);
    const raw = new Redis(redis.url);
    const bucket = async () => Number(await raw.hget(`${keyPrefix}bucket:flood:dora`, 'tokens'));
    try {
      // The first take waits for Redis and takes 10 (9 held); spending to 5 held starts a top-up.
      for (let i = 0; i < 5; i++) assert.is(await bus.take('flood:dora', 0.001, 100, 10), 0);
      await eventually(async () => (await bucket()) < 81, 'the background top-up took 10 more');
      assert.ok((await bucket()) >= 79.99, 'exactly one top-up');
      // Redis answers no one now; the 15 held tokens are spent here without asking it.
      await raw.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const started = Date.now();
      for (let i = 0; i < 15; i++) assert.is(await bus.take('flood:dora', 0.001, 100, 10), 0);
      assert.ok(Date.now() - started < 1_000, `15 takes while Redis was paused took ${Date.now() - started} ms`);
    } finally {
      await raw.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      raw.disconnect();
    }
  });

  cluster('a ticket issued on r1 is redeemed on r2 (once); a pipe side waiting on r1 is found from r2; link addresses', async () => {
    const [r1, r2] = await relays(2);
    const ticket = await r1.bus.issueTicket('get', 'alice', 'record', 60_000, 4);
    assert.is(await r2.bus.redeemTicket('get', ticket), 'record');
    assert.is(await r1.bus.redeemTicket('get', ticket), undefined);
    assert.equal(await r1.bus.meetPipe('t|a|b', 't|b|a', 60_000), { kind: 'waiting' });
    assert.equal(await r2.bus.meetPipe('t|b|a', 't|a|b', 60_000), { kind: 'partner', relayId: 'r1' });
    assert.is(await r2.bus.linkAddress('r1'), undefined);
    await r1.bus.advertiseLink('127.0.0.1:7445');
    assert.is(await r2.bus.linkAddress('r1'), '127.0.0.1:7445');
  });

  cluster('a second relay with a live relay id is refused at start; after a kill the id is free once the lease lapses', async () => {
    const keyPrefix = nextPrefix();
    const first = await redisBus({ keyPrefix, relayId: 'r1', leaseMs: 400 });
    open.push(first.bus);
    const twin = new RedisBus({ url: redis.url, keyPrefix, relayId: 'r1', leaseMs: 400 });
    const refused = await errorOf(twin.start(new BusRecorder()));
    assert.is(refused.code, 'E_USAGE');
    assert.match(refused.message, /relay id r1 is in use/);
    first.bus.abandon(); // as kill -9: the lease is not given back
    const started = Date.now();
    const successor = await redisBus({ keyPrefix, relayId: 'r1', leaseMs: 400 });
    open.push(successor.bus);
    assert.ok(Date.now() - started < 1_500, `started once the old lease lapsed (${Date.now() - started} ms)`);
  });

  cluster('a login on r2 makes r1 let the user go (replaced); locate follows', async () => {
    const [r1, r2] = await relays(2);
    await r1.bus.claimSession('alice');
    await r2.bus.claimSession('alice');
    assert.equal(await r1.events.waitFor('replaced'), { kind: 'replaced', userKey: 'alice' });
    assert.equal(await r2.bus.locate('alice'), { relayId: 'r2', roomKey: undefined });
    // r1's late clean-up must not forget r2's session, nor move its room.
    await r1.bus.setUserRoom('alice', 'attic');
    await r1.bus.releaseSession('alice');
    assert.equal(await r1.bus.locate('alice'), { relayId: 'r2', roomKey: undefined });
    assert.equal(r2.events.of('replaced'), [], 'the relay that claimed is not told to let go');
  });

  cluster('a whisper routed on r1 reaches r2 only; announceReturn reaches every relay', async () => {
    const [r1, r2] = await relays(2);
    await r1.bus.route('r2', 'bob', whisper('sealed-box'), undefined);
    assert.equal((await r2.events.waitFor('sealed')).message, whisper('sealed-box'));
    await r2.bus.announceReturn('bob');
    await r1.events.waitFor('returned', (e) => e.relayId === 'r2');
    await r2.events.waitFor('returned', (e) => e.relayId === 'r2');
    assert.equal(r1.events.of('sealed'), [], 'r1 has no inbox traffic');
    // An inbox nobody listens on: the sender hears it, the whisper is not silently lost.
    try {
      await r1.bus.route('r9', 'bob', whisper('nowhere'), undefined);
      assert.unreachable('routed to a relay that does not exist');
    } catch (error) {
      assert.instance(error, ChatError);
      assert.is((error as ChatError).code, 'E_STORE_UNAVAILABLE');
    }
  });

  cluster('an away text set on r1 reaches r2 and shows in the roster read on r2; r2 cannot change r1\'s member', async () => {
    const [r1, r2] = await relays(2);
    await r1.bus.watchRoom('lobby');
    await r2.bus.watchRoom('lobby');
    await r1.bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', true);
    await r1.bus.setAway('lobby', 'Lobby', 'alice', 'Alice', 'gone fishing');
    assert.equal(await r2.events.waitFor('away'), { kind: 'away', roomKey: 'lobby', roomName: 'Lobby', userName: 'Alice', text: 'gone fishing' });
    assert.equal(await r2.bus.roster('lobby'), [{ userKey: 'alice', userName: 'Alice', away: false, awayText: 'gone fishing' }]);
    await r2.bus.setAway('lobby', 'Lobby', 'alice', 'Alice', undefined);
    assert.is((await r1.bus.roster('lobby'))[0].awayText, 'gone fishing', 'only the relay that lists the member changes it');
  });

  cluster('a room watched on two relays sees presence from both; members from both in one roster', async () => {
    const [r1, r2] = await relays(2);
    await r1.bus.watchRoom('lobby');
    await r2.bus.watchRoom('lobby');
    await r1.bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', false);
    await r2.bus.enterRoom('lobby', 'Lobby', 'bob', 'Bob', false);
    for (const relay of [r1, r2]) {
      await relay.events.waitFor('presence', (e) => e.userName === 'Bob');
      assert.equal(relay.events.of('presence').map((e) => `${e.userName} ${e.event}`), ['Alice join', 'Bob join']);
    }
    assert.equal((await r1.bus.roster('lobby')).map((m) => m.userName), ['Alice', 'Bob']);
    assert.equal(await r2.bus.chatrooms(), [{ name: 'Lobby', members: 2 }]);
    // A leave r1 runs late for a user who came back on r2 meanwhile does not remove them.
    await r1.bus.enterRoom('lobby', 'Lobby', 'carol', 'Carol', true);
    await r1.bus.stepAway('lobby', 'carol', Date.now() + 60_000);
    await r2.bus.enterRoom('lobby', 'Lobby', 'carol', 'Carol', true);
    assert.is(await r1.bus.leaveRoom('lobby', 'Lobby', 'carol', 'Carol'), false);
    assert.equal((await r2.bus.roster('lobby')).map((m) => [m.userName, m.away]), [['Alice', false], ['Bob', false], ['Carol', false]]);
  });

  cluster('a relay that dies: its members turn away after the lease, and each leave is published once after the grace', async () => {
    const [r1, r2, r3] = await relays(3, { leaseMs: 400, graceMs: 300 });
    for (const relay of [r2, r3]) await relay.bus.watchRoom('lobby');
    await r1.bus.claimSession('alice');
    await r1.bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', true);
    await r1.bus.enterRoom('lobby', 'Lobby', 'amy', 'Amy', true);
    await r2.bus.enterRoom('lobby', 'Lobby', 'bob', 'Bob', true);
    r1.bus.abandon();
    open.splice(open.indexOf(r1.bus), 1);

    await eventually(async () => (await r2.bus.roster('lobby')).filter((m) => m.away).length === 2, 'r1 members away');
    assert.equal((await r2.bus.roster('lobby')).map((m) => [m.userName, m.away]), [['Alice', true], ['Amy', true], ['Bob', false]]);
    const leftAt = await r2.events.waitFor('presence', (e) => e.userName === 'Amy' && e.event === 'leave');
    await r2.events.waitFor('presence', (e) => e.userName === 'Alice' && e.event === 'leave');
    assert.is(leftAt.roomName, 'Lobby');
    assert.equal((await r3.bus.roster('lobby')).map((m) => m.userName), ['Bob']);
    // Both r2 and r3 sweep. A fence event after the leaves: any second leave would come before it.
    await r2.bus.enterRoom('lobby', 'Lobby', 'fence', 'Fence', false);
    for (const relay of [r2, r3]) {
      await relay.events.waitFor('presence', (e) => e.userName === 'Fence');
      assert.equal(relay.events.of('presence').map((e) => `${e.userName} ${e.event}`).sort(), ['Alice leave', 'Amy leave', 'Fence join']);
    }
    assert.is(await r2.bus.locate('alice'), undefined, "a session on a dead relay is forgotten");
  });

  cluster('a relay whose lease lapsed (another relay may have counted it gone) is cut off', async () => {
    const [r1] = await relays(1, { leaseMs: 300 });
    const raw = new Redis(redis.url);
    try {
      await raw.del(`t${prefixes}:relay:r1:alive`);
      assert.match((await r1.events.waitFor('cutOff')).reason, /lapsed/);
    } finally {
      raw.disconnect();
    }
  });

  cluster('a relay starting again under its id counts its leftovers as away at once', async () => {
    const [r1, r2] = await relays(2);
    await r1.bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', true);
    r1.bus.abandon();
    open.splice(open.indexOf(r1.bus), 1);
    const again = new RedisBus({ url: redis.url, relayId: 'r1', keyPrefix: `t${prefixes}:`, leaseMs: 1_000 });
    open.push(again);
    await again.start(new BusRecorder());
    assert.equal(await r2.bus.roster('lobby'), [{ userKey: 'alice', userName: 'Alice', away: true }]);
  });

  cluster('start fails with E_STORE_UNAVAILABLE when Redis cannot be reached', async () => {
    const bus = new RedisBus({ url: 'redis://127.0.0.1:1', relayId: 'r1', keyPrefix: nextPrefix() });
    try {
      await bus.start(new BusRecorder());
      assert.unreachable('started without Redis');
    } catch (error) {
      assert.instance(error, ChatError);
      assert.is((error as ChatError).code, 'E_STORE_UNAVAILABLE');
    }
    await bus.close();
  });

  cluster('corrupt publishes are dropped; the relay goes on', async () => {
    const [r1] = await relays(1);
    const raw = new Redis(redis.url);
    try {
      await r1.bus.watchRoom('lobby');
      const prefix = `t${prefixes}:`;
      for (const text of ['not json', '{"t":"presence"}', '{"seq":1}', '[]', 'null', JSON.stringify({ t: 'presence', room: 'Lobby', user: 'X', event: 'explode' })]) {
        await raw.publish(`${prefix}room:lobby`, text);
        await raw.publish(`${prefix}relay:r1`, text);
        await raw.publish(`${prefix}cluster`, text);
      }
      // A sealed message that is not a whisper or signal, and a stored message for another room.
      await raw.publish(`${prefix}relay:r1`, JSON.stringify({ t: 'sealed', userKey: 'bob', message: { t: 'ping' } }));
      await raw.publish(`${prefix}room:lobby`, JSON.stringify({ room: 'Attic', roomKey: 'attic', seq: 1, from: 'A', text: '', time: 1, id: 'x' }));
      await r1.bus.enterRoom('lobby', 'Lobby', 'alice', 'Alice', false);
      await r1.bus.route('r1', 'bob', whisper('ok'), undefined);
      await r1.events.waitFor('presence');
      await r1.events.waitFor('sealed');
      assert.equal(r1.events.events.map((e) => e.kind), ['resubscribed', 'presence', 'sealed']);
    } finally {
      raw.disconnect();
    }
  });

  cluster('whispers and signals never reach the AOF', async () => {
    const [r1, r2] = await relays(2);
    const marker = `WHISPER-MARKER-${process.pid}-${Date.now()}`;
    await r1.bus.route('r2', 'bob', whisper(marker), undefined);
    await r1.bus.route('r2', 'bob', { t: 'signal', from: 'Alice', body: `${marker}-signal`, time: 1, id: 's1' }, 'lobby');
    await r2.events.waitFor('sealed', (e) => e.message.t === 'signal');
    // Presence and sessions are written (they must be): the AOF is flushed once the fence is there.
    await r1.bus.enterRoom('lobby', 'Lobby', `fence${process.pid}`, 'Fence', false);
    const fence = `fence${process.pid}`;
    const aof = async (): Promise<string> => {
      const dir = join(redis.dir, 'appendonlydir');
      const files = await readdir(dir);
      return (await Promise.all(files.map((file) => readFile(join(dir, file), 'latin1')))).join('\n');
    };
    await eventually(async () => (await aof()).includes(fence), 'the fence write in the AOF');
    const text = await aof();
    assert.not.ok(text.includes(marker), 'a whisper body is in the AOF');
    assert.not.ok(text.includes('WHISPER-MARKER'), 'a whisper body is in the AOF');
  });

  cluster.run();

  const outage = suite('redis bus: Redis down and back');
  let own: TestRedisServer;
  outage.before(async () => {
    own = await startRedisServer();
  });
  outage.after(async () => {
    await own.stop();
  });
  outage('fails fast while Redis is down, cuts off after the lease, re-subscribes and recovers when Redis is back', async () => {
    const bus = new RedisBus({ url: own.url, relayId: 'r1', keyPrefix: 'o:', leaseMs: 600 });
    const events = new BusRecorder();
    await bus.start(events);
    try {
      await bus.watchRoom('lobby');
      await events.waitFor('resubscribed', (e) => e.roomKey === 'lobby');
      const mark = events.mark();
      await own.kill9();

      const started = Date.now();
      try {
        await bus.take('k', 1, 1);
        assert.unreachable('take while Redis is down');
      } catch (error) {
        assert.instance(error, ChatError);
        assert.is((error as ChatError).code, 'E_STORE_UNAVAILABLE');
      }
      assert.ok(Date.now() - started < 1_000, `failed fast (${Date.now() - started} ms)`);
      await bus.watchRoom('attic'); // remembered while down, subscribed on reconnect
      await events.waitFor('cutOff', () => true, mark);

      await own.restart();
      await events.waitFor('resubscribed', (e) => e.roomKey === 'lobby', mark);
      await events.waitFor('resubscribed', (e) => e.roomKey === 'attic', mark);
      await eventually(async () => (await bus.take('k', 1, 5).catch(() => -1)) === 0, 'commands work again');
      // Events flow on the new subscription. (Presence written just before a kill -9 may be
      // lost: AOF everysec; the relays' sweep and the clients' resume rebuild it.)
      await bus.enterRoom('lobby', 'Lobby', 'bob', 'Bob', false);
      await events.waitFor('presence', (e) => e.userName === 'Bob', mark);
      assert.is(events.of('cutOff', mark).length, 1, 'cut off once per outage');
    } finally {
      await bus.close();
    }
  });
  outage.run();

  const teardown = suite('redis bus: teardown');
  teardown('stops redis-server', async () => {
    await redis.stop();
  });
  teardown.run();
}
