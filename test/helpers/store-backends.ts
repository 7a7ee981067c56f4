/**
 * The two RelayStore implementations as test backends, so one suite body runs against both:
 * LevelStore in a fresh temp folder per test, RedisStore on a real redis-server (started once
 * per suite by test/helpers/redis-server.ts, flushed before each test).
 */
import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { LevelStore } from '../../relay/level-store.js';
import { RedisStore, type RedisStoreOptions } from '../../relay/redis-store.js';
import type { RelayStore } from '../../relay/store.js';
import { redisServerAvailable, REDIS_SERVER_PATH, startRedisServer, type TestRedisServer } from './redis-server.js';
import { makeTempDir } from './temp.js';

/** What both stores take (clock and audit retention). */
export interface CommonStoreOptions {
  now?: () => number;
  auditRetentionMs?: number;
}

export interface StoreBackend {
  name: string;
  /** Before the suite (start servers). */
  setUp(): Promise<void>;
  /** Before each test: an empty store. */
  reset(): Promise<void>;
  /** Opens the current test's store; opening again after close sees the same data (a restart). */
  open(options?: CommonStoreOptions): Promise<RelayStore>;
  /** After the suite. */
  tearDown(): Promise<void>;
}

export function levelBackend(): StoreBackend {
  let dir = '';
  const dirs: string[] = [];
  return {
    name: 'LevelStore',
    setUp: async () => undefined,
    reset: async () => {
      dir = await makeTempDir('securechat-store-');
      dirs.push(dir);
    },
    open: (options = {}) => LevelStore.open(dir, { ...options, onError: (error) => console.error('LevelStore:', error) }),
    tearDown: async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    },
  };
}

/** A RedisStore backend on its own redis-server; `server` and `admin` are set between setUp and tearDown. */
export interface RedisBackend extends StoreBackend {
  server: TestRedisServer | undefined;
  admin: Redis | undefined;
  open(options?: CommonStoreOptions & RedisStoreOptions): Promise<RedisStore>;
}

export function redisBackend(): RedisBackend {
  const backend: RedisBackend = {
    name: 'RedisStore',
    server: undefined,
    admin: undefined,
    setUp: async () => {
      backend.server = await startRedisServer();
      backend.admin = new Redis(backend.server.url, { lazyConnect: true });
      await backend.admin.connect();
    },
    reset: async () => {
      await backend.admin!.flushall();
    },
    open: (options = {}) => RedisStore.connect(backend.server!.url, { ...options, onError: options.onError ?? ((error) => console.error('RedisStore:', error)) }),
    tearDown: async () => {
      await backend.admin?.quit().catch(() => undefined);
      await backend.server?.stop();
    },
  };
  return backend;
}

/** The backends this machine can run; prints one line when redis-server is missing. */
export function availableBackends(): StoreBackend[] {
  if (redisServerAvailable()) return [levelBackend(), redisBackend()];
  console.log(`(redis-server not found at ${REDIS_SERVER_PATH}: the RedisStore side of the store contract is skipped)`);
  return [levelBackend()];
}
