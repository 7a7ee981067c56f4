/**
 * `npm run test:cluster`: a file transfer through the relay pipe survives kill -9 of a relay
 * carrying it. Real redis-server, three relay processes and HAProxy (cluster-fixture.ts), two
 * client cores with direct transfers off, each from its own loopback address. When the receiver
 * has some of the file, the relay that joined one side of the pipe is SIGKILLed: the clients
 * resume their sessions through HAProxy on the others, the transfer asks for a new pipe (its
 * tickets are good on any relay; sides on different relays are joined by a relay link) and
 * carries on from where it was, and the file arrives whole with the sender's hash.
 *
 * Skipped, with a line saying so, when haproxy or redis-server is not installed.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { findHaproxy } from '../../relay/cluster/haproxy-process.js';
import { redisServerAvailable } from '../../relay/cluster/redis-process.js';
import { ChatClient } from '../../tui/core/client.js';
import { plainErrors } from '../helpers/core-helpers.js';
import { Recorder } from '../helpers/recorder.js';
import { sha256OfFile, loopbackOptions, writeTestFile } from '../helpers/transfer-helpers.js';
import { clusterClientOptions, startCluster, type Cluster } from './cluster-fixture.js';

const MB = 1024 * 1024;
/** Large enough that the kill lands mid-transfer on a busy machine, small enough to finish in seconds after. */
const FILE_BYTES = 96 * MB;
const KILL_AFTER_BYTES = 4 * MB;
const WAIT_MS = 120_000;

type Ctx = { cluster: Cluster; clients: ChatClient[] };
const spec = suite<Ctx>('a relay-pipe transfer survives kill -9 of a relay carrying it');
const haproxyBinary = await findHaproxy();
const ready = haproxyBinary !== undefined && redisServerAvailable();
if (!ready) console.log('transfer failover test skipped: it needs haproxy and redis-server (Debian: apt-get install haproxy redis-server)');

spec.before.each(async (ctx) => {
  ctx.clients = [];
  ctx.cluster = await startCluster({ prefix: 'securechat-transfer-failover-', limits: { presenceGraceMs: 2_000 }, haproxy: haproxyBinary });
});

spec.after.each(async (ctx) => {
  await Promise.all(ctx.clients.map((client) => client.close().catch(() => {})));
  await ctx.cluster?.stop();
});

async function peer(ctx: Ctx, user: string, from: string): Promise<{ client: ChatClient; rec: Recorder; downloads: string }> {
  const downloads = join(ctx.cluster.dir.path, `${user}-downloads`);
  await mkdir(downloads, { recursive: true });
  const client = new ChatClient({
    ...clusterClientOptions(ctx.cluster, user, { localAddress: from, backoff: { baseMs: 100, maxMs: 500 } }),
    transfers: { downloadDir: downloads, direct: false, transfer: { ...loopbackOptions(), constants: { RELAY_DELAY_MS: 200, RETRY_DELAY_MS: 200 } } },
  });
  ctx.clients.push(client);
  const rec = new Recorder(client, WAIT_MS);
  await client.connect();
  return { client, rec, downloads };
}

if (ready) {
  spec('kill -9 of the relay that joined the pipe: the transfer resumes on a new pipe and the file arrives whole', (ctx) =>
    plainErrors(async () => {
      try {
        const ann = await peer(ctx, 'ann', '127.0.6.2');
        const bob = await peer(ctx, 'bob', '127.0.6.3');
        const file = await writeTestFile(ctx.cluster.dir.path, 'big.bin', FILE_BYTES);
        const sent = await ann.client.sendFile('bob', file);
        const offer = await bob.rec.waitFor('transfer-offer', (e) => e.id === sent.id);
        await bob.client.acceptTransfer(offer.id);
        await bob.rec.waitFor('transfer-progress', (e) => e.id === sent.id && e.bytes >= KILL_AFTER_BYTES && e.bytes < FILE_BYTES);
        const joined = ctx.cluster.logs.find((line) => /^\[r\d+\] /.test(line) && line.includes(`pipe ${sent.id}: `) && line.endsWith(' joined'));
        assert.ok(joined, `a relay logged the pipe joined:\n${ctx.cluster.logs.slice(-40).join('\n')}`);
        const relayId = /^\[(r\d+)\]/.exec(joined!)![1];
        const relay = ctx.cluster.relays.find((r) => r.relayId === relayId)!;
        const killedAt = ctx.cluster.logs.length;
        const progressMark = bob.rec.mark();
        relay.child.kill('SIGKILL');
        const [received, done] = await Promise.all([
          bob.rec.waitForEvent((e) => (e.type === 'transfer-done' || e.type === 'transfer-failed') && e.id === sent.id, 'transfer end at bob'),
          ann.rec.waitForEvent((e) => (e.type === 'transfer-done' || e.type === 'transfer-failed') && e.id === sent.id, 'transfer end at ann'),
        ]);
        assert.is(received.type, 'transfer-done', JSON.stringify(received));
        assert.is(done.type, 'transfer-done', JSON.stringify(done));
        if (received.type !== 'transfer-done') return;
        assert.is(received.path, 'relay');
        // Hashed while sent, across two pipes: the hash in `end` covered the whole file.
        assert.is(await sha256OfFile(received.file), await sha256OfFile(file));
        assert.is(received.hash, await sha256OfFile(file));
        // Resumed, not started again: no progress after the kill went back below what bob had.
        const after = bob.rec.of('transfer-progress', progressMark).filter((e) => e.id === sent.id);
        assert.ok(after.every((e) => e.bytes >= KILL_AFTER_BYTES), `progress after the kill: ${after.map((e) => e.bytes).join(', ')}`);
        const rejoined = ctx.cluster.logs.slice(killedAt).filter((line) => line.includes(`pipe ${sent.id}: `) && line.endsWith(' joined'));
        assert.ok(rejoined.length >= 1, 'a new pipe was joined after the kill');
        assert.ok(rejoined.every((line) => !line.startsWith(`[${relayId}]`)), 'on the relays still running');
        console.log(`transfer failover: killed ${relayId} mid-transfer; new pipe: ${rejoined.join(' | ')}`);
      } catch (error) {
        console.log(`every relay and HAProxy line: ${await ctx.cluster.saveLogs()}`);
        throw error;
      }
    })(ctx),
  );
}

spec.run();
