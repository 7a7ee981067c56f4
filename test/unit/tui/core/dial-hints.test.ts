import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connectHint } from '../../../../tui/core/dial.js';

test('a refused connect asks whether a relay runs there and on that port; an unreachable one points at the address and firewall', () => {
  assert.match(connectHint('ECONNREFUSED', '127.0.0.1:7443'), /is a relay running there, and on that port\? .*--server 127\.0\.0\.1:7443/);
  for (const code of ['EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']) assert.match(connectHint(code, 'chat.example.org:7443'), /firewall/, code);
  assert.is(connectHint('EPIPE', 'x:1'), '');
  assert.is(connectHint(undefined, 'x:1'), '');
});

test.run();
