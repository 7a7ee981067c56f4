import { ChatError } from '../../shared/errors.js';
import { boundChallenge } from '../../shared/login-proof.js';
import { PROTOCOL_VERSION, type ClientMessage, type RelayMessage, type RelayMessageOf, type RoomMessage } from '../../shared/messages.js';
import { collectMissed } from './catch-up.js';
import { relayError, type ChatConnection } from './connection.js';
import { expectReply, replyError } from './replies.js';
import { Inbox } from './inbox.js';
import { isGlobal, sameRoom } from './room-tracker.js';
import type { SeqWindow } from './seen.js';
import type { WhisperCrypto } from './whispers.js';

/** What one login needs to know of the client. */
export interface LoginContext {
  clientName: string;
  user: string;
  /** The resume token of the last session, if any. */
  token: string | undefined;
  /** A reconnect (resume, or log in and walk back) rather than the first connect (log in or register). */
  again: boolean;
  /** The room to get back to after a reconnect. */
  wasIn: string | null;
  since: number | undefined;
  register: boolean;
  loginTimeoutMs: number;
  historyMaxPage: number;
  catchUpMax: number;
  openCrypto(): Promise<WhisperCrypto>;
  password(): Promise<string>;
  nextId(prefix?: string): string;
  windowFor(room: string): SeqWindow;
  /** The relay refused the resume token: forget it. */
  dropToken(): void;
  /** The relay's welcome (registration open or closed, our address as it sees it). */
  onWelcome(welcome: RelayMessageOf<'welcome'>): void;
  /** Logged in: the new token and the user name as the relay spells it. */
  onSession(session: RelayMessageOf<'session'>): void;
}

export interface LoginResult {
  welcome: RelayMessageOf<'welcome'>;
  session: RelayMessageOf<'session'>;
  joined: RelayMessageOf<'joined'>;
  /** Back in the same room after a reconnect: what was missed meanwhile. */
  missed: { messages: RoomMessage[]; truncated: boolean } | null;
  /** The chatroom could not be entered again (the client stays in the global room). */
  lostRoom: ChatError | null;
  /** The relay refused this device's prekeys (whispers to us then use the v1 envelope). */
  prekeyError: ChatError | null;
  /** Messages that arrived in between (a presence, a message): dispatched once live. */
  deferred: RelayMessage[];
  crypto: WhisperCrypto;
}

/**
 * Connecting and login on a verified connection: hello / welcome, resume with the token or log
 * in (or register) with the password and a proof bound to this TLS session, the room the
 * relay put us in, the walk back into the chatroom we were in, and what was missed there.
 * Reads the connection's messages from `inbox` until then; the caller goes live after.
 */
export async function logIn(conn: ChatConnection, inbox: Inbox, ctx: LoginContext): Promise<LoginResult> {
  const deadline = Date.now() + ctx.loginTimeoutMs;
  const deferred: RelayMessage[] = [];
  const awaitReply = async (match: (m: RelayMessage) => boolean): Promise<RelayMessage> => {
    for (;;) {
      const m = await inbox.next(deadline);
      if (match(m)) return m;
      // A `bye` or an error not tied to a request fails the login; the rest waits in `deferred`.
      if (m.t === 'bye') throw relayError(m.code, m.message);
      if (m.t === 'error' && m.re === undefined) throw replyError(m);
      deferred.push(m);
    }
  };
  const ask = async (message: ClientMessage & { id: string }): Promise<RelayMessage> => {
    conn.send(message);
    return awaitReply((m) => 're' in m && m.re === message.id);
  };

  // 1. hello / welcome
  conn.send({ t: 'hello', v: PROTOCOL_VERSION, client: ctx.clientName });
  const welcome = (await awaitReply((m) => m.t === 'welcome')) as RelayMessageOf<'welcome'>;
  ctx.onWelcome(welcome);
  const crypto = await ctx.openCrypto();
  // Proves this device holds the signing key, bound to this very TLS session (login-proof.ts).
  const proof = await crypto.loginProof(boundChallenge(welcome.challenge, conn.socket));

  // 2. resume with the token, or log in / register with the password
  const { wasIn, since } = ctx;
  let session: RelayMessageOf<'session'> | null = null;
  if (ctx.again && ctx.token !== undefined) {
    const reply = await ask({ t: 'resume', id: ctx.nextId(), user: ctx.user, token: ctx.token, proof, room: wasIn ?? undefined, since });
    if (reply.t === 'session') session = reply;
    else if (reply.t === 'error' && reply.code === 'E_BAD_TOKEN') ctx.dropToken();
    else throw replyError(reply);
  }
  if (!session) {
    const password = await ctx.password();
    const register = !ctx.again && ctx.register;
    const keys = await crypto.ownBundle();
    const reply = await ask({ t: register ? 'register' : 'login', id: ctx.nextId(), user: ctx.user, password, keys, proof });
    if (reply.t !== 'session') throw replyError(reply);
    session = reply;
  }
  ctx.onSession(session);
  crypto.setUser(session.user);

  // 3. the room the relay put us in
  let joined = (await awaitReply((m) => m.t === 'joined')) as RelayMessageOf<'joined'>;
  let lostRoom: ChatError | null = null;
  if (wasIn !== null && !isGlobal(wasIn) && !sameRoom(wasIn, joined.room)) {
    // A password login lands in the global room: walk back into the chatroom.
    try {
      let reply = await ask({ t: 'join', id: ctx.nextId(), room: wasIn, since });
      if (reply.t === 'error' && reply.code === 'E_NO_SUCH_ROOM') {
        // The room ended while we were away (its last member left); chatrooms are re-created on return.
        reply = await ask({ t: 'create', id: ctx.nextId(), room: wasIn });
      }
      if (reply.t !== 'joined') throw replyError(reply);
      joined = reply;
    } catch (error) {
      // The relay refused (the name is taken by a room we cannot enter...): stay in the
      // global room and say so. A broken connection is retried as a whole instead.
      if (!(error instanceof ChatError) || error.code === 'E_CLOSED' || error.code === 'E_LOGIN_TIMEOUT') throw error;
      lostRoom = error;
    }
  }
  const missed =
    wasIn !== null && sameRoom(wasIn, joined.room)
      ? await collectMissed(ctx.windowFor(joined.room), joined, (before, limit) => ask({ t: 'history', id: ctx.nextId(), before, limit }), {
          maxPage: ctx.historyMaxPage,
          maxMessages: ctx.catchUpMax,
        })
      : null;
  // 4. this device's prekeys, before going live so that a contact's first whisper finds them
  // (session-crypto.ts). A relay that refuses them leaves whispers to us on the v1 envelope.
  let prekeyError: ChatError | null = null;
  try {
    await crypto.publishPrekeys(async (upload) => {
      const reply = await ask({ t: 'prekeys', id: ctx.nextId(), ...upload });
      // The relay's refusal with its own code (E_FLOOD {retryAfterMs} is asked again), not E_PROTOCOL.
      if (reply.t === 'error') throw replyError(reply);
      return expectReply(reply, 'prekeys-stored').remaining;
    });
  } catch (error) {
    if (!(error instanceof ChatError) || error.code === 'E_CLOSED' || error.code === 'E_LOGIN_TIMEOUT') throw error;
    prekeyError = error;
  }
  return { welcome, session, joined, missed, lostRoom, prekeyError, deferred, crypto };
}
