/**
 * What `appendfsync always` costs the RedisStore's message appends, beside the default
 * `everysec`: `node dist/bench/redis-append.js [--seconds S]` (needs redis-server; each case
 * runs S seconds, default 1.5). For each policy a fresh redis-server (AOF in a temp folder on
 * the machine's disk) and one RedisStore; the cases:
 *
 * - 1 sender, one message per append, each awaited (a lone chatter);
 * - 20 senders at once, one message per append each (many chatters, one relay);
 * - 1 sender, batches of 50 (the relay's MessageLog under load).
 *
 * Prints a table and one JSON line. Not part of `npm run bench` (it needs Redis installed).
 */
import { RedisStore } from '../relay/redis-store.js';
import type { MessageDraft } from '../relay/store.js';
import { redisServerAvailable, REDIS_SERVER_PATH, startRedisServer } from '../test/helpers/redis-server.js';
import { summarize } from './lib/stats.js';

interface CaseResult {
  policy: string;
  case: string;
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const TEXT = 'x'.repeat(64); // a typical chat line, as in the fan-out bench

function parseSeconds(argv: string[]): number {
  const i = argv.indexOf('--seconds');
  const value = i >= 0 ? Number(argv[i + 1]) : 1.5;
  if (!(value > 0 && value <= 60)) throw new Error('--seconds takes a number of seconds, 0 < S <= 60');
  return value;
}

/** `senders` loops, each appending `batch` drafts at a time until `seconds` pass; latency per append call. */
async function runCase(store: RedisStore, senders: number, batch: number, seconds: number, room: string): Promise<Omit<CaseResult, 'policy' | 'case'>> {
  const latencies: number[] = [];
  let messages = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + seconds * 1_000;
  await Promise.all(
    Array.from({ length: senders }, async (_, sender) => {
      while (performance.now() < deadline) {
        const drafts: MessageDraft[] = Array.from({ length: batch }, () => ({
          room,
          roomKey: room,
          from: `user${sender}`,
          text: TEXT,
          time: Date.now(),
          id: `m${next++}`,
        }));
        const t0 = performance.now();
        await store.appendMessages(drafts);
        latencies.push(performance.now() - t0);
        messages += batch;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  const summary = summarize(latencies);
  return { messagesPerSecond: Math.round(messages / elapsed), p50Ms: summary.p50, p99Ms: summary.p99 };
}

async function main(): Promise<void> {
  if (!redisServerAvailable()) {
    console.log(`redis-server not found at ${REDIS_SERVER_PATH}: nothing to measure`);
    return;
  }
  const seconds = parseSeconds(process.argv.slice(2));
  const results: CaseResult[] = [];
  for (const policy of ['everysec', 'always'] as const) {
    const server = await startRedisServer({ appendfsync: policy });
    const store = await RedisStore.connect(server.url);
    try {
      const cases: Array<[string, number, number]> = [
        ['1 sender, 1 msg/append', 1, 1],
        ['20 senders, 1 msg/append', 20, 1],
        ['1 sender, 50 msgs/append', 1, 50],
      ];
      for (const [name, senders, batch] of cases) {
        process.stderr.write(`${policy}: ${name}...\n`);
        results.push({ policy, case: name, ...(await runCase(store, senders, batch, seconds, `bench${results.length}`)) });
      }
    } finally {
      await store.close();
      await server.stop();
    }
  }
  console.log(`== redis-append: RedisStore.appendMessages, ${seconds} s per case`);
  console.log(`  ${'appendfsync'.padEnd(12)}${'case'.padEnd(28)}${'msg/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}`);
  for (const r of results) {
    console.log(`  ${r.policy.padEnd(12)}${r.case.padEnd(28)}${String(r.messagesPerSecond).padStart(9)}${r.p50Ms.toFixed(3).padStart(9)}${r.p99Ms.toFixed(3).padStart(9)}`);
  }
  console.log(JSON.stringify({ bench: 'redis-append', seconds, results }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
