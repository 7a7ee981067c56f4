/**
 * Property test: random delivery orders of a few thousand messages between two and three
 * devices, with losses, duplicates and reordering, from a seeded PRNG (bounded in count).
 * Properties: every delivered message opens exactly once with its own text; a duplicate is
 * refused as a replay; a lost message never hinders the others; a session saved as JSON and
 * loaded again (a restart) carries on as if nothing happened.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../../../../shared/errors.js';
import { Session } from '../../../../shared/crypto/session.js';
import { TestDevice } from '../../../helpers/session-devices.js';
import { seededRandom as prng } from '../../../../bench/lib/seeded-random.js';


interface InFlight {
  from: TestDevice;
  to: TestDevice;
  body: string;
  text: string;
  delivered: boolean;
}

async function run(seed: number, users: string[], messages: number): Promise<{ opened: number; lost: number; replays: number; restarts: number }> {
  await sodium.ready;
  const random = prng(seed);
  const devices = await Promise.all(users.map((user) => TestDevice.create(user, 'd1', 20)));
  const inFlight: InFlight[] = [];
  let sent = 0;
  let opened = 0;
  let lost = 0;
  let replays = 0;
  let restarts = 0;
  const deliver = async (index: number): Promise<void> => {
    const m = inFlight[index];
    if (m.delivered) {
      const error = await m.to.receive(m.from.me.user, m.body).then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof ChatError && error.code === 'E_REPLAY', `duplicate refused (seed ${seed})`);
      replays++;
      inFlight.splice(index, 1);
      return;
    }
    assert.is(await m.to.receive(m.from.me.user, m.body), m.text, `seed ${seed}: ${m.text}`);
    opened++;
    m.delivered = true;
    if (random() < 0.9) inFlight.splice(index, 1); // else it stays: a later duplicate
  };
  for (let step = 0; sent < messages && step < messages * 4; step++) {
    if (random() < 0.55 || inFlight.length === 0) {
      const from = devices[Math.floor(random() * devices.length)];
      const others = devices.filter((d) => d !== from);
      const to = others[Math.floor(random() * others.length)];
      // One side starts each pair's session (the lower index): crossing X3DH starts are the
      // client's business (docs/crypto.md), not the ratchet's.
      if (!from.sessions.has(to.key) && devices.indexOf(from) > devices.indexOf(to)) continue;
      const text = `${from.me.user}->${to.me.user} #${sent}`;
      const body = await from.send(to, text);
      sent++;
      if (random() < 0.05) lost++; // lost on the way (initial messages too: the next one carries the prefix again)
      else inFlight.push({ from, to, body, text, delivered: false });
    } else {
      // Mostly recent messages, sometimes one from far back: reordering of any depth in flight.
      const index = random() < 0.8 ? inFlight.length - 1 - Math.floor(random() * Math.min(5, inFlight.length)) : Math.floor(random() * inFlight.length);
      await deliver(index);
    }
    if (inFlight.length > 60) await deliver(0);
    if (random() < 0.01) {
      // A restart: one device's sessions come back from their saved JSON form.
      const device = devices[Math.floor(random() * devices.length)];
      for (const [key, session] of device.sessions) device.sessions.set(key, Session.fromJSON(JSON.parse(JSON.stringify(session.toJSON()))));
      restarts++;
    }
  }
  while (inFlight.length > 0) await deliver(Math.floor(random() * inFlight.length));
  assert.is(sent, messages);
  return { opened, lost, replays, restarts };
}

test('two devices: 2000 messages in random order with losses and duplicates', async () => {
  const result = await run(0x5eed_0001, ['alice', 'bob'], 2000);
  assert.ok(result.opened + result.lost === 2000, JSON.stringify(result));
  assert.ok(result.lost > 0 && result.replays > 0 && result.restarts > 0, JSON.stringify(result));
});

test('three devices: 1500 messages over three sessions, random order', async () => {
  const result = await run(0x5eed_0002, ['alice', 'bob', 'carol'], 1500);
  assert.ok(result.opened + result.lost === 1500, JSON.stringify(result));
  assert.ok(result.lost > 0 && result.replays > 0, JSON.stringify(result));
});

test('more seeds, shorter runs', async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const users = seed % 2 === 0 ? ['alice', 'bob'] : ['alice', 'bob', 'carol'];
    const result = await run(seed, users, 300);
    assert.is(result.opened + result.lost, 300);
  }
});

test.run();
