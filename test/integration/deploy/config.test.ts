/**
 * deploy/ works as shipped: haproxy.cfg is what the template renders (the one `npm run cluster`
 * uses) and haproxy accepts it; redis.conf starts a real redis-server (its machine-specific
 * lines overridden) that a relay's store accepts, with AOF, noeviction and the password on.
 * The parts that need haproxy or redis-server are skipped where those are not installed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEPLOY_EXAMPLE, renderHaproxyConfig } from '../../../relay/cluster/haproxy-config.js';
import { RedisStore } from '../../../relay/redis-store.js';
import { REDIS_SERVER_PATH, freeLoopbackPort, redisServerAvailable } from '../../helpers/redis-server.js';
import { makeTempDir } from '../../helpers/temp.js';

const HAPROXY = '/usr/sbin/haproxy';
const haproxyTest = existsSync(HAPROXY) ? test : test.skip;
const redisTest = redisServerAvailable() ? test : test.skip;

async function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

test('deploy/haproxy.cfg is what the template renders for the example machines', async () => {
  const shipped = await readFile(new URL('../../../../deploy/haproxy.cfg', import.meta.url), 'utf8');
  assert.is(shipped, renderHaproxyConfig(DEPLOY_EXAMPLE), 'regenerate deploy/haproxy.cfg from relay/cluster/haproxy-config.ts');
});

haproxyTest('haproxy -c accepts deploy/haproxy.cfg and the loopback rendering of npm run cluster', async () => {
  const dir = await makeTempDir('securechat-haproxy-');
  try {
    const local = join(dir, 'haproxy.cfg');
    await writeFile(
      local,
      renderHaproxyConfig({
        bind: '127.0.0.1:7440',
        relays: [{ name: 'r1', address: '127.0.0.1:7441' }],
        log: 'stdout',
        maxconn: 1000,
        statsSocket: join(dir, 'admin.sock'),
        heading: ['test'],
      }),
    );
    for (const file of [new URL('../../../../deploy/haproxy.cfg', import.meta.url).pathname, local]) {
      const { code, output } = await run(HAPROXY, ['-c', '-f', file]);
      assert.is(code, 0, output);
      assert.match(output, /Configuration file is valid/);
      assert.not.match(output, /WARNING|ALERT/, output);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

redisTest('deploy/redis.conf starts redis-server with AOF, noeviction and a password, and the store accepts it', async () => {
  const dir = await makeTempDir('securechat-redisconf-');
  const port = await freeLoopbackPort();
  const conf = await readFile(new URL('../../../../deploy/redis.conf', import.meta.url), 'utf8');
  const password = /^requirepass (\S+)$/m.exec(conf)?.[1];
  assert.ok(password, 'redis.conf has a requirepass line');
  // Only the machine-specific lines are overridden: address, port, folder, log, memory.
  const server = spawn(
    REDIS_SERVER_PATH,
    [new URL('../../../../deploy/redis.conf', import.meta.url).pathname, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--logfile', join(dir, 'redis.log'), '--maxmemory', '64mb'],
    { stdio: 'ignore' },
  );
  const exited = once(server, 'exit');
  try {
    // Redis answers a connect once it listens; until then the connect is refused.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = createConnection({ host: '127.0.0.1', port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      if (up) break;
      assert.ok(server.exitCode === null && Date.now() < deadline, `redis-server did not start (see ${join(dir, 'redis.log')})`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Without the password: every command is refused.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString());
      });
      socket.once('error', reject);
    });
    assert.match(answer, /^-NOAUTH/, answer);
    // With it: the store's own check (appendonly yes, noeviction) passes and it stores.
    const store = await RedisStore.connect(`redis://:${password}@127.0.0.1:${port}`);
    try {
      await store.createAccount('deploy-check', 'hash');
      assert.ok(await store.getAccount('deploy-check'));
    } finally {
      await store.close();
    }
    assert.ok(existsSync(join(dir, 'appendonlydir')), 'the AOF folder exists');
  } finally {
    server.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
