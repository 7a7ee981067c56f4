/**
 * Relay links (relay/relay-link.ts): real TLS on loopback between two ends that hold the
 * cluster's one certificate; anyone else is refused.
 */
import { PassThrough, type Duplex } from 'node:stream';
import { connect } from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSelfSignedCertificate, type RelayCertificate } from '../../../relay/certs.js';
import { dialLink, listenForLinks, readLine, splitAddress, type LinkListener } from '../../../relay/relay-link.js';
import { ChatError } from '../../../shared/errors.js';
import { errorOf } from '../../helpers/errors.js';

const links = suite<{ cluster: RelayCertificate; stranger: RelayCertificate; listener: LinkListener; accepted: Array<{ side: string; link: Duplex; from: string }>; log: string[] }>('relay links');

links.before(async (ctx) => {
  ctx.cluster = await createSelfSignedCertificate();
  ctx.stranger = await createSelfSignedCertificate();
});

links.before.each(async (ctx) => {
  ctx.accepted = [];
  ctx.log = [];
  ctx.listener = await listenForLinks({
    host: '127.0.0.1',
    port: 0,
    certificate: ctx.cluster,
    timeoutMs: 2_000,
    accept: (side, from) => {
      if (side !== 'waiting-side') return undefined;
      return (link) => {
        ctx.accepted.push({ side, link, from });
        // The waiting side sends at once, in the same tick as the hand-over.
        link.write('from the waiting side');
      };
    },
    log: (line) => ctx.log.push(line),
  });
});

links.after.each(async (ctx) => {
  for (const { link } of ctx.accepted) link.destroy();
  await ctx.listener.close();
});

function read(stream: Duplex, bytes: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.length >= bytes) resolve(text);
    });
    stream.resume();
  });
}


links('a relay with the cluster certificate joins the waiting side; bytes flow both ways from the first one', async (ctx) => {
  assert.match(ctx.listener.address, /^127\.0\.0\.1:\d+$/);
  const link = await dialLink(ctx.listener.address, ctx.cluster, 'r2', 'waiting-side', 2_000);
  assert.is(await read(link, 'from the waiting side'.length), 'from the waiting side');
  assert.is(ctx.accepted[0]?.from, 'r2');
  const accepted = ctx.accepted[0]!.link;
  const arrived = read(accepted, 'from the dialling side'.length);
  link.write('from the dialling side');
  assert.is(await arrived, 'from the dialling side');
  link.destroy();
});

links('a dialler without the cluster certificate is refused, and so is a listener without it', async (ctx) => {
  assert.is((await errorOf(dialLink(ctx.listener.address, ctx.stranger, 'x', 'waiting-side', 2_000))).code, 'E_RELAY_LINK');
  // A dialler that does not check the listener: the listener checks it and closes unanswered.
  const { host, port } = splitAddress(ctx.listener.address);
  const socket = connect({ host, port, cert: ctx.stranger.cert, key: ctx.stranger.key, rejectUnauthorized: false });
  socket.on('secureConnect', () => socket.write(`${JSON.stringify({ v: 1, side: 'waiting-side', from: 'x' })}\n`));
  let answered = '';
  socket.on('data', (chunk: Buffer) => (answered += chunk.toString()));
  await new Promise((resolve) => socket.once('close', resolve));
  assert.is(answered, '');
  assert.is(ctx.accepted.length, 0);
  assert.ok(ctx.log.some((line) => line.includes("not the cluster's certificate")), ctx.log.join('\n'));
  const impostor = await listenForLinks({ host: '127.0.0.1', port: 0, certificate: ctx.stranger, timeoutMs: 2_000, accept: () => () => undefined, log: () => undefined });
  try {
    const error = await errorOf(dialLink(impostor.address, ctx.cluster, 'r2', 'waiting-side', 2_000));
    assert.is(error.code, 'E_RELAY_LINK');
    assert.match(String(error.details?.why), /certificate/);
  } finally {
    await impostor.close();
  }
});

links('a link for a side that no longer waits is refused with a reason', async (ctx) => {
  const error = await errorOf(dialLink(ctx.listener.address, ctx.cluster, 'r2', 'gone-side', 2_000));
  assert.is(error.code, 'E_RELAY_LINK');
  assert.match(String(error.details?.why), /E_PIPE_TIMEOUT/);
});

links('nobody listening: E_RELAY_LINK, not a hang', async (ctx) => {
  const address = ctx.listener.address;
  await ctx.listener.close();
  ctx.listener = { address, close: async () => undefined };
  assert.is((await errorOf(dialLink(address, ctx.cluster, 'r2', 'waiting-side', 2_000))).code, 'E_RELAY_LINK');
});

links.run();

const lines = suite('relay links: the header line');

lines('split reads make one line; what follows it is put back for the next reader', async () => {
  const stream = new PassThrough();
  const line = readLine(stream, 1_000);
  stream.write('{"v":1,');
  stream.write('"side":"s"}\nRAW');
  assert.is(await line, '{"v":1,"side":"s"}');
  assert.is(await read(stream, 3), 'RAW');
});

lines('a line over 2 KiB, silence and an early close are refused', async () => {
  const long = new PassThrough();
  const tooLong = readLine(long, 1_000).catch((error: Error) => error.message);
  long.write('x'.repeat(3_000));
  assert.is(await tooLong, 'header line too long');
  assert.is(await readLine(new PassThrough(), 30).catch((error: Error) => error.message), 'no header in time');
  const closed = new PassThrough();
  const early = readLine(closed, 1_000).catch((error: Error) => error.message);
  closed.destroy();
  assert.is(await early, 'closed before the header');
});

lines('addresses: host:port and [v6]:port; anything else is a usage error', () => {
  assert.equal(splitAddress('10.0.0.5:7445'), { host: '10.0.0.5', port: 7445 });
  assert.equal(splitAddress('[::1]:7445'), { host: '::1', port: 7445 });
  assert.equal(splitAddress('relay-2.internal:7445'), { host: 'relay-2.internal', port: 7445 });
  for (const bad of ['10.0.0.5', '10.0.0.5:0', '10.0.0.5:70000', ':7445']) {
    assert.throws(() => splitAddress(bad), (error: unknown) => error instanceof ChatError && error.code === 'E_USAGE', bad);
  }
});

lines.run();
