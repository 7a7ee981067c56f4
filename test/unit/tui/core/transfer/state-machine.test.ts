import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Candidate } from '../../../../../tui/core/transfer/candidates.js';
import { TRANSFER_DEFAULTS, resolveTransferConstants } from '../../../../../tui/core/transfer/constants.js';
import { type DriverEffect, TransferMachine } from '../../../../../tui/core/transfer/machine.js';
import { ManualScheduler } from '../../../../../tui/core/transfer/scheduler.js';
import {
  TERMINAL_STATES,
  type TransferRole,
  type TransferStateName,
  initialContext,
  inputsAccepted,
  transition,
} from '../../../../../tui/core/transfer/state-machine.js';

const RELAY = TRANSFER_DEFAULTS.RELAY_DELAY_MS;
const SIZE = 10_000_000;

const A: Candidate = { kind: 'lan', host: '192.168.1.20', port: 4000 };
const B: Candidate = { kind: 'mapped', host: '198.20.0.2', port: 4000 };
const C: Candidate = { kind: 'observed', host: '198.20.0.2', port: 5000 };

interface Harness {
  clock: ManualScheduler;
  machine: TransferMachine;
  /** Every driver effect with the fake time it was emitted at. */
  log: Array<{ atMs: number; effect: DriverEffect }>;
  of<T extends DriverEffect['type']>(type: T): Array<{ atMs: number; effect: Extract<DriverEffect, { type: T }> }>;
  state(): TransferStateName;
}

function harness(
  role: TransferRole,
  options: { size?: number; relay?: boolean; onEffect?: (effect: DriverEffect, machine: TransferMachine) => void } = {},
): Harness {
  const clock = new ManualScheduler();
  const log: Harness['log'] = [];
  const machine = new TransferMachine(
    {
      role,
      transferId: 'transfer-1',
      size: options.size ?? SIZE,
      relayAvailable: options.relay ?? true,
      constants: resolveTransferConstants(),
    },
    clock,
    (effect, m) => {
      log.push({ atMs: clock.now(), effect });
      options.onEffect?.(effect, m);
    },
  );
  return {
    clock,
    machine,
    log,
    of: (type) => log.filter((entry) => entry.effect.type === type) as never,
    state: () => machine.context.state,
  };
}

/** Receiver that accepted at t=0 (connecting, nothing dialled yet). */
function connectingReceiver(options: { relay?: boolean; size?: number } = {}): Harness {
  const h = harness('receiver', options);
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'accept' });
  return h;
}

function dials(h: Harness): Array<{ atMs: number; id: string; target: string }> {
  return h.log.flatMap(({ atMs, effect }) => {
    if (effect.type === 'dial') return [{ atMs, id: effect.connectionId, target: `${effect.candidate.host}:${effect.candidate.port}` }];
    if (effect.type === 'dial-relay') return [{ atMs, id: effect.connectionId, target: 'relay' }];
    return [];
  });
}

// ---- offers and answers ---------------------------------------------------------------------

test('sender: offer sends the offer and starts the offer timer', () => {
  const h = harness('sender');
  h.machine.input({ type: 'offer' });
  assert.is(h.state(), 'offered');
  assert.equal(h.of('send-peer').map((e) => e.effect.message), ['offer']);
  assert.equal(h.machine.activeTimers, ['offer']);
});

test('receiver: offer sends nothing; accept answers, prepares and starts connecting', () => {
  const h = harness('receiver');
  h.machine.input({ type: 'offer' });
  assert.is(h.of('send-peer').length, 0);
  h.machine.input({ type: 'accept' });
  assert.is(h.state(), 'connecting');
  assert.equal(h.of('send-peer').map((e) => e.effect.message), ['accept']);
  assert.is(h.of('prepare').length, 1);
  assert.equal(h.machine.activeTimers.sort(), ['connect', 'relay-delay']);
});

test('sender: the peer accepting starts connecting without answering', () => {
  const h = harness('sender');
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'accept' });
  assert.is(h.state(), 'connecting');
  assert.equal(h.of('send-peer').map((e) => e.effect.message), ['offer']);
});

test('reject: the receiver tells the sender with the code; both end rejected', () => {
  for (const code of [undefined, 'E_FILE_TOO_LARGE', 'E_NO_SPACE', 'E_PATH_REFUSED'] as const) {
    const receiver = harness('receiver');
    receiver.machine.input({ type: 'offer' });
    receiver.machine.input({ type: 'reject', code });
    assert.is(receiver.state(), 'rejected');
    assert.is(receiver.machine.context.error?.code, code ?? 'E_REJECTED');
    assert.equal(receiver.of('send-peer')[0].effect, { type: 'send-peer', message: 'reject', code: code ?? 'E_REJECTED' });
    assert.is(receiver.of('release').length, 1);

    const sender = harness('sender');
    sender.machine.input({ type: 'offer' });
    sender.machine.input({ type: 'reject', code });
    assert.is(sender.state(), 'rejected');
    assert.is(sender.machine.context.error?.code, code ?? 'E_REJECTED');
    assert.is(sender.of('send-peer').length, 1, 'only the offer');
    assert.is(sender.clock.pending, 0, 'no timer left');
  }
});

test('an unanswered offer times out with E_TRANSFER_TIMEOUT and withdraws it', () => {
  const h = harness('sender');
  h.machine.input({ type: 'offer' });
  h.clock.advance(TRANSFER_DEFAULTS.OFFER_TIMEOUT_MS - 1);
  assert.is(h.state(), 'offered');
  h.clock.advance(1);
  assert.is(h.state(), 'failed');
  assert.is(h.machine.context.error?.code, 'E_TRANSFER_TIMEOUT');
  assert.equal(h.of('send-peer')[1].effect, { type: 'send-peer', message: 'cancel', code: 'E_TRANSFER_TIMEOUT' });
});

// ---- the dial policy ------------------------------------------------------------------------

test('dial policy: every known candidate at t=0, the relay at exactly t=RELAY_DELAY_MS', () => {
  const h = harness('sender');
  h.machine.input({ type: 'offer' });
  // The receiver's candidates arrive with (before) its accept.
  h.machine.input({ type: 'candidates', candidates: [A, B, C], final: false });
  h.clock.advance(500);
  h.machine.input({ type: 'accept' });
  assert.equal(
    dials(h).map((d) => [d.atMs, d.target]),
    [
      [500, '192.168.1.20:4000'],
      [500, '198.20.0.2:4000'],
      [500, '198.20.0.2:5000'],
    ],
  );
  h.clock.advance(RELAY - 1);
  assert.is(dials(h).length, 3, 'relay not yet');
  h.clock.advance(1);
  assert.equal(dials(h).at(-1), { atMs: 500 + RELAY, id: 'r4', target: 'relay' });
});

test('dial policy: late candidates are dialled the moment they arrive; the relay keeps its time', () => {
  const h = connectingReceiver();
  h.clock.advance(150);
  h.machine.input({ type: 'candidates', candidates: [A], final: false });
  h.clock.advance(1200);
  h.machine.input({ type: 'candidates', candidates: [A, B], final: true }); // A again: not re-dialled
  h.clock.advance(RELAY);
  assert.equal(
    dials(h).map((d) => [d.atMs, d.target]),
    [
      [150, '192.168.1.20:4000'],
      [1350, '198.20.0.2:4000'],
      [RELAY, 'relay'],
    ],
  );
});

test('dial policy: an address announced again after its dial failed is dialled again (now mapped)', () => {
  const h = connectingReceiver();
  const observed: Candidate = { kind: 'observed', host: '198.20.0.2', port: 4000 };
  h.machine.input({ type: 'candidates', candidates: [observed], final: false });
  h.clock.advance(5);
  h.machine.input({ type: 'dial-failed', connectionId: 'd1' }); // refused: no mapping yet
  h.clock.advance(95);
  h.machine.input({ type: 'candidates', candidates: [{ ...observed, kind: 'mapped' }], final: true });
  assert.equal(dials(h).map((d) => [d.atMs, d.target]), [
    [0, '198.20.0.2:4000'],
    [100, '198.20.0.2:4000'],
  ]);
  assert.equal(h.machine.context.peerCandidates, [{ kind: 'mapped', host: '198.20.0.2', port: 4000 }]);
  assert.equal(h.of('dial').at(-1)?.effect.candidate.kind, 'mapped');
});

test('dial policy: an address that turns from observed into mapped is dialled afresh even while the first dial hangs', () => {
  const h = connectingReceiver();
  const observed: Candidate = { kind: 'observed', host: '198.20.0.2', port: 4000 };
  h.machine.input({ type: 'candidates', candidates: [observed], final: false });
  h.clock.advance(100);
  h.machine.input({ type: 'candidates', candidates: [observed], final: false }); // same kind, in flight: no
  h.machine.input({ type: 'candidates', candidates: [{ ...observed, kind: 'mapped' }], final: true });
  assert.equal(dials(h).map((d) => [d.atMs, d.id]), [
    [0, 'd1'],
    [100, 'd2'],
  ]);
});

test('dial policy: with a final list and every direct dial failed, the relay is dialled early', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'candidates', candidates: [A, B], final: true });
  const [first, second] = dials(h);
  h.clock.advance(300);
  h.machine.input({ type: 'dial-failed', connectionId: first.id });
  assert.is(dials(h).length, 2, 'one direct dial still in flight');
  h.clock.advance(100);
  h.machine.input({ type: 'dial-failed', connectionId: second.id });
  assert.equal(dials(h).at(-1)?.atMs, 400);
  assert.equal(dials(h).at(-1)?.target, 'relay');
  h.clock.advance(RELAY);
  assert.is(dials(h).filter((d) => d.target === 'relay').length, 1, 'the relay is dialled once per round');
});

test('dial policy: no candidates at all (final) means the relay at once', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'candidates', candidates: [], final: true });
  assert.equal(dials(h), [{ atMs: 0, id: 'r1', target: 'relay' }]);
});

test('dial policy: inbound connections in flight do not hold the relay back', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'dial-started', connectionId: 'in1', path: 'lan' });
  h.machine.input({ type: 'candidates', candidates: [], final: true });
  assert.equal(dials(h).map((d) => d.target), ['relay']);
});

test('without a relay, a round with nothing left retries after RETRY_DELAY_MS', () => {
  const h = connectingReceiver({ relay: false });
  h.machine.input({ type: 'candidates', candidates: [A], final: true });
  h.clock.advance(RELAY * 3);
  assert.equal(dials(h).map((d) => d.target), ['192.168.1.20:4000'], 'no relay, ever');
  h.machine.input({ type: 'dial-failed', connectionId: 'd1' });
  const failedAt = h.clock.now();
  h.clock.advance(TRANSFER_DEFAULTS.RETRY_DELAY_MS);
  assert.equal(dials(h).map((d) => [d.atMs, d.target]), [
    [0, '192.168.1.20:4000'],
    [failedAt + TRANSFER_DEFAULTS.RETRY_DELAY_MS, '192.168.1.20:4000'],
  ]);
  assert.is(h.machine.context.round, 2);
});

test('a round whose relay also failed retries, direct first again', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'candidates', candidates: [A], final: true });
  h.machine.input({ type: 'dial-failed', connectionId: 'd1' }); // relay dialled early: r2
  h.machine.input({ type: 'dial-failed', connectionId: 'r2' });
  h.clock.advance(TRANSFER_DEFAULTS.RETRY_DELAY_MS);
  assert.equal(dials(h).map((d) => d.target), ['192.168.1.20:4000', 'relay', '192.168.1.20:4000']);
});

test('peer candidates are capped at MAX_CANDIDATES', () => {
  const h = connectingReceiver();
  const many: Candidate[] = Array.from({ length: 40 }, (_, i) => ({ kind: 'lan', host: `10.0.0.${i + 1}`, port: 4000 }));
  h.machine.input({ type: 'candidates', candidates: many, final: false });
  assert.is(h.machine.context.peerCandidates.length, TRANSFER_DEFAULTS.MAX_CANDIDATES);
  assert.is(dials(h).length, TRANSFER_DEFAULTS.MAX_CANDIDATES);
});

// ---- who wins -------------------------------------------------------------------------------

test('the first connection to finish the handshake wins; every other attempt closes', () => {
  const h = harness('sender');
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'candidates', candidates: [A, B], final: false });
  h.machine.input({ type: 'accept' });
  h.machine.input({ type: 'dial-started', connectionId: 'in1', path: 'direct' });
  h.clock.advance(40);
  h.machine.input({ type: 'handshake-ok', connectionId: 'd2' });
  assert.is(h.state(), 'transferring');
  assert.equal(h.machine.context.winner, { id: 'd2', path: 'direct' });
  assert.equal(h.of('close').map((e) => e.effect.connectionId).sort(), ['d1', 'in1']);
  assert.equal(h.of('start-session').map((e) => e.effect), [{ type: 'start-session', connectionId: 'd2', offset: 0, path: 'direct' }]);
  assert.equal(h.machine.activeTimers, ['stall'], 'relay, connect and retry timers stopped');
  h.clock.advance(RELAY * 2);
  assert.is(dials(h).filter((d) => d.target === 'relay').length, 0, 'the relay is never dialled');
  // A late finisher is closed, not adopted.
  h.machine.input({ type: 'handshake-ok', connectionId: 'd1' });
  assert.equal(h.of('close').at(-1)?.effect, { type: 'close', connectionId: 'd1' });
  assert.equal(h.machine.context.winner?.id, 'd2');
});

test('the relay wins when no direct connection completes; a lan winner is reported as lan', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'candidates', candidates: [A], final: false });
  h.clock.advance(RELAY + 250);
  h.machine.input({ type: 'handshake-ok', connectionId: 'r2' });
  assert.equal(h.machine.context.winner, { id: 'r2', path: 'relay' });
  assert.equal(h.of('close').map((e) => e.effect.connectionId), ['d1']);

  const lan = connectingReceiver();
  lan.machine.input({ type: 'candidates', candidates: [A], final: false });
  lan.machine.input({ type: 'handshake-ok', connectionId: 'd1' });
  assert.equal(lan.machine.context.winner, { id: 'd1', path: 'lan' });
});

test('an inbound connection can win', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'dial-started', connectionId: 'in7', path: 'lan' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'in7' });
  assert.equal(h.machine.context.winner, { id: 'in7', path: 'lan' });
});

test("the receiver names the path as the sender does (from go), whatever it guessed itself", () => {
  const h = connectingReceiver();
  // Seen from here the dialler's address looked public; the sender dialled a LAN address.
  h.machine.input({ type: 'dial-started', connectionId: 'in3', path: 'direct' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'in3', path: 'lan' });
  assert.equal(h.machine.context.winner, { id: 'in3', path: 'lan' });
  assert.equal(h.of('start-session').map((e) => e.effect.path), ['lan']);
});

test('a handshake for an unknown connection is closed and changes nothing', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'handshake-ok', connectionId: 'ghost' });
  assert.is(h.state(), 'connecting');
  assert.equal(h.of('close').map((e) => e.effect.connectionId), ['ghost']);
});

// ---- progress, breaks and resume ------------------------------------------------------------

function transferring(role: TransferRole = 'sender', size = SIZE): Harness {
  const h = harness(role, { size });
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'candidates', candidates: [A], final: false });
  h.machine.input({ type: 'accept' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'd1' });
  return h;
}

test('acknowledgements only move forward and never past the size', () => {
  const h = transferring();
  h.machine.input({ type: 'chunk-acked', offset: 4096 });
  h.machine.input({ type: 'chunk-acked', offset: 1024 });
  h.machine.input({ type: 'chunk-acked', offset: SIZE + 1 });
  h.machine.input({ type: 'chunk-acked', offset: 1.5 });
  assert.is(h.machine.context.ackedBytes, 4096);
});

test('a break resumes from the last acknowledged offset, redialling at once and the relay 2 s later', () => {
  const h = transferring();
  h.machine.input({ type: 'chunk-acked', offset: 1_000_000 });
  h.machine.input({ type: 'chunk-acked', offset: 5_000_000 });
  h.clock.advance(10_000);
  const lostAt = h.clock.now();
  h.machine.input({ type: 'path-lost', connectionId: 'd1' });
  assert.is(h.state(), 'reconnecting');
  assert.equal(h.of('close').at(-1)?.effect, { type: 'close', connectionId: 'd1' });
  const round2 = dials(h).filter((d) => d.atMs >= lostAt);
  assert.equal(round2.map((d) => [d.atMs, d.target]), [[lostAt, '192.168.1.20:4000']]);
  h.clock.advance(RELAY);
  assert.equal(dials(h).at(-1), { atMs: lostAt + RELAY, id: 'r3', target: 'relay' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'r3' });
  assert.is(h.state(), 'transferring');
  assert.equal(h.of('start-session').at(-1)?.effect, { type: 'start-session', connectionId: 'r3', offset: 5_000_000, path: 'relay' });
  assert.is(h.machine.context.sessions, 2);
});

test('losing a connection that is not the winner is just a failed attempt', () => {
  const h = transferring();
  h.machine.input({ type: 'dial-started', connectionId: 'in1', path: 'lan' });
  h.machine.input({ type: 'path-lost', connectionId: 'in1' });
  assert.is(h.state(), 'transferring');
  assert.equal(Object.keys(h.machine.context.attempts), []);
});

test('no acknowledgement for STALL_TIMEOUT_MS counts as a break', () => {
  const h = transferring();
  h.clock.advance(TRANSFER_DEFAULTS.STALL_TIMEOUT_MS - 1);
  h.machine.input({ type: 'chunk-acked', offset: 10 }); // restarts the stall timer
  h.clock.advance(TRANSFER_DEFAULTS.STALL_TIMEOUT_MS - 1);
  assert.is(h.state(), 'transferring');
  h.clock.advance(1);
  assert.is(h.state(), 'reconnecting');
  assert.equal(h.of('close').at(-1)?.effect, { type: 'close', connectionId: 'd1' });
});

test('a new authenticated connection while transferring replaces the old one (the peer saw the break first)', () => {
  const h = transferring();
  h.machine.input({ type: 'chunk-acked', offset: 777 });
  h.machine.input({ type: 'dial-started', connectionId: 'in1', path: 'lan' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'in1' });
  assert.equal(h.machine.context.winner, { id: 'in1', path: 'lan' });
  assert.equal(h.of('close').at(-1)?.effect, { type: 'close', connectionId: 'd1' });
  assert.equal(h.of('start-session').at(-1)?.effect, { type: 'start-session', connectionId: 'in1', offset: 777, path: 'lan' });
});

test('everything acknowledged -> verifying; complete -> completed with every timer stopped', () => {
  const h = transferring('sender', 1000);
  h.machine.input({ type: 'chunk-acked', offset: 1000 });
  assert.is(h.state(), 'verifying');
  h.machine.input({ type: 'complete' });
  assert.is(h.state(), 'completed');
  assert.is(h.machine.context.error, null);
  assert.is(h.of('release').length, 1);
  assert.is(h.clock.pending, 0);
});

test('a zero-byte file goes straight to verifying', () => {
  const h = transferring('receiver', 0);
  assert.is(h.state(), 'verifying');
  h.machine.input({ type: 'complete' });
  assert.is(h.state(), 'completed');
});

test('a break while verifying resumes (at the end offset)', () => {
  const h = transferring('sender', 1000);
  h.machine.input({ type: 'chunk-acked', offset: 1000 });
  h.machine.input({ type: 'path-lost', connectionId: 'd1' });
  assert.is(h.state(), 'reconnecting');
  h.machine.input({ type: 'handshake-ok', connectionId: 'd2' });
  assert.is(h.state(), 'verifying');
  assert.equal(h.of('start-session').at(-1)?.effect.offset, 1000);
});

// ---- restored after a restart of the process ------------------------------------------------

test('restore: straight to reconnecting with the journalled offset and sessions; prepares, dials the known candidates at once', () => {
  const h = harness('receiver');
  h.machine.input({ type: 'restore', ackedBytes: 3_000_000, sessions: 2, candidates: [A, B] });
  assert.is(h.state(), 'reconnecting');
  assert.equal(h.of('state').map((e) => `${e.effect.from}>${e.effect.to}`), ['new>reconnecting']);
  assert.is(h.of('prepare').length, 1);
  assert.is(h.of('send-peer').length, 0, 'nothing to say: the peer knows this transfer');
  assert.equal(dials(h).map((d) => [d.atMs, d.target]), [
    [0, '192.168.1.20:4000'],
    [0, '198.20.0.2:4000'],
  ]);
  assert.equal(h.machine.activeTimers.sort(), ['connect', 'relay-delay']);
  assert.ok(h.machine.context.peerCandidatesFinal, 'the peer will not send its list again');
  h.clock.advance(RELAY);
  assert.equal(dials(h).at(-1), { atMs: RELAY, id: 'r3', target: 'relay' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'r3' });
  assert.is(h.state(), 'transferring');
  assert.equal(h.of('start-session').at(-1)?.effect, { type: 'start-session', connectionId: 'r3', offset: 3_000_000, path: 'relay' });
  assert.is(h.machine.context.sessions, 3, 'sessions of earlier runs count');
});

test('restore without known candidates dials the relay at once; new candidates from the peer are dialled as they come', () => {
  const h = harness('sender');
  h.machine.input({ type: 'restore', ackedBytes: 0, sessions: 1, candidates: [] });
  assert.equal(dials(h).map((d) => [d.atMs, d.target]), [[0, 'relay']]);
  h.clock.advance(100);
  h.machine.input({ type: 'candidates', candidates: [C], final: true });
  assert.equal(dials(h).at(-1), { atMs: 100, id: 'd2', target: '198.20.0.2:5000' });
  h.machine.input({ type: 'dial-started', connectionId: 'in1', path: 'lan' });
  h.machine.input({ type: 'handshake-ok', connectionId: 'in1' });
  assert.is(h.state(), 'transferring');
  assert.equal(h.of('close').map((e) => e.effect.connectionId).sort(), ['d2', 'r1']);
});

test('restore: every attempt failing retries after RETRY_DELAY_MS; nobody within RECONNECT_TIMEOUT_MS is E_PEER_GONE', () => {
  const h = harness('receiver');
  h.machine.input({ type: 'restore', ackedBytes: 10, sessions: 1, candidates: [A] });
  h.machine.input({ type: 'dial-failed', connectionId: 'd1' });
  // The list is final and the direct dial failed: the relay goes at once.
  assert.equal(dials(h).map((d) => d.target), ['192.168.1.20:4000', 'relay']);
  h.machine.input({ type: 'dial-failed', connectionId: 'r2' });
  assert.ok(h.machine.activeTimers.includes('retry'));
  h.clock.advance(TRANSFER_DEFAULTS.RETRY_DELAY_MS);
  assert.equal(dials(h).at(-1)?.target, '192.168.1.20:4000');
  h.clock.advance(TRANSFER_DEFAULTS.RECONNECT_TIMEOUT_MS - TRANSFER_DEFAULTS.RETRY_DELAY_MS - 1);
  assert.is(h.state(), 'reconnecting');
  h.clock.advance(1);
  assert.is(h.state(), 'failed');
  assert.is(h.machine.context.error?.code, 'E_PEER_GONE');
  assert.equal(h.of('send-peer').at(-1)?.effect, { type: 'send-peer', message: 'cancel', code: 'E_PEER_GONE' });
  assert.is(h.clock.pending, 0);
});

test('restore: offsets and session counts that make no sense are reset, the candidate list is capped', () => {
  for (const [ackedBytes, sessions] of [[-1, -1], [SIZE + 1, 1.5], [0.5, Number.NaN]] as const) {
    const h = harness('receiver');
    h.machine.input({ type: 'restore', ackedBytes, sessions, candidates: [] });
    assert.equal([h.machine.context.ackedBytes, h.machine.context.sessions], [0, 0]);
  }
  const many: Candidate[] = Array.from({ length: 40 }, (_, i) => ({ kind: 'lan', host: `10.0.0.${i + 1}`, port: 4000 }));
  const h = harness('receiver');
  h.machine.input({ type: 'restore', ackedBytes: SIZE, sessions: 1, candidates: many });
  assert.is(h.machine.context.peerCandidates.length, TRANSFER_DEFAULTS.MAX_CANDIDATES);
  h.machine.input({ type: 'handshake-ok', connectionId: 'd1' });
  assert.is(h.state(), 'verifying', 'every byte already in the partial file: straight to verifying');
});

test('restore applies only to a new transfer; a failed check before it ends the transfer and tells the peer', () => {
  const running = transferring();
  const before = running.log.length;
  running.machine.input({ type: 'restore', ackedBytes: 5, sessions: 1, candidates: [] });
  assert.is(running.state(), 'transferring');
  assert.is(running.log.length, before);
  assert.not.ok(transition(running.machine.context, { type: 'restore', ackedBytes: 5, sessions: 1, candidates: [] }, 0).applied);

  const changed = harness('sender');
  changed.machine.input({ type: 'fail', code: 'E_FILE_CHANGED' });
  assert.is(changed.state(), 'failed');
  assert.equal(changed.of('send-peer').map((e) => e.effect), [{ type: 'send-peer', message: 'cancel', code: 'E_FILE_CHANGED' }]);
  assert.is(changed.of('release').length, 1);
});

test('halt: timers stop, later inputs and effects are dropped, the state stays (a suspended transfer)', () => {
  const h = transferring();
  h.machine.input({ type: 'chunk-acked', offset: 4096 });
  const before = h.log.length;
  h.machine.halt();
  assert.ok(h.machine.isHalted);
  assert.equal(h.machine.activeTimers, []);
  assert.is(h.clock.pending, 0);
  h.machine.input({ type: 'path-lost', connectionId: 'd1' });
  h.machine.input({ type: 'cancel', by: 'local' });
  h.clock.advance(TRANSFER_DEFAULTS.RECONNECT_TIMEOUT_MS * 2);
  assert.is(h.state(), 'transferring');
  assert.is(h.machine.context.ackedBytes, 4096);
  assert.is(h.log.length, before, 'no effect at all: the peer is not told');
});

test('halt from inside an effect stops the rest of that step', () => {
  const h = harness('receiver', {
    onEffect: (effect, machine) => {
      if (effect.type === 'prepare') machine.halt();
    },
  });
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'accept' });
  h.machine.input({ type: 'candidates', candidates: [A], final: true });
  assert.equal(h.log.map((e) => e.effect.type), ['state', 'send-peer', 'prepare']);
  assert.is(h.clock.pending, 0);
  assert.is(h.state(), 'connecting', 'the context had moved on before the effects ran');
});

// ---- timeouts and every error code ----------------------------------------------------------

test('no connection within CONNECT_TIMEOUT_MS: E_TRANSFER_TIMEOUT, attempts closed, peer told', () => {
  const h = connectingReceiver();
  h.machine.input({ type: 'candidates', candidates: [A], final: false });
  h.clock.advance(TRANSFER_DEFAULTS.CONNECT_TIMEOUT_MS);
  assert.is(h.state(), 'failed');
  assert.is(h.machine.context.error?.code, 'E_TRANSFER_TIMEOUT');
  assert.ok(h.of('close').some((e) => e.effect.connectionId === 'd1'));
  assert.equal(h.of('send-peer').at(-1)?.effect, { type: 'send-peer', message: 'cancel', code: 'E_TRANSFER_TIMEOUT' });
  assert.is(h.clock.pending, 0);
});

test('no connection within RECONNECT_TIMEOUT_MS after a break: E_PEER_GONE', () => {
  const h = transferring();
  h.machine.input({ type: 'path-lost', connectionId: 'd1' });
  h.clock.advance(TRANSFER_DEFAULTS.RECONNECT_TIMEOUT_MS - 1);
  assert.is(h.state(), 'reconnecting');
  h.clock.advance(1);
  assert.is(h.state(), 'failed');
  assert.is(h.machine.context.error?.code, 'E_PEER_GONE');
});

test('error inputs end the transfer with their codes', () => {
  const cases: Array<[Parameters<TransferMachine['input']>[0], TransferStateName, string, boolean]> = [
    [{ type: 'cancel', by: 'local' }, 'cancelled', 'E_CANCELLED', true],
    [{ type: 'cancel', by: 'peer' }, 'cancelled', 'E_CANCELLED', false],
    [{ type: 'cancel', by: 'peer', code: 'E_NO_SPACE' }, 'failed', 'E_NO_SPACE', false],
    [{ type: 'hash-mismatch' }, 'failed', 'E_HASH_MISMATCH', true],
    [{ type: 'file-changed' }, 'failed', 'E_FILE_CHANGED', true],
    [{ type: 'peer-gone' }, 'failed', 'E_PEER_GONE', false],
    [{ type: 'fail', code: 'E_NO_SPACE' }, 'failed', 'E_NO_SPACE', true],
    [{ type: 'fail', code: 'E_PROTOCOL', message: 'bad frame' }, 'failed', 'E_PROTOCOL', true],
    [{ type: 'fail', code: 'E_FILE_UNREADABLE' }, 'failed', 'E_FILE_UNREADABLE', true],
  ];
  for (const [input, state, code, tellsPeer] of cases) {
    const h = transferring();
    h.machine.input(input);
    assert.is(h.state(), state, input.type);
    assert.is(h.machine.context.error?.code, code, input.type);
    assert.is(h.of('send-peer').some((e) => e.effect.message === 'cancel'), tellsPeer, `${input.type} tells the peer`);
    assert.is(h.of('release').length, 1);
    assert.is(h.clock.pending, 0);
  }
  const failed = transferring();
  failed.machine.input({ type: 'fail', code: 'E_PROTOCOL', message: 'bad frame' });
  assert.equal(failed.machine.context.error, { code: 'E_PROTOCOL', message: 'bad frame' });
});

test('cancel works in every non-terminal state', () => {
  const setups: Array<() => Harness> = [
    () => harness('sender'),
    () => {
      const h = harness('sender');
      h.machine.input({ type: 'offer' });
      return h;
    },
    () => connectingReceiver(),
    () => transferring(),
    () => {
      const h = transferring();
      h.machine.input({ type: 'path-lost', connectionId: 'd1' });
      return h;
    },
    () => {
      const h = transferring('sender', 10);
      h.machine.input({ type: 'chunk-acked', offset: 10 });
      return h;
    },
  ];
  const seen = new Set<TransferStateName>();
  for (const setup of setups) {
    const h = setup();
    seen.add(h.state());
    h.machine.input({ type: 'cancel', by: 'local' });
    assert.is(h.state(), 'cancelled');
    assert.is(h.clock.pending, 0);
  }
  assert.equal([...seen].sort(), ['connecting', 'new', 'offered', 'reconnecting', 'transferring', 'verifying']);
});

// ---- the table itself -----------------------------------------------------------------------

test('terminal states ignore every input; inbound connections there are closed', () => {
  const h = transferring();
  h.machine.input({ type: 'cancel', by: 'local' });
  const before = h.log.length;
  for (const input of [
    { type: 'accept' },
    { type: 'complete' },
    { type: 'chunk-acked', offset: 5 },
    { type: 'timeout', timer: 'connect' },
    { type: 'cancel', by: 'peer' },
  ] as const) {
    const result = transition(h.machine.context, input, 0);
    assert.not.ok(result.applied);
    assert.is(result.context, h.machine.context);
  }
  h.machine.input({ type: 'dial-started', connectionId: 'in9', path: 'lan' });
  assert.equal(h.log.slice(before).map((e) => e.effect), [{ type: 'close', connectionId: 'in9' }]);
  for (const state of TERMINAL_STATES) assert.equal(inputsAccepted(state), []);
});

test('inputs that do not apply are explicit no-ops', () => {
  const context = initialContext({ role: 'sender', transferId: 't', size: 1, relayAvailable: true, constants: resolveTransferConstants() });
  for (const input of [{ type: 'accept' }, { type: 'complete' }, { type: 'handshake-ok', connectionId: 'x' }, { type: 'timeout', timer: 'stall' }] as const) {
    const result = transition(context, input, 0);
    assert.not.ok(result.applied, input.type);
    assert.is(result.context.state, 'new');
  }
  // Accept twice: the second is ignored.
  const h = connectingReceiver();
  const effects = h.log.length;
  h.machine.input({ type: 'accept' });
  assert.is(h.log.length, effects);
});

test('the transition table: what each state reacts to', () => {
  assert.equal(inputsAccepted('new').sort(), ['cancel', 'fail', 'offer', 'peer-gone', 'restore']);
  assert.equal(inputsAccepted('offered').sort(), ['accept', 'cancel', 'candidates', 'fail', 'peer-gone', 'reject', 'timeout']);
  for (const state of ['connecting', 'reconnecting'] as const) {
    assert.equal(inputsAccepted(state).sort(), [
      'cancel', 'candidates', 'chunk-acked', 'dial-failed', 'dial-started', 'fail', 'handshake-ok', 'path-lost', 'peer-gone', 'timeout',
    ]);
  }
  for (const state of ['transferring', 'verifying'] as const) {
    assert.equal(inputsAccepted(state).sort(), [
      'cancel', 'candidates', 'chunk-acked', 'complete', 'dial-failed', 'dial-started', 'fail', 'file-changed', 'handshake-ok',
      'hash-mismatch', 'path-lost', 'peer-gone', 'timeout',
    ]);
  }
});

test('transition is pure: the input context is never modified', () => {
  const h = transferring();
  const before = JSON.stringify(h.machine.context);
  const context = h.machine.context;
  transition(context, { type: 'path-lost', connectionId: 'd1' }, 123);
  transition(context, { type: 'candidates', candidates: [B, C], final: true }, 123);
  assert.is(JSON.stringify(context), before);
});

test('inputs given while effects run are queued and handled in order', () => {
  // The driver fails every dial synchronously, as a refused connection can.
  const h = harness('receiver', {
    onEffect: (effect, machine) => {
      if (effect.type === 'dial') machine.input({ type: 'dial-failed', connectionId: effect.connectionId });
    },
  });
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'accept' });
  h.machine.input({ type: 'candidates', candidates: [A, B], final: true });
  // Both direct dials failed inside the same step; the relay followed at once.
  assert.equal(dials(h).map((d) => [d.atMs, d.target]), [
    [0, '192.168.1.20:4000'],
    [0, '198.20.0.2:4000'],
    [0, 'relay'],
  ]);
});

test('an effect handler that throws fails the transfer with its code', () => {
  const h = harness('sender', {
    onEffect: (effect) => {
      if (effect.type === 'prepare') throw new Error('listener exploded');
    },
  });
  h.machine.input({ type: 'offer' });
  h.machine.input({ type: 'accept' });
  assert.is(h.state(), 'failed');
  assert.equal(h.machine.context.error, { code: 'E_INTERNAL', message: 'listener exploded' });
});

test('state effects report every move', () => {
  const h = transferring('sender', 10);
  h.machine.input({ type: 'chunk-acked', offset: 10 });
  h.machine.input({ type: 'complete' });
  assert.equal(
    h.of('state').map((e) => `${e.effect.from}>${e.effect.to}`),
    ['new>offered', 'offered>connecting', 'connecting>transferring', 'transferring>verifying', 'verifying>completed'],
  );
});

test.run();
