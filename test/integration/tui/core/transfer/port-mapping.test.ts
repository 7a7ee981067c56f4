/**
 * The port-mapping wrapper's pure parts. Real UPnP / NAT-PMP runs only in the NAT lab
 * (test/nat/run.sh): on the host it would talk to the host's own network.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultGatewayIPv4, localAddressFacing, mapPort, natPmpLifetimeSeconds } from '../../../../../tui/core/transfer/port-mapping.js';
import { makeTempDir } from '../../../../helpers/temp.js';

test('the default gateway is read from a /proc/net/route table', async () => {
  const dir = await makeTempDir();
  const table = path.join(dir, 'route');
  await fs.writeFile(
    table,
    [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'lan0\t000014AC\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'lan0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    ].join('\n'),
  );
  assert.is(await defaultGatewayIPv4(table), '10.0.0.1');
  await fs.writeFile(table, 'Iface\tDestination\tGateway\nlan0\t000014AC\t00000000\n');
  assert.is(await defaultGatewayIPv4(table), null, 'no default route');
  assert.is(await defaultGatewayIPv4(path.join(dir, 'missing')), null);
  await fs.rm(dir, { recursive: true });
});

test('the local address facing a gateway is the one on its subnet', () => {
  const interfaces = {
    eth0: [{ address: '192.168.1.7', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '192.168.1.7/24' }],
    eth1: [{ address: '10.1.0.2', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '10.1.0.2/24' }],
  } as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;
  assert.is(localAddressFacing('10.1.0.1', interfaces), '10.1.0.2');
  assert.is(localAddressFacing('192.168.1.1', interfaces), '192.168.1.7');
  assert.is(localAddressFacing('172.16.0.1', interfaces), '192.168.1.7', 'falls back to the first address');
  assert.is(localAddressFacing('10.0.0.1', {}), null);
});

test('NAT-PMP lifetimes go to the library in seconds (it writes them into the packet as is)', () => {
  assert.is(natPmpLifetimeSeconds(2 * 60 * 60_000), 7200);
  assert.is(natPmpLifetimeSeconds(1_500), 2);
  assert.is(natPmpLifetimeSeconds(0), 1);
});

test('mapPort with both methods off resolves null at once and never throws', async () => {
  assert.is(await mapPort(4000, { timeoutMs: 50, ttlMs: 1000, upnp: false, natPmp: false }), null);
});

test.run();
