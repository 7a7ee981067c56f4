/**
 * A child process for the sessions kill -9 test (test/integration/tui/core/session-files.test.ts):
 * Ann's sessions on disk in DIR (the client's SessionStore and journal), Bob in memory (fixed
 * keys). ROUNDS times: Ann seals a whisper, Bob opens it and answers, Ann opens the answer (a DH
 * ratchet step: her next whisper starts a new sending chain); then Ann sends BURST whispers on
 * that last chain. Each of Ann's bodies is printed (`body <base64>`) once `commitSend` resolved,
 * i.e. when it would be handed to the socket (stdout is a pipe: written synchronously). Before the
 * last one Bob's session is printed (`bob <json>`), so the test can go on as Bob; right after the
 * last body the process kills itself with SIGKILL: no exit handler, no close, no compaction.
 *
 *   node session-child.js DIR ROUNDS BURST
 */
import { verifyPrekeyBundle } from '../../shared/crypto/prekeys.js';
import { parseBody, Session } from '../../shared/crypto/session.js';
import { openDeviceFile } from '../../tui/core/device-file.js';
import { SessionStore, type StoredSession } from '../../tui/core/session-store.js';
import { TestDevice } from './session-devices.js';

const [dir, roundsText, burstText] = process.argv.slice(2);
const rounds = Number(roundsText);
const burst = Number(burstText);
const utf8 = new TextEncoder();

const ann = await TestDevice.create('ann', 'a1', 20);
const bob = await TestDevice.create('bob', 'b1', 20);
const { box } = await openDeviceFile(dir!, undefined);
const store = await SessionStore.open(dir!, box, []);
const peer = await store.peer('bob');
const stored: StoredSession = peer.sessions[0] ?? peer.add(await Session.initiate(ann.me, await verifyPrekeyBundle('bob', await bob.bundle())), { sign: 's', box: 'b' });

/** Seals, waits for what the client waits for before sending, then "sends" (prints). */
async function send(text: string): Promise<string> {
  const body = stored.session.seal(utf8.encode(text));
  await peer.commitSend(stored, stored.session.sendingChain()!);
  process.stdout.write(`body ${body}\n`);
  return body;
}

for (let round = 0; round < rounds; round += 1) {
  await bob.receive('ann', await send(`round ${round}`));
  stored.session.open(parseBody(await bob.send(ann, `answer ${round}`)));
}
for (let i = 0; i < burst; i += 1) {
  if (i === burst - 1) process.stdout.write(`bob ${JSON.stringify(bob.sessions.get('ann/a1')!.toJSON())}\n`);
  const body = await send(`burst ${i}`);
  if (i < burst - 1) await bob.receive('ann', body);
}
process.kill(process.pid, 'SIGKILL');
