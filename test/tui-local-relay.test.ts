import net from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../shared/errors.js';
import { LOCAL_RELAY_INFO, readRunningInfo, startLocalRelay } from '../tui/local-relay.js';
import { tempDir } from './helpers/relay.js';

/** A port that is busy for the duration of `body`. */
async function withBusyPort(body: (port: number) => Promise<void>): Promise<void> {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    await body((blocker.address() as net.AddressInfo).port);
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
}

test('a taken port falls back to a free one; the running relay is announced, then cleaned up', async () => {
  const home = await tempDir('securechat-local-relay-');
  const folder = path.join(home.path, 'local-relay');
  try {
    await withBusyPort(async (busy) => {
      const local = await startLocalRelay(folder, '127.0.0.1', busy);
      try {
        assert.ok(local.portTaken);
        assert.is.not(local.relay.port, busy);
        const info = await readRunningInfo(folder);
        assert.equal(info && { host: info.host, port: info.port, fingerprint: info.fingerprint }, {
          host: '127.0.0.1',
          port: local.relay.port,
          fingerprint: local.relay.fingerprint,
        });
        // A second one on the same folder is refused with a stable code (npm start then joins the first).
        try {
          await startLocalRelay(folder, '127.0.0.1', 0);
          assert.unreachable('the folder is locked');
        } catch (error) {
          assert.instance(error, ChatError);
          assert.is((error as ChatError).code, 'E_DATA_LOCKED');
        }
      } finally {
        await local.close();
      }
      assert.not.ok(existsSync(path.join(folder, LOCAL_RELAY_INFO)));
      assert.is(await readRunningInfo(folder), null);
    });
  } finally {
    await home.remove();
  }
});

test.run();
