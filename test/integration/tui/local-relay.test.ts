import net from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rejectsWith } from '../../helpers/errors.js';
import { LOCAL_RELAY_INFO, openLocalRelay, readRunningInfo, startLocalRelay } from '../../../tui/local-relay.js';
import { WireClient } from '../../helpers/wire-client.js';
import { tempDir } from '../../helpers/temp.js';

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
        await rejectsWith(startLocalRelay(folder, '127.0.0.1', 0), 'E_DATA_LOCKED', 'the folder is locked');
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

/** A port free a moment ago (npm start wants a fixed one; 0 would skip the search). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

test('a second npm start joins the relay already running: its own folder\'s, or another user\'s found on the port (fingerprint for the trust screen); quitting tells the others', async () => {
  const first = await tempDir('securechat-local-relay-a-');
  const second = await tempDir('securechat-local-relay-b-');
  try {
    const port = await freePort();
    const started = await openLocalRelay(path.join(first.path, 'local-relay'), '127.0.0.1', port);
    assert.is(started.kind, 'started');
    if (started.kind !== 'started') return;
    const { local } = started;
    try {
      assert.is(local.relay.port, port);
      // Another user (another HOME, so another data folder) on the same machine: found, not a second relay.
      const other = await openLocalRelay(path.join(second.path, 'local-relay'), '127.0.0.1', port);
      assert.equal(other, { kind: 'running', host: '127.0.0.1', port, fingerprint: local.relay.fingerprint, ownFolder: false });
      // The same user again: the folder's own relay.
      const again = await openLocalRelay(path.join(first.path, 'local-relay'), '127.0.0.1', port);
      assert.equal(again, { kind: 'running', host: '127.0.0.1', port, fingerprint: local.relay.fingerprint, ownFolder: true });
      // Someone chatting on it when the owner quits is told why, not just cut off.
      const guest = await WireClient.session(port, 'guest');
      const bye = guest.waitFor((m) => m.t === 'bye', 10_000);
      assert.is(await local.close(), 1);
      const told = await bye;
      assert.ok(told.t === 'bye' && told.code === 'E_SHUTDOWN' && /npm start that ran it has quit/.test(told.message), JSON.stringify(told));
      guest.close();
    } finally {
      await local.close();
    }
  } finally {
    await first.remove();
    await second.remove();
  }
});

test.run();
