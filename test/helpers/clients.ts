import path from 'node:path';
import * as assert from 'uvu/assert';
import { ChatError } from '../../shared/errors.js';
import type { RunningRelay } from '../../relay/server.js';
import type { ChatClientOptions } from '../../tui/core/client.js';

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

/** The code of the ChatError a promise rejects with (fails the test if it resolves or throws anything else). */
export async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, ChatError);
    return (error as ChatError).code;
  }
  throw new Error('expected a ChatError');
}
