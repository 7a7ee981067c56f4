import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_LIMITS } from '../../../shared/limits.js';
import {
  PROXY_V2_FIXED_BYTES,
  ProxyHeaderReader,
  canonicalAddress,
  parseProxyHeader,
  type ProxyHeader,
  type ProxyHeaderFault,
  type ProxyHeaderParse,
} from '../../../relay/proxy-header.js';
import { localHeader, proxyHeaderFor, rawHeader, tlv } from '../../helpers/proxy-v2.js';

/** Stands in for the TLS ClientHello that follows the header on the same connection. */
const CLIENT_HELLO = Buffer.from('16030100c4010000c00303', 'hex');

interface ValidCase {
  name: string;
  header: Buffer;
  expected: ProxyHeader;
}

const VALID: ValidCase[] = [
  {
    name: 'TCP over IPv4',
    header: proxyHeaderFor('192.0.2.10', 51000, '203.0.113.5', 7443),
    expected: {
      command: 'proxy',
      family: 'inet',
      source: { address: '192.0.2.10', port: 51000, family: 'IPv4' },
      destination: { address: '203.0.113.5', port: 7443, family: 'IPv4' },
    },
  },
  {
    name: 'TCP over IPv6',
    header: proxyHeaderFor('2001:db8:0:0:0:0:0:7', 40001, '2001:db8::1', 443),
    expected: {
      command: 'proxy',
      family: 'inet6',
      source: { address: '2001:db8::7', port: 40001, family: 'IPv6' },
      destination: { address: '2001:db8::1', port: 443, family: 'IPv6' },
    },
  },
  {
    name: 'TCP over IPv6 from an IPv4-mapped address (read as IPv4)',
    header: proxyHeaderFor('::ffff:c633:6407', 1, '::1', 2),
    expected: {
      command: 'proxy',
      family: 'inet6',
      source: { address: '198.51.100.7', port: 1, family: 'IPv4' },
      destination: { address: '::1', port: 2, family: 'IPv6' },
    },
  },
  { name: 'LOCAL (health check, 16 bytes)', header: localHeader(), expected: { command: 'local' } },
  {
    // "Receivers MUST always consider this field to skip the appropriate number of bytes and
    // must not assume zero is presented for LOCAL connections."
    name: 'LOCAL with an address block, skipped by its length',
    header: rawHeader({ versionAndCommand: 0x20, familyAndTransport: 0x11, block: Buffer.alloc(12, 7) }),
    expected: { command: 'local' },
  },
  {
    name: 'LOCAL ignores the family byte, as the spec says',
    header: rawHeader({ versionAndCommand: 0x20, familyAndTransport: 0xff }),
    expected: { command: 'local' },
  },
  { name: 'PROXY with AF_UNSPEC', header: rawHeader({ familyAndTransport: 0x00 }), expected: { command: 'proxy', family: 'unspec' } },
  {
    name: 'PROXY with AF_UNSPEC and bytes to skip',
    header: rawHeader({ familyAndTransport: 0x00, block: Buffer.alloc(20, 1) }),
    expected: { command: 'proxy', family: 'unspec' },
  },
  {
    name: 'IPv4 with TLVs (unique id, CRC32C, NOOP) skipped',
    header: proxyHeaderFor('10.1.2.3', 65535, '10.9.9.9', 1, Buffer.concat([tlv(0x05, Buffer.alloc(128, 0xaa)), tlv(0x03, Buffer.alloc(4)), tlv(0x04, Buffer.alloc(0))])),
    expected: {
      command: 'proxy',
      family: 'inet',
      source: { address: '10.1.2.3', port: 65535, family: 'IPv4' },
      destination: { address: '10.9.9.9', port: 1, family: 'IPv4' },
    },
  },
  {
    name: 'IPv6 with an authority TLV',
    header: proxyHeaderFor('fe80::1', 5, 'fe80::2', 6, tlv(0x02, Buffer.from('relay.example.org'))),
    expected: {
      command: 'proxy',
      family: 'inet6',
      source: { address: 'fe80::1', port: 5, family: 'IPv6' },
      destination: { address: 'fe80::2', port: 6, family: 'IPv6' },
    },
  },
];

function assertComplete(result: ProxyHeaderParse, c: ValidCase, rest: Buffer, where: string): void {
  if (result.status !== 'complete') assert.unreachable(`${c.name} ${where}: ${result.status} ${result.status === 'refused' ? JSON.stringify(result.error.details) : ''}`);
  else {
    assert.equal(result.header, c.expected, `${c.name} ${where}`);
    assert.is(result.headerBytes, c.header.length, `${c.name} ${where}`);
    assert.ok(result.rest.equals(rest), `${c.name} ${where}: leftover bytes`);
  }
}

function assertRefused(result: ProxyHeaderParse, fault: ProxyHeaderFault, name = ''): void {
  if (result.status !== 'refused') assert.unreachable(`${name}: expected refused ${fault}, got ${result.status}`);
  else {
    assert.is(result.error.code, 'E_PROXY_HEADER', name);
    assert.is(result.error.details.fault, fault, name);
  }
}

test('valid headers parse in one read, with and without the ClientHello after them', () => {
  for (const c of VALID) {
    assertComplete(parseProxyHeader(c.header), c, Buffer.alloc(0), 'alone');
    assertComplete(parseProxyHeader(Buffer.concat([c.header, CLIENT_HELLO])), c, CLIENT_HELLO, 'with ClientHello');
  }
});

test('valid headers split in two at every byte: incomplete until the last header byte, then the leftover', () => {
  for (const c of VALID) {
    const wire = Buffer.concat([c.header, CLIENT_HELLO]);
    for (let cut = 1; cut < wire.length; cut++) {
      const reader = new ProxyHeaderReader();
      const first = reader.push(wire.subarray(0, cut));
      if (cut < c.header.length) {
        assert.is(first.status, 'incomplete', `${c.name} cut at ${cut}`);
        assertComplete(reader.push(wire.subarray(cut)), c, CLIENT_HELLO, `cut at ${cut}`);
      } else {
        assertComplete(first, c, wire.subarray(c.header.length, cut), `cut at ${cut}`);
      }
    }
  }
});

test('valid headers split in three at every pair of cuts, and one byte per read', () => {
  for (const c of VALID) {
    const wire = Buffer.concat([c.header, CLIENT_HELLO]);
    for (let a = 1; a < c.header.length; a++) {
      for (let b = a + 1; b <= c.header.length; b++) {
        const reader = new ProxyHeaderReader();
        assert.is(reader.push(wire.subarray(0, a)).status, 'incomplete');
        const second = reader.push(wire.subarray(a, b));
        if (b < c.header.length) assertComplete(reader.push(wire.subarray(b)), c, CLIENT_HELLO, `cuts ${a},${b}`);
        else assertComplete(second, c, Buffer.alloc(0), `cuts ${a},${b}`);
      }
    }
    const reader = new ProxyHeaderReader();
    for (let i = 0; i < c.header.length - 1; i++) assert.is(reader.push(c.header.subarray(i, i + 1)).status, 'incomplete');
    assertComplete(reader.push(wire.subarray(c.header.length - 1)), c, CLIENT_HELLO, 'byte by byte');
  }
});

test('once complete, later chunks do not change the answer', () => {
  const reader = new ProxyHeaderReader();
  const c = VALID[0];
  assertComplete(reader.push(Buffer.concat([c.header, CLIENT_HELLO])), c, CLIENT_HELLO, 'first');
  assertComplete(reader.push(Buffer.from('more')), c, CLIENT_HELLO, 'after');
  assertComplete(reader.end(), c, CLIENT_HELLO, 'after end');
});

test('bad signature: refused at the first wrong byte, without waiting for 16', () => {
  assertRefused(parseProxyHeader(CLIENT_HELLO.subarray(0, 1)), 'bad-signature', 'a TLS ClientHello');
  assertRefused(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')), 'bad-signature', 'HTTP');
  const header = proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2);
  for (let i = 0; i < 12; i++) {
    const forged = Buffer.from(header);
    forged[i] ^= 0x01;
    assertRefused(parseProxyHeader(forged.subarray(0, i + 1)), 'bad-signature', `byte ${i}`);
  }
});

test('a version 1 text header is refused as v1 once "PROXY" is in; a near miss is a bad signature', () => {
  const v1 = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 5000 443\r\n');
  for (let i = 1; i < 5; i++) assert.is(parseProxyHeader(v1.subarray(0, i)).status, 'incomplete', `${i} bytes`);
  assertRefused(parseProxyHeader(v1.subarray(0, 5)), 'v1');
  assertRefused(parseProxyHeader(v1), 'v1');
  assertRefused(parseProxyHeader(Buffer.from('PROXZ')), 'bad-signature');
});

test('a version other than 2 is refused', () => {
  for (const versionAndCommand of [0x01, 0x11, 0x31, 0xf1]) {
    assertRefused(parseProxyHeader(rawHeader({ versionAndCommand, familyAndTransport: 0x11, block: Buffer.alloc(12) })), 'version', versionAndCommand.toString(16));
  }
});

test('a command other than LOCAL or PROXY is refused', () => {
  for (let command = 2; command <= 0x0f; command++) {
    assertRefused(parseProxyHeader(rawHeader({ versionAndCommand: 0x20 | command, familyAndTransport: 0x11, block: Buffer.alloc(12) })), 'command', String(command));
  }
});

test('AF_UNIX and undefined families are refused; DGRAM, UNSPEC-over-INET and undefined transports too', () => {
  const families: Array<[number, ProxyHeaderFault]> = [
    [0x31, 'family'], // UNIX stream: a valid family, but no client IP to count by
    [0x32, 'family'],
    [0x41, 'family'],
    [0xf1, 'family'],
    [0x12, 'transport'], // UDP over IPv4
    [0x22, 'transport'], // UDP over IPv6
    [0x10, 'transport'], // IPv4, transport UNSPEC
    [0x20, 'transport'],
    [0x13, 'transport'], // undefined transport
    [0x03, 'transport'],
    [0x1f, 'transport'],
  ];
  for (const [familyAndTransport, fault] of families) {
    assertRefused(parseProxyHeader(rawHeader({ familyAndTransport, block: Buffer.alloc(216) })), fault, familyAndTransport.toString(16));
  }
});

test('a length that does not cover the addresses is refused from the fixed part alone', () => {
  const v4 = proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2);
  const v6 = proxyHeaderFor('2001:db8::1', 1, '2001:db8::2', 2);
  for (const [header, length] of [[v4, 11], [v4, 0], [v6, 35], [v6, 12]] as const) {
    const forged = Buffer.from(header);
    forged.writeUInt16BE(length, 14);
    assertRefused(parseProxyHeader(forged.subarray(0, PROXY_V2_FIXED_BYTES)), 'length-short', `length ${length}`);
    assertRefused(parseProxyHeader(forged), 'length-short', `length ${length}, whole`);
  }
});

test('the size cap: a header of exactly the cap passes; one byte more is refused before it is buffered', () => {
  const cap = DEFAULT_LIMITS.proxyHeaderMaxBytes;
  const padding = (total: number) => tlv(0x04, Buffer.alloc(total - 28 - 3));
  const atCap = proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2, padding(cap));
  assert.is(atCap.length, cap);
  assert.is(parseProxyHeader(atCap).status, 'complete');
  const overCap = proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2, padding(cap + 1));
  assertRefused(parseProxyHeader(overCap.subarray(0, PROXY_V2_FIXED_BYTES)), 'too-large', 'fixed part only');
  const huge = rawHeader({ familyAndTransport: 0x11, length: 0xffff });
  const reader = new ProxyHeaderReader();
  assertRefused(reader.push(huge), 'too-large', '64 KiB announced');
  assert.is(reader.bufferedBytes, 0);
  // A smaller cap given by the caller is honoured.
  assertRefused(parseProxyHeader(proxyHeaderFor('192.0.2.1', 1, '192.0.2.2', 2), 27), 'too-large', 'cap 27');
});

test('truncated: the stream ends inside the header (or before any byte)', () => {
  const header = proxyHeaderFor('2001:db8::1', 1, '2001:db8::2', 2);
  for (const cut of [0, 1, 12, 15, 16, 30, header.length - 1]) {
    const reader = new ProxyHeaderReader();
    if (cut > 0) assert.is(reader.push(header.subarray(0, cut)).status, 'incomplete');
    const ended = reader.end();
    assertRefused(ended, 'truncated', `cut at ${cut}`);
    if (ended.status === 'refused') assert.is(ended.error.details.receivedBytes, cut);
  }
});

test('a refusal sticks: later chunks do not revive the reader', () => {
  const reader = new ProxyHeaderReader();
  assertRefused(reader.push(Buffer.from([0x16])), 'bad-signature');
  assertRefused(reader.push(localHeader()), 'bad-signature');
  assertRefused(reader.end(), 'bad-signature');
});

test('canonicalAddress: one spelling per address', () => {
  assert.is(canonicalAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.is(canonicalAddress('::FFFF:7f00:1'), '127.0.0.1');
  assert.is(canonicalAddress('2001:0DB8:0:0:0:0:0:0001'), '2001:db8::1');
  assert.is(canonicalAddress('127.0.0.1'), '127.0.0.1');
  assert.is(canonicalAddress('not an address'), 'not an address');
});

test.run();
