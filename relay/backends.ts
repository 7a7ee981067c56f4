import type { ClusterBus } from './bus.js';
import type { LoginLimiter, LoginLimiterLimits } from './login-limiter.js';
import { MemoryLoginLimiter } from './memory-login-limiter.js';
import type { RelayStore } from './store.js';

/** Several relays sharing state: the Redis they share and this relay's name among them. */
export interface ClusterOptions {
  redisUrl: string;
  relayId: string;
  /**
   * Where this relay accepts relay links from the other relays (relay pipes whose two sides
   * reached different relays): default the relay's own listening host on a free port.
   * `advertise` is the `host:port` the others dial, when not the listening address.
   */
  link?: { host?: string; port?: number; advertise?: string };
}

export interface Backends {
  store: RelayStore;
  bus: ClusterBus;
  limiter: LoginLimiter;
}

/**
 * The relay's store, bus and login limiter: embedded LevelDB and in-memory alone (the default,
 * nothing to install), Redis for all three in a cluster. The Redis modules are loaded only in a
 * cluster, so a single relay never loads ioredis.
 */
export async function openBackends(
  dataDir: string,
  cluster: ClusterOptions | undefined,
  limits: { presenceGraceMs: number; clientIdRetentionMs: number; busLeaseMs: number; busCommandTimeoutMs: number; busReconnectMaxMs: number } & LoginLimiterLimits,
  log: (line: string) => void,
): Promise<Backends> {
  const onError = (error: unknown) => log(`store: ${(error as Error)?.message ?? error}`);
  if (!cluster) {
    const [{ LevelStore }, { LocalBus }] = await Promise.all([import('./level-store.js'), import('./local-bus.js')]);
    return { store: await LevelStore.open(dataDir, { onError }), bus: new LocalBus(), limiter: new MemoryLoginLimiter(limits) };
  }
  const [{ RedisStore }, { RedisBus }, { RedisLoginLimiter }] = await Promise.all([import('./redis-store.js'), import('./redis-bus.js'), import('./redis-login-limiter.js')]);
  const store = await RedisStore.connect(cluster.redisUrl, { onError, clientIdRetentionMs: limits.clientIdRetentionMs });
  const bus = new RedisBus({
    url: cluster.redisUrl,
    relayId: cluster.relayId,
    graceMs: limits.presenceGraceMs,
    leaseMs: limits.busLeaseMs,
    commandTimeoutMs: limits.busCommandTimeoutMs,
    reconnectMaxMs: limits.busReconnectMaxMs,
    log,
  });
  // Its own connection (redis-login-limiter.ts says why), with the bus's fail-fast settings.
  const limiter = await RedisLoginLimiter.connect({
    url: cluster.redisUrl,
    relayId: cluster.relayId,
    limits,
    commandTimeoutMs: limits.busCommandTimeoutMs,
    reconnectMaxMs: limits.busReconnectMaxMs,
    log,
  }).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  return { store, bus, limiter };
}
