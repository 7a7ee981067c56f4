import { join } from 'node:path';
import type { Test } from 'uvu';
import { startRelay, type RelayOptions, type RunningRelay } from '../../relay/server.js';
import type { ChatClient } from '../../tui/core/client.js';
import { tempDir } from './temp.js';
import type { WireClient } from './wire-client.js';

/** Cheap argon2id so tests spend their time on behaviour, not hashing. */
export const CHEAP_HASHING = { workers: 1, opsLimit: 1, memLimitBytes: 8192 };

/** A real relay on 127.0.0.1, port 0, with a real LevelDB in `dataDir`. */
export function testRelay(dataDir: string, options: Partial<RelayOptions> = {}): Promise<RunningRelay> {
  return startRelay({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    registration: 'open',
    passwordHashing: CHEAP_HASHING,
    ...options,
  });
}

/** What {@link withRelayPerTest} gives each test: a temp folder, a relay in it, and the clients to close after. */
export interface RelayTestContext {
  dir: { path: string; remove: () => Promise<void> };
  relay: RunningRelay;
  clients: ChatClient[];
}

/** A fresh relay (data in `<temp>/relay`) before each test of `spec`; its clients, the relay and the folder go after. */
export function withRelayPerTest<C extends RelayTestContext>(spec: Test<C>, prefix: string): void {
  spec.before.each(async (ctx) => {
    ctx.dir = await tempDir(prefix);
    ctx.relay = await testRelay(join(ctx.dir.path, 'relay'));
    ctx.clients = [];
  });
  spec.after.each(async (ctx) => {
    await Promise.all(ctx.clients.map((c) => c.close().catch(() => {})));
    await ctx.relay?.close().catch((e) => console.error('closing the relay failed:', e));
    await ctx.dir.remove().catch(() => {});
  });
}

/** A relay test on the wire: its temp folder, the relay (started by the test or before it), and the wire clients to close after. */
export interface WireRelayContext {
  dir: { path: string; remove: () => Promise<void> };
  relay: RunningRelay;
  clients: WireClient[];
}

/** After each test of `spec`: its wire clients closed, then the relay (if one started), then the folder. */
export function closeWireRelayAfterEach<C extends WireRelayContext>(spec: Test<C>): void {
  spec.after.each(async (ctx) => {
    for (const client of ctx.clients) client.close();
    await ctx.relay?.close();
    await ctx.dir.remove();
  });
}

/** A fresh relay with `options`, its data in a temp folder, before each test of `spec`; all closed after. */
export function withWireRelayPerTest<C extends WireRelayContext>(spec: Test<C>, prefix?: string, options: Partial<RelayOptions> = {}): void {
  spec.before.each(async (ctx) => {
    ctx.dir = await tempDir(prefix);
    ctx.relay = await testRelay(ctx.dir.path, options);
    ctx.clients = [];
  });
  closeWireRelayAfterEach(spec);
}
