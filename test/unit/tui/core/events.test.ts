import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHAT_EVENT_TYPES, EVENT_DOCS, type ChatEvent } from '../../../../tui/core/events.js';

// One example of every event; the compiler checks each against the union, and the test
// checks that the list is complete and that every event survives a JSON round trip unchanged.
const examples: { [T in ChatEvent['type']]: Extract<ChatEvent, { type: T }> } = {
  connected: { type: 'connected', server: '127.0.0.1:7443', user: 'ann', fingerprint: 'sha256:' + 'a'.repeat(64), resumed: false, registration: 'open' },
  joined: {
    type: 'joined',
    room: 'global',
    users: ['ann', 'bob'],
    history: [{ room: 'global', seq: 1, from: 'bob', text: 'hi', id: 'm1', time: 1 }],
    hasMore: false,
    rejoined: false,
  },
  left: { type: 'left', room: 'lobby' },
  message: { type: 'message', room: 'global', seq: 2, from: 'ann', text: 'hello', id: 'm2', time: 2, own: true },
  presence: { type: 'presence', room: 'global', user: 'bob', event: 'leave' },
  away: { type: 'away', room: 'global', user: 'bob', text: 'lunch' },
  whisper: { type: 'whisper', from: 'bob', to: 'ann', text: 'psst', time: 3, id: 'w1', verified: false },
  users: { type: 'users', room: 'global', users: ['ann', 'bob'], away: { bob: 'lunch' } },
  ignored: { type: 'ignored', users: ['eve'], change: 'added', user: 'eve' },
  rooms: { type: 'rooms', rooms: [{ name: 'lobby', members: 2 }] },
  history: { type: 'history', room: 'global', messages: [], hasMore: true },
  ack: { type: 'ack', id: 'm2', room: 'global', seq: 2, time: 2 },
  error: { type: 'error', code: 'E_NOT_IN_GLOBAL', message: 'leave first', command: 'create', re: 'r1' },
  disconnected: { type: 'disconnected', code: 'E_CLOSED', message: 'gone', willReconnect: true },
  reconnecting: { type: 'reconnecting', attempt: 1, delayMs: 400, code: 'E_CLOSED', message: 'gone' },
  'trust-new': { type: 'trust-new', server: 'x:1', fingerprint: 'sha256:' + 'b'.repeat(64), recorded: true, file: '/c/known_relays' },
  rtt: { type: 'rtt', ms: 0.4 },
  'key-changed': { type: 'key-changed', user: 'bob', oldFingerprint: '3f2a 9c01 77de 0b45', newFingerprint: '0b45 77de 9c01 3f2a', message: 'changed' },
  verify: {
    type: 'verify',
    user: 'bob',
    safetyNumber: '52749 00583 07366 15115 47175 03643 99813 78442 02713 37320 59088 61740',
    fingerprint: '3f2a 9c01 77de 0b45',
    ownFingerprint: '1111 2222 3333 4444',
    verified: false,
    pendingFingerprint: '0b45 77de 9c01 3f2a',
    pendingSafetyNumber: '52749 00583 07366 15115 47175 03643 11111 22222 33333 44444 55555 66666',
  },
  trusted: { type: 'trusted', user: 'bob', fingerprint: '0b45 77de 9c01 3f2a', accepted: true },
  'session-reset': { type: 'session-reset', user: 'bob', side: 'told', time: 1_700_000_000_000, message: 'bob could not read a whisper of yours' },
  bye: { type: 'bye', code: 'E_SHUTDOWN', message: 'bye' },
  'transfer-offer': { type: 'transfer-offer', id: 'AbCdEfGh12345678', from: 'bob', name: 'report.pdf', size: 1234, hash: 'c'.repeat(64) },
  'transfer-state': { type: 'transfer-state', id: 'AbCdEfGh12345678', direction: 'in', peer: 'bob', name: 'report.pdf', state: 'transferring', path: 'relay', file: '/d/report.pdf.part' },
  'transfer-progress': { type: 'transfer-progress', id: 'AbCdEfGh12345678', bytes: 617, total: 1234, percent: 50, speedBps: 100, etaSec: null, path: 'direct' },
  'transfer-done': { type: 'transfer-done', id: 'AbCdEfGh12345678', direction: 'in', peer: 'bob', name: 'report.pdf', size: 1234, file: '/d/report.pdf', hash: 'c'.repeat(64), path: 'lan', elapsedMs: 1000, avgBps: 1234 },
  'transfer-failed': { type: 'transfer-failed', id: 'AbCdEfGh12345678', direction: 'out', peer: 'bob', name: 'report.pdf', state: 'rejected', code: 'E_REJECTED', message: 'rejected' },
  'file-uploaded': { type: 'file-uploaded', fileId: '0a1b2c3d4e', name: 'report.pdf', size: 1234, elapsedMs: 10, avgBps: 123400 },
  'folder-offer': { type: 'folder-offer', id: 'FoLdEr0012345678', from: 'bob', name: 'photos', files: 3, size: 4096 },
  'folder-state': { type: 'folder-state', id: 'FoLdEr0012345678', direction: 'in', peer: 'bob', name: 'photos', state: 'transferring', files: 3, filesDone: 1, bytes: 1024, size: 4096, speedBps: 512, etaSec: 6, path: 'relay', dir: '/d/photos' },
  'folder-done': { type: 'folder-done', id: 'FoLdEr0012345678', direction: 'in', peer: 'bob', name: 'photos', files: 3, size: 4096, dir: '/d/photos', elapsedMs: 900, avgBps: 4551 },
  'folder-failed': { type: 'folder-failed', id: 'FoLdEr0012345678', direction: 'out', peer: 'bob', name: 'photos', state: 'cancelled', code: 'E_CANCELLED', message: 'cancelled', filesDone: 1, dir: '/s/photos' },
  'room-file-progress': { type: 'room-file-progress', direction: 'up', name: 'report.pdf', bytes: 617, total: 1234, percent: 50, speedBps: 100, etaSec: 7 },
  files: { type: 'files', room: 'lab', files: [{ id: '0a1b2c3d4e', name: 'report.pdf', size: 1234, hash: 'c'.repeat(128), from: 'bob', time: 1 }] },
  'file-downloaded': { type: 'file-downloaded', fileId: '0a1b2c3d4e', path: '/d/report.pdf', hash: 'c'.repeat(128), size: 1234, elapsedMs: 10, avgBps: 123400 },
  transfers: {
    type: 'transfers',
    transfers: [
      {
        id: 'AbCdEfGh12345678',
        direction: 'out',
        peer: 'bob',
        name: 'report.pdf',
        size: 1234,
        hash: 'c'.repeat(64),
        state: 'completed',
        path: 'direct',
        bytes: 1234,
        percent: 100,
        speedBps: 0,
        etaSec: 0,
        file: '/s/report.pdf',
        sessions: 1,
      },
    ],
  },
};

test('every event type is documented and exemplified', () => {
  assert.equal([...CHAT_EVENT_TYPES].sort(), Object.keys(examples).sort());
  for (const type of CHAT_EVENT_TYPES) assert.ok(EVENT_DOCS[type].length > 10, type);
});

test('events are plain JSON with the type first', () => {
  for (const event of Object.values(examples)) {
    const line = JSON.stringify(event);
    assert.ok(line.startsWith(`{"type":"${event.type}"`), line);
    assert.equal(JSON.parse(line), event);
    assert.not.ok(line.includes('\n'));
  }
});

test.run();
