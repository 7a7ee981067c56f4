import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder, decodeControlPayload, encodeControl } from '../../../shared/codec.js';
import { proxyHeaderFor } from '../../helpers/proxy-v2.js';
import { testRelay } from '../../helpers/relay.js';
import { tempDir } from '../../helpers/temp.js';

const proxied = suite('relay serve --proxy-protocol');

/** Connects as a PROXY v2 proxy from `from`, announcing `client`; the relay's welcome, or undefined when refused. */
function welcomeThroughProxy(port: number, client: string, from = '127.0.0.1'): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const raw = netConnect({ host: '127.0.0.1', port, localAddress: from }, () => {
      raw.write(proxyHeaderFor(client, 50_000, '127.0.0.1', port));
      const tls = tlsConnect({ socket: raw, rejectUnauthorized: false, minVersion: 'TLSv1.3' }, () => tls.write(encodeControl({ t: 'hello', v: 1 })));
      const decoder = new FrameDecoder(64 * 1024);
      tls.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) {
          resolve(decodeControlPayload(frame.payload) as Record<string, unknown>);
          tls.destroy();
        }
      });
      tls.on('error', () => resolve(undefined));
      tls.on('close', () => resolve(undefined));
    });
    raw.on('error', () => resolve(undefined));
  });
}

proxied('the relay sees the client address from the PROXY header, and refuses proxies it does not trust', async () => {
  const dir = await tempDir();
  const lines: string[] = [];
  const relay = await testRelay(dir.path, { trustedProxies: ['127.0.0.1'], log: (line) => lines.push(line) });
  try {
    const welcome = await welcomeThroughProxy(relay.port, '203.0.113.7');
    assert.is(welcome?.observed, '203.0.113.7');
    assert.is(await welcomeThroughProxy(relay.port, '203.0.113.8', '127.0.0.2'), undefined, 'refused');
    assert.ok(lines.some((line) => line.includes('E_PROXY_UNTRUSTED')));
  } finally {
    await relay.close();
    await dir.remove();
  }
});

proxied.run();
