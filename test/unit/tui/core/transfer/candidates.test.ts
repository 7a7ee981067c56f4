import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChatError } from '../../../../../shared/errors.js';
import { candidateKey, checkCandidates, pathOfCandidate } from '../../../../../tui/core/transfer/candidates.js';
import { gatherCandidates, localCandidates, observedCandidate } from '../../../../../tui/core/transfer/gather.js';

const check = (value: unknown, allowLoopback = false) => checkCandidates(value, { maxCandidates: 4, allowLoopback });

function protocolError(value: unknown): void {
  try {
    check(value);
    assert.unreachable(JSON.stringify(value));
  } catch (error) {
    assert.is((error as ChatError).code, 'E_PROTOCOL', JSON.stringify(value));
  }
}

test('valid candidates pass; duplicates are dropped', () => {
  const list = [
    { kind: 'lan', host: '192.168.1.5', port: 4000 },
    { kind: 'mapped', host: '198.20.0.2', port: 4000 },
    { kind: 'lan', host: '192.168.1.5', port: 4000 },
    { kind: 'lan', host: '2001:db8::5', port: 4000 },
  ];
  assert.equal(check(list).map(candidateKey), ['192.168.1.5:4000', '198.20.0.2:4000', '[2001:db8::5]:4000']);
});

test('host names, bad ports, unknown kinds and oversized lists are protocol errors', () => {
  protocolError('not a list');
  protocolError([{ kind: 'lan', host: 'evil.example.com', port: 1 }]);
  protocolError([{ kind: 'lan', host: '10.0.0.1', port: 0 }]);
  protocolError([{ kind: 'lan', host: '10.0.0.1', port: 65536 }]);
  protocolError([{ kind: 'lan', host: '10.0.0.1', port: 80.5 }]);
  protocolError([{ kind: 'teleport', host: '10.0.0.1', port: 80 }]);
  protocolError([null]);
  protocolError(Array.from({ length: 5 }, (_, i) => ({ kind: 'lan', host: `10.0.0.${i}`, port: 80 })));
});

test('undialable addresses are dropped; loopback only when allowed', () => {
  const list = [
    { kind: 'lan', host: '0.0.0.0', port: 1 },
    { kind: 'lan', host: '255.255.255.255', port: 1 },
    { kind: 'lan', host: '224.0.0.1', port: 1 },
    { kind: 'lan', host: 'ff02::1', port: 1 },
  ];
  assert.equal(check(list), []);
  const loopback = [{ kind: 'loopback', host: '127.0.0.1', port: 9 }, { kind: 'lan', host: '::1', port: 9 }];
  assert.equal(check(loopback), [], 'a peer cannot make us dial our own services');
  assert.is(check(loopback, true).length, 2);
});

test('paths: lan and loopback are lan; mapped and observed are direct', () => {
  assert.is(pathOfCandidate({ kind: 'lan', host: '10.0.0.1', port: 1 }), 'lan');
  assert.is(pathOfCandidate({ kind: 'loopback', host: '127.0.0.1', port: 1 }), 'lan');
  assert.is(pathOfCandidate({ kind: 'mapped', host: '198.20.0.1', port: 1 }), 'direct');
  assert.is(pathOfCandidate({ kind: 'observed', host: '198.20.0.1', port: 1 }), 'direct');
});

test('local candidates: interfaces without loopback and link-local; loopback; none', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: '127.0.0.1/8' }],
    eth0: [
      { address: '192.168.1.7', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '192.168.1.7/24' },
      { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
      { address: '2001:db8::7', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: '2001:db8::7/64', scopeid: 0 },
    ],
    wlan0: [{ address: '169.254.3.3', netmask: '255.255.0.0', family: 'IPv4', mac: '', internal: false, cidr: '169.254.3.3/16' }],
  } as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;
  assert.equal(localCandidates(4000, 'interfaces', interfaces), [
    { kind: 'lan', host: '192.168.1.7', port: 4000 },
    { kind: 'lan', host: '2001:db8::7', port: 4000 },
  ]);
  assert.equal(localCandidates(4000, 'loopback', interfaces), [{ kind: 'loopback', host: '127.0.0.1', port: 4000 }]);
  assert.equal(localCandidates(4000, 'none', interfaces), []);
});

test('the observed address becomes a candidate with our listening port', () => {
  assert.equal(observedCandidate('198.20.0.9', 5000), { kind: 'observed', host: '198.20.0.9', port: 5000 });
  assert.is(observedCandidate(undefined, 5000), null);
  assert.is(observedCandidate('relay.example', 5000), null);
});

test('gathering without a mapping reports once, final, with the observed address', async () => {
  const calls: Array<{ hosts: string[]; final: boolean }> = [];
  const gathering = gatherCandidates({
    port: 7000,
    policy: 'loopback',
    observedAddress: '198.20.0.9',
    mapping: false,
    onCandidates: (candidates, final) => calls.push({ hosts: candidates.map((c) => c.host), final }),
  });
  await gathering.settled;
  await gathering.release();
  assert.equal(calls, [{ hosts: ['127.0.0.1', '198.20.0.9'], final: true }]);
});

test('gathering with a mapping attempt: local now; then, final, the observed address since nothing was mapped', async () => {
  const calls: Array<{ hosts: string[]; final: boolean }> = [];
  const gathering = gatherCandidates({
    port: 7000,
    policy: 'loopback',
    observedAddress: '198.20.0.9',
    mapping: { timeoutMs: 100, ttlMs: 1000, upnp: false, natPmp: false },
    onCandidates: (candidates, final) => calls.push({ hosts: candidates.map((c) => c.host), final }),
  });
  await gathering.settled;
  await gathering.release();
  assert.equal(calls, [
    { hosts: ['127.0.0.1'], final: false },
    { hosts: ['198.20.0.9'], final: true },
  ]);
});

test.run();
