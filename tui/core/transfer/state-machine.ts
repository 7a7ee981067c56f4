import type { ErrorCode } from '../../../shared/errors.js';
import { type Candidate, type PathKind, candidateKey, pathOfCandidate } from './candidates.js';
import type { TransferConstants } from './constants.js';
import type { AbortCode, RejectCode } from './wire.js';

/**
 * The file-transfer state machine, pure: states are a union type, transitions a table of
 * (state, input) -> handler, and a handler returns the next context plus effects for a driver
 * to carry out (send a message, dial, start a session, set a timer...). An input that does
 * not apply in a state is an explicit no-op. No sockets, no timers, no clock: the time of
 * each input is passed in, so tests use a fake clock.
 *
 * Dial policy (magic-wormhole's transit, see docs/transfer.md):
 * 1. When connecting starts (t = 0), every known direct candidate of the peer is dialled at
 *    once; candidates that arrive later are dialled the moment they arrive.
 * 2. The relay pipe is dialled at t = RELAY_DELAY_MS, or earlier when the peer has said its
 *    candidate list is final and every direct dial has already failed.
 * 3. The first connection to complete the authenticated handshake wins; every other attempt
 *    is closed. The sender (the leader) decides and tells the receiver with `go`; the receiver
 *    reports `handshake-ok` only when `go` arrived, so both pick the same connection.
 * 4. When the winning path breaks (or stalls), a new round starts with the same policy and
 *    the session resumes from the last acknowledged offset on whichever path wins.
 * 5. When a round has nothing left in flight, another starts after RETRY_DELAY_MS, until the
 *    connect deadline (E_TRANSFER_TIMEOUT first time, E_PEER_GONE after a break).
 * 6. A transfer restored from the journal after a restart of this process (`restore`) starts
 *    as after a break: `reconnecting`, fresh listener and candidates, the peer's last known
 *    candidates dialled at once, the reconnect deadline.
 */

export type TransferRole = 'sender' | 'receiver';

export type TransferStateName =
  | 'new'
  /** Sender: the offer is out, no answer yet. Receiver: waiting for the local user. */
  | 'offered'
  /** Accepted; racing dials for the first time. */
  | 'connecting'
  /** A session moves bytes on the winning connection. */
  | 'transferring'
  /** The winning path broke; racing dials again to resume. */
  | 'reconnecting'
  /** Every byte is acknowledged; the receiver checks the hash. */
  | 'verifying'
  | 'completed'
  | 'rejected'
  | 'cancelled'
  | 'failed';

export const TERMINAL_STATES: readonly TransferStateName[] = ['completed', 'rejected', 'cancelled', 'failed'];

export function isTerminal(state: TransferStateName): boolean {
  return TERMINAL_STATES.includes(state);
}

export type TimerName = 'offer' | 'relay-delay' | 'connect' | 'retry' | 'stall';

export interface ConnectionAttempt {
  id: string;
  /** `dial`: we dialled a candidate; `relay`: we dialled the relay pipe; `inbound`: our listener accepted it. */
  origin: 'dial' | 'relay' | 'inbound';
  path: PathKind;
  candidate?: Candidate;
  startedAtMs: number;
}

export interface TransferContext {
  readonly role: TransferRole;
  readonly transferId: string;
  /** File size in bytes. */
  readonly size: number;
  /** Whether a relay pipe can be dialled at all. */
  readonly relayAvailable: boolean;
  readonly constants: TransferConstants;
  state: TransferStateName;
  /** Bytes the receiver has confirmed written (never decreases). */
  ackedBytes: number;
  peerCandidates: Candidate[];
  peerCandidatesFinal: boolean;
  /** Connections being dialled or in their handshake, by id. */
  attempts: Record<string, ConnectionAttempt>;
  relayDialledThisRound: boolean;
  round: number;
  roundStartedAtMs: number;
  nextConnectionNumber: number;
  winner: { id: string; path: PathKind } | null;
  /** Sessions started so far (1 + number of resumes). */
  sessions: number;
  error: { code: ErrorCode; message?: string } | null;
}

export type TransferInput =
  /** Sender: we make the offer. Receiver: a (validated) offer arrived. */
  | { type: 'offer' }
  /** Receiver: the local user accepted. Sender: the peer accepted. */
  | { type: 'accept' }
  /** Receiver: the local user (or a check such as size) declined. Sender: the peer declined. */
  | { type: 'reject'; code?: RejectCode }
  | { type: 'cancel'; by: 'local' | 'peer'; code?: AbortCode }
  /** The peer's candidates (validated). */
  | { type: 'candidates'; candidates: Candidate[]; final: boolean }
  /** A connection we did not order began: our listener accepted one. */
  | { type: 'dial-started'; connectionId: string; path: PathKind }
  /** A dial or an inbound connection failed before winning (refused, timeout, not the peer). */
  | { type: 'dial-failed'; connectionId: string; code?: ErrorCode }
  /** A connection is authenticated (and, for the receiver, the leader said `go` on it). */
  /** `path`: the leader's name for the connection (the receiver learns it from `go`). */
  | { type: 'handshake-ok'; connectionId: string; path?: PathKind }
  /** Bytes below `offset` are written at the receiver. */
  | { type: 'chunk-acked'; offset: number }
  /** The winning connection broke. */
  | { type: 'path-lost'; connectionId: string }
  /** The receiver checked the hash and renamed the file. */
  | { type: 'complete' }
  | { type: 'hash-mismatch' }
  | { type: 'file-changed' }
  /** Any other fatal error with its code (E_NO_SPACE, E_PROTOCOL, E_FILE_UNREADABLE...). */
  | { type: 'fail'; code: ErrorCode; message?: string }
  /** The relay says the peer left for good. */
  | { type: 'peer-gone' }
  | { type: 'timeout'; timer: TimerName }
  /**
   * This transfer was accepted by an earlier run of this process and journalled: resume it as
   * after a break. `ackedBytes`: receiver, the bytes already in its partial file (sender: what
   * it last saw acknowledged, for display; the receiver's `resume` has the final say).
   * `sessions`: sessions the earlier runs started. `candidates`: the peer's last known
   * addresses (validated); the peer will not send them again, so the list counts as final.
   */
  | { type: 'restore'; ackedBytes: number; sessions: number; candidates: Candidate[] };

export type TransferInputType = TransferInput['type'];
type InputOf<T extends TransferInputType> = Extract<TransferInput, { type: T }>;

export type TransferEffect =
  /** Send an end-to-end message to the peer through the relay; the driver fills in the payload. */
  | { type: 'send-peer'; message: 'offer' | 'accept' | 'reject' | 'cancel'; code?: ErrorCode }
  /** Start listening, gather candidates and send them to the peer (never blocks: mapping runs in parallel). */
  | { type: 'prepare' }
  | { type: 'dial'; connectionId: string; candidate: Candidate }
  | { type: 'dial-relay'; connectionId: string }
  | { type: 'close'; connectionId: string }
  /** The leader sends `go` on this connection first; then both run a session from `offset`. */
  | { type: 'start-session'; connectionId: string; offset: number; path: PathKind }
  | { type: 'start-timer'; timer: TimerName; ms: number }
  | { type: 'stop-timer'; timer: TimerName }
  | { type: 'state'; from: TransferStateName; to: TransferStateName }
  /** Close every connection, the listener and the port mapping; stop every timer. */
  | { type: 'release' };

export interface TransitionResult {
  context: TransferContext;
  effects: TransferEffect[];
  /** False when the input did not apply in this state (an explicit no-op). */
  applied: boolean;
}

export interface TransferInit {
  role: TransferRole;
  transferId: string;
  size: number;
  relayAvailable: boolean;
  constants: TransferConstants;
}

export function initialContext(init: TransferInit): TransferContext {
  return {
    ...init,
    state: 'new',
    ackedBytes: 0,
    peerCandidates: [],
    peerCandidatesFinal: false,
    attempts: {},
    relayDialledThisRound: false,
    round: 0,
    roundStartedAtMs: 0,
    nextConnectionNumber: 1,
    winner: null,
    sessions: 0,
    error: null,
  };
}

/** A handler mutates the draft context and pushes effects. */
type Handler<T extends TransferInputType> = (draft: TransferContext, input: InputOf<T>, out: Out) => void;

interface Out {
  effects: TransferEffect[];
  nowMs: number;
}

type Table = { [S in TransferStateName]: { [T in TransferInputType]?: Handler<T> } };

// ---- helpers ------------------------------------------------------------------------------

function moveTo(draft: TransferContext, to: TransferStateName, out: Out): void {
  if (draft.state === to) return;
  out.effects.push({ type: 'state', from: draft.state, to });
  draft.state = to;
}

function finish(draft: TransferContext, to: 'completed' | 'rejected' | 'cancelled' | 'failed', code: ErrorCode | null, out: Out): void {
  if (code !== null) draft.error = { code };
  draft.attempts = {};
  draft.winner = null;
  out.effects.push({ type: 'release' });
  moveTo(draft, to, out);
}

function newConnectionId(draft: TransferContext, prefix: string): string {
  return `${prefix}${draft.nextConnectionNumber++}`;
}

/**
 * Dials a candidate unless a dial to the same address and of the same kind is in flight. A
 * kind change (observed -> mapped) gets a fresh dial even then: the earlier attempt may be
 * stuck on a router state that predates the mapping, and a new connection is not.
 */
function dialCandidate(draft: TransferContext, candidate: Candidate, out: Out): void {
  const key = candidateKey(candidate);
  const inFlight = Object.values(draft.attempts).some(
    (attempt) => attempt.candidate !== undefined && candidateKey(attempt.candidate) === key && attempt.candidate.kind === candidate.kind,
  );
  if (inFlight) return;
  const id = newConnectionId(draft, 'd');
  draft.attempts[id] = { id, origin: 'dial', path: pathOfCandidate(candidate), candidate, startedAtMs: out.nowMs };
  out.effects.push({ type: 'dial', connectionId: id, candidate });
}

/** Plans a relay pipe (an effect for the transfer to carry out; no socket here). */
function requestRelayDial(draft: TransferContext, out: Out): void {
  if (draft.relayDialledThisRound || !draft.relayAvailable) return;
  draft.relayDialledThisRound = true;
  const id = newConnectionId(draft, 'r');
  draft.attempts[id] = { id, origin: 'relay', path: 'relay', startedAtMs: out.nowMs };
  out.effects.push({ type: 'stop-timer', timer: 'relay-delay' });
  out.effects.push({ type: 'dial-relay', connectionId: id });
}

function outboundDirectInFlight(draft: TransferContext): boolean {
  return Object.values(draft.attempts).some((attempt) => attempt.origin === 'dial');
}

/** Step 2 of the policy: the relay need not wait when no direct dial is left to wait for. */
function maybeDialRelayEarly(draft: TransferContext, out: Out): void {
  if (!draft.relayDialledThisRound && draft.peerCandidatesFinal && !outboundDirectInFlight(draft)) requestRelayDial(draft, out);
}

/** Step 5: nothing in flight and nothing left to try this round -> retry later. */
function maybeScheduleRetry(draft: TransferContext, out: Out): void {
  const relayDone = draft.relayDialledThisRound || !draft.relayAvailable;
  if (relayDone && draft.peerCandidatesFinal && Object.keys(draft.attempts).length === 0) {
    out.effects.push({ type: 'start-timer', timer: 'retry', ms: draft.constants.RETRY_DELAY_MS });
  }
}

function startRound(draft: TransferContext, out: Out): void {
  draft.round += 1;
  draft.roundStartedAtMs = out.nowMs;
  draft.relayDialledThisRound = false;
  out.effects.push({ type: 'stop-timer', timer: 'retry' });
  for (const candidate of draft.peerCandidates) dialCandidate(draft, candidate, out);
  if (draft.relayAvailable) out.effects.push({ type: 'start-timer', timer: 'relay-delay', ms: draft.constants.RELAY_DELAY_MS });
  maybeDialRelayEarly(draft, out);
  maybeScheduleRetry(draft, out);
}

function closeAllAttempts(draft: TransferContext, out: Out, except?: string): void {
  for (const id of Object.keys(draft.attempts)) {
    if (id !== except) out.effects.push({ type: 'close', connectionId: id });
  }
  draft.attempts = {};
}

function startSession(draft: TransferContext, id: string, path: PathKind, out: Out): void {
  draft.winner = { id, path };
  draft.sessions += 1;
  out.effects.push({ type: 'stop-timer', timer: 'relay-delay' });
  out.effects.push({ type: 'stop-timer', timer: 'retry' });
  out.effects.push({ type: 'stop-timer', timer: 'connect' });
  out.effects.push({ type: 'start-timer', timer: 'stall', ms: draft.constants.STALL_TIMEOUT_MS });
  out.effects.push({ type: 'start-session', connectionId: id, offset: draft.ackedBytes, path });
  moveTo(draft, draft.ackedBytes === draft.size ? 'verifying' : 'transferring', out);
}

function loseWinner(draft: TransferContext, out: Out): void {
  if (draft.winner !== null) out.effects.push({ type: 'close', connectionId: draft.winner.id });
  draft.winner = null;
  out.effects.push({ type: 'stop-timer', timer: 'stall' });
  out.effects.push({ type: 'start-timer', timer: 'connect', ms: draft.constants.RECONNECT_TIMEOUT_MS });
  moveTo(draft, 'reconnecting', out);
  startRound(draft, out);
}

// ---- handlers shared by several states ----------------------------------------------------

const cancel: Handler<'cancel'> = (draft, input, out) => {
  const code = input.code ?? 'E_CANCELLED';
  if (input.by === 'local') out.effects.push({ type: 'send-peer', message: 'cancel', code });
  finish(draft, code === 'E_CANCELLED' ? 'cancelled' : 'failed', code, out);
};

const fail: Handler<'fail'> = (draft, input, out) => {
  out.effects.push({ type: 'send-peer', message: 'cancel', code: input.code });
  finish(draft, 'failed', input.code, out);
  if (input.message !== undefined) draft.error = { code: input.code, message: input.message };
};

const peerGone: Handler<'peer-gone'> = (draft, _input, out) => finish(draft, 'failed', 'E_PEER_GONE', out);
// The data connection already carried the verdict; the end-to-end channel repeats it in case
// that connection broke at the same moment (the peer would otherwise wait out a reconnect).
const hashMismatch: Handler<'hash-mismatch'> = (draft, _input, out) => {
  out.effects.push({ type: 'send-peer', message: 'cancel', code: 'E_HASH_MISMATCH' });
  finish(draft, 'failed', 'E_HASH_MISMATCH', out);
};
const fileChanged: Handler<'file-changed'> = (draft, _input, out) => {
  out.effects.push({ type: 'send-peer', message: 'cancel', code: 'E_FILE_CHANGED' });
  finish(draft, 'failed', 'E_FILE_CHANGED', out);
};
const complete: Handler<'complete'> = (draft, _input, out) => {
  draft.ackedBytes = draft.size;
  finish(draft, 'completed', null, out);
};

/**
 * New addresses are added (up to MAX_CANDIDATES) and dialled at once. An address announced
 * again is dialled again unless a dial to it is in flight: the peer re-announcing it means
 * something changed — typically its observed address (dialled and refused a moment ago)
 * now has a port mapping behind it.
 */
const candidates: Handler<'candidates'> = (draft, input, out) => {
  const toDial: Candidate[] = [];
  for (const candidate of input.candidates) {
    const key = candidateKey(candidate);
    const known = draft.peerCandidates.findIndex((existing) => candidateKey(existing) === key);
    if (known !== -1) {
      draft.peerCandidates[known] = candidate; // the latest kind (mapped rather than observed)
      toDial.push(candidate);
    } else if (draft.peerCandidates.length < draft.constants.MAX_CANDIDATES) {
      draft.peerCandidates.push(candidate);
      toDial.push(candidate);
    }
  }
  if (input.final) draft.peerCandidatesFinal = true;
  if (draft.state === 'connecting' || draft.state === 'reconnecting') {
    for (const candidate of toDial) dialCandidate(draft, candidate, out);
    maybeDialRelayEarly(draft, out);
    maybeScheduleRetry(draft, out);
  }
};

const inboundStarted: Handler<'dial-started'> = (draft, input, out) => {
  if (draft.attempts[input.connectionId] !== undefined) return;
  draft.attempts[input.connectionId] = { id: input.connectionId, origin: 'inbound', path: input.path, startedAtMs: out.nowMs };
};

const dialFailed: Handler<'dial-failed'> = (draft, input, out) => {
  if (draft.attempts[input.connectionId] === undefined) return;
  delete draft.attempts[input.connectionId];
  if (draft.state === 'connecting' || draft.state === 'reconnecting') {
    maybeDialRelayEarly(draft, out);
    maybeScheduleRetry(draft, out);
  }
};

const chunkAcked: Handler<'chunk-acked'> = (draft, input, out) => {
  if (!Number.isInteger(input.offset) || input.offset <= draft.ackedBytes || input.offset > draft.size) return;
  draft.ackedBytes = input.offset;
  if (draft.state === 'transferring' || draft.state === 'verifying') {
    out.effects.push({ type: 'start-timer', timer: 'stall', ms: draft.constants.STALL_TIMEOUT_MS });
    if (draft.ackedBytes === draft.size) moveTo(draft, 'verifying', out);
  }
};

/** While dialling: the first authenticated connection wins and the rest close. */
const handshakeWhileDialling: Handler<'handshake-ok'> = (draft, input, out) => {
  const attempt = draft.attempts[input.connectionId];
  if (attempt === undefined) {
    out.effects.push({ type: 'close', connectionId: input.connectionId });
    return;
  }
  closeAllAttempts(draft, out, input.connectionId);
  startSession(draft, input.connectionId, input.path ?? attempt.path, out);
};

/**
 * While a session runs: a new authenticated connection means the peer saw the path break
 * before we did (a half-open TCP connection can look alive for minutes); follow it at once.
 */
const handshakeWhileRunning: Handler<'handshake-ok'> = (draft, input, out) => {
  const attempt = draft.attempts[input.connectionId];
  if (attempt === undefined) {
    out.effects.push({ type: 'close', connectionId: input.connectionId });
    return;
  }
  if (draft.winner !== null) out.effects.push({ type: 'close', connectionId: draft.winner.id });
  closeAllAttempts(draft, out, input.connectionId);
  startSession(draft, input.connectionId, input.path ?? attempt.path, out);
};

const pathLost: Handler<'path-lost'> = (draft, input, out) => {
  if (draft.winner === null || draft.winner.id !== input.connectionId) {
    dialFailed(draft, { type: 'dial-failed', connectionId: input.connectionId }, out);
    return;
  }
  loseWinner(draft, out);
};

const connectTimeout = (draft: TransferContext, out: Out): void => {
  const code: AbortCode = draft.state === 'reconnecting' ? 'E_PEER_GONE' : 'E_TRANSFER_TIMEOUT';
  closeAllAttempts(draft, out);
  out.effects.push({ type: 'send-peer', message: 'cancel', code });
  finish(draft, 'failed', code, out);
};

const timeoutWhileDialling: Handler<'timeout'> = (draft, input, out) => {
  switch (input.timer) {
    case 'relay-delay':
      requestRelayDial(draft, out);
      maybeScheduleRetry(draft, out);
      return;
    case 'retry':
      startRound(draft, out);
      return;
    case 'connect':
      connectTimeout(draft, out);
      return;
    case 'offer':
    case 'stall':
      return; // stale timers: stopped when this state was entered
  }
};

const timeoutWhileRunning: Handler<'timeout'> = (draft, input, out) => {
  if (input.timer === 'stall') loseWinner(draft, out);
};

/**
 * Step 6: a journalled transfer after a restart. The peer is (or soon will be) in
 * `reconnecting` with the same certificates, so both race dials as after any break.
 */
const restore: Handler<'restore'> = (draft, input, out) => {
  const acked = input.ackedBytes;
  draft.ackedBytes = Number.isSafeInteger(acked) && acked >= 0 && acked <= draft.size ? acked : 0;
  draft.sessions = Number.isSafeInteger(input.sessions) && input.sessions >= 0 ? input.sessions : 0;
  draft.peerCandidates = input.candidates.slice(0, draft.constants.MAX_CANDIDATES);
  draft.peerCandidatesFinal = true;
  out.effects.push({ type: 'prepare' });
  out.effects.push({ type: 'start-timer', timer: 'connect', ms: draft.constants.RECONNECT_TIMEOUT_MS });
  moveTo(draft, 'reconnecting', out);
  startRound(draft, out);
};

// ---- the table ------------------------------------------------------------------------------

const always = { cancel, fail, 'peer-gone': peerGone } as const;

/**
 * A first dial and a redial after a break take the same inputs; they differ only in the timer
 * armed on the way in (connect or reconnect) and in the code of its timeout (timeoutWhileDialling).
 */
const dialling: Table['connecting'] = {
  candidates,
  'dial-started': inboundStarted,
  'dial-failed': dialFailed,
  'path-lost': pathLost,
  'handshake-ok': handshakeWhileDialling,
  'chunk-acked': chunkAcked,
  timeout: timeoutWhileDialling,
  ...always,
};

/**
 * Bytes flowing and every byte acked but the hash not yet checked take the same inputs: a
 * break while verifying redials as one while transferring, and the late acks and the
 * outcome (complete, hash-mismatch, file-changed) may come in either.
 */
const running: Table['transferring'] = {
  candidates,
  'dial-started': inboundStarted,
  'dial-failed': dialFailed,
  'handshake-ok': handshakeWhileRunning,
  'chunk-acked': chunkAcked,
  'path-lost': pathLost,
  complete,
  'hash-mismatch': hashMismatch,
  'file-changed': fileChanged,
  timeout: timeoutWhileRunning,
  ...always,
};

const TABLE: Table = {
  new: {
    offer: (draft, _input, out) => {
      if (draft.role === 'sender') out.effects.push({ type: 'send-peer', message: 'offer' });
      out.effects.push({ type: 'start-timer', timer: 'offer', ms: draft.constants.OFFER_TIMEOUT_MS });
      moveTo(draft, 'offered', out);
    },
    restore,
    ...always,
  },
  offered: {
    accept: (draft, _input, out) => {
      if (draft.role === 'receiver') out.effects.push({ type: 'send-peer', message: 'accept' });
      out.effects.push({ type: 'stop-timer', timer: 'offer' });
      out.effects.push({ type: 'prepare' });
      out.effects.push({ type: 'start-timer', timer: 'connect', ms: draft.constants.CONNECT_TIMEOUT_MS });
      moveTo(draft, 'connecting', out);
      startRound(draft, out);
    },
    reject: (draft, input, out) => {
      const code = input.code ?? 'E_REJECTED';
      if (draft.role === 'receiver') out.effects.push({ type: 'send-peer', message: 'reject', code });
      finish(draft, 'rejected', code, out);
    },
    candidates,
    timeout: (draft, input, out) => {
      if (input.timer !== 'offer') return;
      out.effects.push({ type: 'send-peer', message: 'cancel', code: 'E_TRANSFER_TIMEOUT' });
      finish(draft, 'failed', 'E_TRANSFER_TIMEOUT', out);
    },
    ...always,
  },
  connecting: dialling,
  reconnecting: dialling,
  transferring: running,
  verifying: running,
  completed: {},
  rejected: {},
  cancelled: {},
  failed: {},
};

/** Which inputs a state reacts to (for docs and tests). */
export function inputsAccepted(state: TransferStateName): TransferInputType[] {
  return Object.keys(TABLE[state]) as TransferInputType[];
}

function cloneContext(context: TransferContext): TransferContext {
  return {
    ...context,
    peerCandidates: [...context.peerCandidates],
    attempts: { ...context.attempts },
    winner: context.winner === null ? null : { ...context.winner },
    error: context.error === null ? null : { ...context.error },
  };
}

/**
 * One step: the next context and the effects of `input` arriving at `nowMs` (ms, any
 * monotonic origin). Never throws; an input that does not apply returns `applied: false`
 * and the context unchanged. Inbound connections that arrive in a state that takes none
 * are closed (the one effect of a no-op).
 */
export function transition(context: TransferContext, input: TransferInput, nowMs: number): TransitionResult {
  const handler = TABLE[context.state][input.type] as Handler<typeof input.type> | undefined;
  if (handler === undefined) {
    const effects: TransferEffect[] =
      input.type === 'dial-started' || (input.type === 'handshake-ok' && context.winner?.id !== input.connectionId)
        ? [{ type: 'close', connectionId: input.connectionId }]
        : [];
    return { context, effects, applied: false };
  }
  const draft = cloneContext(context);
  const out: Out = { effects: [], nowMs };
  handler(draft, input as never, out);
  return { context: draft, effects: out.effects, applied: true };
}
