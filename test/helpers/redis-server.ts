/**
 * A real redis-server for tests: its own process on a free loopback port, its own temp folder
 * (AOF on, no RDB snapshots), stopped by PID (relay/cluster/redis-process.ts). Nothing here
 * talks to a Redis the machine runs.
 */
import { rm } from 'node:fs/promises';
import { startRedis, type RedisProcess, type RedisProcessOptions } from '../../relay/cluster/redis-process.js';
import { makeTempDir } from './temp.js';

export { freeLoopbackPort, redisServerAvailable, REDIS_SERVER_PATH } from '../../relay/cluster/redis-process.js';

export type RedisServerOptions = Omit<RedisProcessOptions, 'port'>;

/** A redis-server whose `stop()` also removes its temp folder. */
export type TestRedisServer = RedisProcess;

/** Starts a redis-server on a free loopback port in a new temp folder and waits until it answers. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const dir = await makeTempDir('securechat-redis-');
  const redis = await startRedis(dir, options);
  return {
    ...redis,
    get pid() {
      return redis.pid;
    },
    stop: async () => {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
