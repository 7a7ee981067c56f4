import { ChatError, asChatError } from '../../shared/errors.js';
import type { Limits } from '../../shared/limits.js';
import type { RelayMessage } from '../../shared/messages.js';
import type { ChatClientOptions } from './client-options.js';
import type { ChatConnection } from './connection.js';
import type { EventHub } from './event-hub.js';
import type { LifecycleHost } from './lifecycle.js';
import type { LoginContext, LoginResult } from './login.js';
import { formatProxy, type ProxySettings } from './proxy.js';
import { sameRoom, type RoomTracker } from './room-tracker.js';
import { dialSideLink } from './side-link.js';
import type { TrustOptions } from './trust.js';
import type { Whispering } from './whispering.js';

/** What the client knows of its session with the relay; written while connecting, read by the facade. */
export interface SessionFacts {
  /** The user name as the relay spells it (after login). */
  user: string;
  /** The resume token of the last session. */
  token: string | undefined;
  /** The relay certificate's fingerprint once dialled. */
  fingerprint: string | null;
  /** Whether the relay accepts new accounts (from its welcome). */
  registration: 'open' | 'closed' | null;
  /** Our address as the relay saw it in the last welcome (a file transfer candidate). */
  observed: string | undefined;
}

export interface ConnectorParts {
  options: ChatClientOptions;
  /** The user name as given (validated). */
  user: string;
  server: string;
  proxy: ProxySettings | undefined;
  /** Where known relays are recorded (for the trust-new event). */
  knownRelaysFile: string;
  /**
   * Dials the relay: every connection this client opens to it (chat, reconnects, relay pipes,
   * room-file links) goes through this one function (the same address, proxy, local address).
   */
  dial(trust: TrustOptions, signal?: AbortSignal): Promise<ChatConnection>;
  limits: Limits;
  clientName: string;
  catchUpMax: number;
  events: EventHub;
  rooms: RoomTracker;
  whispering: Whispering;
  nextId(prefix?: string): string;
  /** One message from the relay, once live. */
  dispatch(message: RelayMessage): void;
  ping(): Promise<unknown>;
  /** The first login of this client is live (journalled transfers resume). */
  firstLive(): void;
}

/**
 * Connecting and login as the lifecycle's host: dialling the relay (the chat connection and
 * pinned side links, all through the client's one dial function), what a login
 * needs and what it learns (SessionFacts), and going live: the `connected` event, the room
 * we are in, what arrived meanwhile.
 */
export class Connector implements LifecycleHost {
  readonly facts: SessionFacts;

  constructor(private readonly parts: ConnectorParts) {
    this.facts = { user: parts.user, token: undefined, fingerprint: null, registration: null, observed: undefined };
  }

  /** The chat connection and its reconnects (the trust the client was given). */
  dial(trust: TrustOptions, signal?: AbortSignal): Promise<ChatConnection> {
    return this.parts.dial(trust, signal);
  }

  /** A side link (relay pipe, room file): pinned to the certificate the chat connection verified (side-link.ts). */
  dialSide(what: string, signal?: AbortSignal): Promise<ChatConnection> {
    return dialSideLink((trust, sig) => this.dial(trust, sig), this.facts.fingerprint, what, signal);
  }

  dialled(conn: ChatConnection): void {
    this.facts.fingerprint = conn.fingerprint;
    if (conn.trust.basis === 'tofu') {
      const { server, knownRelaysFile, events } = this.parts;
      events.emit({ type: 'trust-new', server, fingerprint: conn.fingerprint, recorded: conn.trust.recorded === true, file: knownRelaysFile });
    }
  }

  loginContext(again: boolean): LoginContext {
    const { parts, facts } = this;
    const { options, rooms, limits } = parts;
    const wasIn = again ? rooms.room : null;
    return {
      clientName: parts.clientName,
      user: facts.user,
      token: facts.token,
      again,
      wasIn,
      since: wasIn !== null ? rooms.sinceFor(wasIn) : undefined,
      register: options.register === true,
      loginTimeoutMs: limits.loginTimeoutMs,
      historyMaxPage: limits.historyMaxPage,
      catchUpMax: parts.catchUpMax,
      openCrypto: () => parts.whispering.open(),
      password: async () => {
        const source = options.password;
        const password = typeof source === 'function' ? await source() : source;
        if (password === undefined || password === '') throw new ChatError('E_USAGE', 'a password is needed to log in');
        return password;
      },
      nextId: (prefix) => parts.nextId(prefix),
      windowFor: (room) => rooms.windowFor(room),
      dropToken: () => {
        facts.token = undefined;
      },
      onWelcome: (welcome) => {
        facts.registration = welcome.registration;
        if (welcome.observed !== undefined) facts.observed = welcome.observed;
      },
      onSession: (session) => {
        facts.token = session.token;
        facts.user = session.user;
      },
    };
  }

  /** Logged in: say so, show where we are, then what arrived meanwhile. */
  live(conn: ChatConnection, login: LoginResult, pending: RelayMessage[]): void {
    const { events, rooms, proxy } = this.parts;
    // Keys are looked at afresh on each connection: the relay may serve new ones now.
    login.crypto.newSession();
    events.emit({
      type: 'connected',
      server: this.parts.server,
      user: this.facts.user,
      fingerprint: conn.fingerprint,
      resumed: login.session.resumed,
      registration: login.welcome.registration,
      ...(proxy !== undefined ? { proxy: formatProxy(proxy) } : {}),
    });
    if (login.lostRoom) events.emitError(login.lostRoom, 'join');
    if (login.prekeyError) events.emitError(login.prekeyError);
    if (login.missed) rooms.applyRejoined(login.joined, login.missed.messages, login.missed.truncated, this.parts.catchUpMax);
    else rooms.applyJoined(login.joined);
    for (const message of pending) {
      // Traffic of a room passed through on the way (the global room before walking back
      // into a chatroom) is not ours to show.
      if ((message.t === 'message' || message.t === 'presence') && !sameRoom(message.room, rooms.room)) continue;
      this.parts.dispatch(message);
    }
  }

  ready(firstTime: boolean): void {
    if (!firstTime) return;
    // Key changes noticed in an earlier run and not yet accepted are said again.
    this.parts.whispering.crypto?.announcePending().catch((error: unknown) => this.parts.events.emitError(asChatError(error)));
    // Transfers an earlier run of this client left in its journal resume now.
    this.parts.firstLive();
  }

  dispatch(message: RelayMessage): void {
    this.parts.dispatch(message);
  }

  data(payload: Buffer): void {
    this.parts.events.emitData(payload);
  }

  ping(): Promise<unknown> {
    return this.parts.ping();
  }

  closed(): void {
    void this.parts.whispering.save();
  }
}
