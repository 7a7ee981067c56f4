import path from 'node:path';
import type { RunningRelay } from '../../relay/server.js';
import type { ChatClient, ChatClientOptions } from '../../tui/core/client.js';
import type { Recorder } from './recorder.js';

export const TEST_PASSWORD = 'correct horse battery';

/**
 * Options for a ChatClient against a test relay, as its own install: config and data folders
 * per `device` (default: the user name) under the test's temp folder, the relay pinned, and
 * a fast reconnect backoff.
 */
export function testClientOptions(
  env: { relay: RunningRelay; dir: { path: string } },
  user: string,
  device = user,
): ChatClientOptions {
  return {
    host: '127.0.0.1',
    port: env.relay.port,
    user,
    password: TEST_PASSWORD,
    register: true,
    trust: { fingerprint: env.relay.fingerprint },
    configDir: path.join(env.dir.path, `${device}-config`),
    dataDir: path.join(env.dir.path, `${device}-data`),
    backoff: { baseMs: 20, maxMs: 200 },
  };
}

/** ann offers `file` to bob, bob accepts into his downloads; resolves with both ends' events. */
export async function sendAndAccept(ann: { client: ChatClient; rec: Recorder }, bob: { client: ChatClient; rec: Recorder }, file: string) {
  const sent = await ann.client.sendFile('bob', file);
  const offer = await bob.rec.waitFor('transfer-offer', (e) => e.id === sent.id);
  await bob.client.run(`/accept ${offer.id}`);
  const [received, annDone] = await Promise.all([
    bob.rec.waitFor('transfer-done', (e) => e.id === sent.id),
    ann.rec.waitFor('transfer-done', (e) => e.id === sent.id),
  ]);
  return { sent, offer, received, annDone };
}
