import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { CONNECT_FATAL_CODES, ChatError, SEND_AGAIN_LATER_CODES, asChatError } from '../../shared/errors.js';
import { CLIENT_DEFAULTS, MAX_HISTORY_MESSAGES, resolveLimits, type Limits } from '../../shared/limits.js';
import { boundChallenge } from '../../shared/login-proof.js';
import { PROTOCOL_VERSION, type ClientMessage, type RelayMessage, type RelayMessageOf, type RoomMessage } from '../../shared/messages.js';
import { GLOBAL_ROOM, nameKey, validateRoomName, validateUserName } from '../../shared/names.js';
import { DEFAULT_PORT, DEFAULT_SERVER, formatServerAddress, parseServerAddress, type ServerAddress } from './address.js';
import { DEFAULT_BACKOFF, retryDelayMs, type BackoffPolicy } from './backoff.js';
import { collectMissed } from './catch-up.js';
import { dispatchLine } from './dispatch.js';
import { dialRelay, relayError, type RelayConnection } from './connection.js';
import { formatProxy, parseProxyUrl, type ProxySettings } from './proxy.js';
import { errorEvent, type ChatEvent, type ChatEventOf, type ChatEventType, type ChatMessage, type RoomInfo } from './events.js';
import type { KdfLimits } from './identity-file.js';
import { Inbox } from './inbox.js';
import { configDir as defaultConfigDir, dataDir as defaultDataDir, knownRelaysFile, userDataDir } from './paths.js';
import { pacerFor, type SendPacer } from './pacer.js';
import { SeqWindow } from './seen.js';
import { openPipe } from './relay-pipe.js';
import { hashFile, openFileSide, putFile, saveFile } from './room-files.js';
import { TRANSFER_JOURNAL_DIR_NAME, TransferJournal } from './transfer-journal.js';
import { TransferManager, expandPath, type ClientTransferOptions, type TransferInfo } from './transfers.js';
import { KnownRelays, type TrustOptions } from './trust.js';
import { WhisperCrypto, type SealedWhisper } from './whispers.js';

/** A password, or a function asked for it each time one is needed (the TUI may prompt). */
export type PasswordSource = string | (() => string | Promise<string>);

export interface ChatClientOptions {
  /** `HOST:PORT` of the relay; or give `host` and `port`. Default `localhost:7443`. */
  server?: string;
  host?: string;
  port?: number;
  user: string;
  /** Needed to log in, to register, and when a resume token is refused after a reconnect. */
  password?: PasswordSource;
  /** Create the account on the first connect instead of logging in. */
  register?: boolean;
  /** How to verify the relay (trust.ts); default: system CAs, then the known-relays file. */
  trust?: TrustOptions;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  /** Give up after this many failed reconnect attempts in a row (default: never). */
  maxReconnectAttempts?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Uses maxFrameBytes, maxMessageBytes, maxWhisperBodyBytes, handshakeTimeoutMs, loginTimeoutMs, heartbeatMs, idleTimeoutMs, historyOnJoin, historyMaxPage. */
  limits?: Partial<Limits>;
  /** Where known_relays lives; default paths.configDir(). */
  configDir?: string;
  /**
   * Where this device's identity keys, contacts' key pins and whisper state live, in a folder
   * per user (`<dataDir>/users/<name>`); default paths.dataDir().
   */
  dataDir?: string;
  /** Unlocks the identity key file, or protects it when it is first made (the CLI reads SECURECHAT_PASSPHRASE). */
  passphrase?: string;
  /** argon2id cost when a passphrase-protected identity file is made; default MODERATE (tests pass cheaper). */
  kdf?: KdfLimits;
  /** A request without an answer after this long fails with E_TIMEOUT (room messages never do: they are resent). Default 30 s. */
  requestTimeoutMs?: number;
  /** Most room messages waiting for their ack, including those queued while reconnecting (beyond: E_FLOOD). Default 1000. */
  maxUnackedMessages?: number;
  /** Most missed messages fetched after a reconnect; older ones are left to /history. Default 10000. */
  catchUpMaxMessages?: number;
  /** Sent in `hello`. */
  clientName?: string;
  /** Random source for the reconnect jitter (tests). */
  random?: () => number;
  /** File transfers: `direct: false` forces the relay pipe (--no-direct), download folder, core options. */
  transfers?: ClientTransferOptions;
  /**
   * Reach the relay through this SOCKS5 proxy (`socks5h://[USER:PASS@]HOST:PORT`, `socks5://...`,
   * or parsed settings): every connection to the relay goes through it (chat, reconnects, relay
   * pipes, room files). File transfers then never connect to the peer directly, offer no
   * addresses and map no ports, since that would reveal this machine's addresses.
   */
  proxy?: string | ProxySettings;
  /**
   * Connect from this local address (a machine with several; tests give each client its own
   * loopback address, 127.0.0.2 ...). Straight connections only: with a proxy it is the
   * proxy's business.
   */
  localAddress?: string;
}

export type ClientState = 'idle' | 'connecting' | 'online' | 'reconnecting' | 'closed';

/** What the relay said when it stored a room message. */
export interface AckInfo {
  id: string;
  room: string;
  seq: number;
  /** Milliseconds since the epoch. */
  time: number;
}

export interface RoomState {
  room: string;
  users: string[];
}

interface PendingRequest {
  apply(reply: RelayMessage): unknown;
  resolve(value: unknown): void;
  reject(error: ChatError): void;
  timer: NodeJS.Timeout;
  /** Set for a rate-limited request: where it goes back to if the relay refuses it for flooding. */
  paced?: PacedRequest;
}

interface UnackedSay {
  kind: 'say';
  /** Place in the send queue (call order). */
  order: number;
  id: string;
  text: string;
  /** Sent on some connection already: a resend carries `resent: true`. */
  sent: boolean;
  resolve(ack: AckInfo): void;
  reject(error: ChatError): void;
}

/** A whisper or transfer signal in the send queue: the relay counts it against the same flood limit. */
interface PacedRequest {
  kind: 'request';
  /** Place in the send queue (call order). */
  order: number;
  /** Null while its body is being sealed: it keeps its place, and the queue waits for it. */
  message: (ClientMessage & { id: string }) | null;
  /** Failed (connection lost, client closed) before it was sent. */
  dropped: boolean;
  apply(reply: RelayMessage): unknown;
  resolve(value: unknown): void;
  reject(error: ChatError): void;
}

/** Everything the relay rate-limits, waiting for a token from the pacer, in call order. */
type PacedSend = UnackedSay | PacedRequest;

const CLIENT_NAME = 'securechat/0.1';

function sameRoom(a: string | null, b: string | null): boolean {
  return a !== null && b !== null && nameKey(a) === nameKey(b);
}

function isGlobal(room: string | null): boolean {
  return room !== null && nameKey(room) === GLOBAL_ROOM;
}

type AnyListener = (event: ChatEvent) => void;

/**
 * The headless securechat client: one relay connection with login, rooms, room messages,
 * whispers, reconnect-and-resume, and typed events. The TUI, the JSON-lines mode, bots and
 * benchmarks are thin users of it.
 *
 * Delivery promise: a room message passed to `say` is sent, resent with the same id after a
 * reconnect until the relay acknowledges it (the relay stores it once), and shown to this
 * client's listeners once, from the ack. Messages of others are shown once each: after a
 * reconnect the client asks for everything after the last sequence id it saw and drops
 * what it has shown already.
 */
/** A listener's bug must not corrupt the client's state half-way through a dispatch; it still surfaces as an uncaught exception, as with EventEmitter. */
function callListener(listener: AnyListener, event: ChatEvent): void {
  try {
    listener(event);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

export class ChatClient {
  readonly server: string;
  private readonly address: ServerAddress;
  /** The SOCKS5 proxy every relay connection goes through (dialRelayAs), if any. */
  readonly proxy: ProxySettings | undefined;
  private readonly limits: Limits;
  private readonly backoff: BackoffPolicy;
  private readonly knownRelays: KnownRelays;
  private readonly requestTimeoutMs: number;
  private readonly maxUnacked: number;
  private readonly catchUpMax: number;

  private stateValue: ClientState = 'idle';
  private userName: string;
  private token: string | undefined;
  private conn: RelayConnection | null = null;
  /** A connection still logging in (so close() can cut it). */
  private connecting: RelayConnection | null = null;
  private abort = new AbortController();
  private exiting = false;

  private roomName: string | null = null;
  private userList: string[] = [];
  private readonly seen = new Map<string, SeqWindow>();
  /** Per room, the oldest sequence id shown: where /history pages back from. */
  private readonly oldestShown = new Map<string, number>();

  private readonly pending = new Map<string, PendingRequest>();
  private readonly unacked = new Map<string, UnackedSay>();
  /**
   * Rate-limited sends not yet out on the current connection, by `order`: unacknowledged room
   * messages, whispers and transfer signals, one queue behind one pacer.
   */
  private toSend: PacedSend[] = [];
  private nextOrder = 0;
  private readonly pacer: SendPacer;
  private pumpTimer: NodeJS.Timeout | null = null;
  private drainWaiters: Array<{ resolve(): void; reject(e: ChatError): void }> = [];
  private closedWaiters: Array<() => void> = [];

  private readonly idPrefix = randomBytes(6).toString('base64url');
  private idCounter = 0;

  private rttValue: number | null = null;
  private fingerprintValue: string | null = null;
  private registrationValue: 'open' | 'closed' | null = null;
  /** The whisper layer (identity, key pins, replay state): opened on the first connect. */
  private crypto: WhisperCrypto | null = null;
  /** Logged in at least once: later connects log in (or resume) instead of registering. */
  private wasOnline = false;
  private lastSentAt = 0;
  private lastReceivedAt = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private sleepTimer: { timer: NodeJS.Timeout; wake(): void } | null = null;

  private readonly listeners = new Map<string, Set<AnyListener>>();
  private readonly dataListeners = new Set<(payload: Buffer) => void>();
  /** Our address as the relay saw it in the last welcome (a file transfer candidate). */
  private observedValue: string | undefined;
  /** /send, /accept, /transfers...: the logic lives in transfers.ts; this client provides signals and pipes. */
  readonly transfers: TransferManager;

  constructor(readonly options: ChatClientOptions) {
    this.address =
      options.host !== undefined ? { host: options.host, port: options.port ?? DEFAULT_PORT } : parseServerAddress(options.server ?? DEFAULT_SERVER);
    this.server = formatServerAddress(this.address);
    this.proxy = typeof options.proxy === 'string' ? parseProxyUrl(options.proxy) : options.proxy;
    this.userName = validateUserName(options.user);
    this.limits = resolveLimits(options.limits);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.knownRelays = new KnownRelays(knownRelaysFile(options.configDir ?? defaultConfigDir()));
    this.requestTimeoutMs = options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs;
    this.maxUnacked = options.maxUnackedMessages ?? CLIENT_DEFAULTS.maxUnackedMessages;
    this.catchUpMax = options.catchUpMaxMessages ?? CLIENT_DEFAULTS.catchUpMaxMessages;
    this.pacer = pacerFor(this.limits.messagesPerSecond, this.limits.messageBurst, Date.now());
    this.transfers = new TransferManager(
      {
        user: () => this.userName,
        roomUsers: () => this.userList,
        checkRecipient: (to) => this.onlineCrypto().checkRecipient(to),
        sendSignal: (to, message) => this.sendSignal(to, message),
        openPipe: (transferId, peer, signal) => this.openTransferPipe(transferId, peer, signal),
        observedAddress: () => this.observedValue,
        peerKeys: (user) => {
          const bundle = this.crypto?.pins.get(user)?.bundle;
          return bundle === undefined ? undefined : { sign: bundle.sign, box: bundle.box };
        },
        emit: (event) => this.emit(event),
      },
      // With a proxy, direct transfers are off whatever else was asked: a listener, candidates
      // or a port mapping would reveal the addresses the proxy hides.
      this.proxy !== undefined ? { ...options.transfers, direct: false, relayOnlyBecause: 'proxy' } : options.transfers,
      // Running transfers survive a restart of the client (docs/transfer.md, "Restart").
      new TransferJournal(path.join(userDataDir(this.userName, options.dataDir ?? defaultDataDir()), TRANSFER_JOURNAL_DIR_NAME)),
    );
  }

  // ---- state ---------------------------------------------------------------------------

  get state(): ClientState {
    return this.stateValue;
  }
  get connected(): boolean {
    return this.stateValue === 'online';
  }
  /** The user name as the relay spells it (after login). */
  get user(): string {
    return this.userName;
  }
  /** The current room, or null before the first login. */
  get room(): string | null {
    return this.roomName;
  }
  /** Users in the current room (kept up to date from presence events). */
  get roomUsers(): string[] {
    return [...this.userList];
  }
  /** The last measured round-trip time in milliseconds, or null. */
  get rttMs(): number | null {
    return this.rttValue;
  }
  /** The relay certificate's fingerprint, `sha256:<hex>`, once connected. */
  get fingerprint(): string | null {
    return this.fingerprintValue;
  }
  /** Room messages sent (or queued) and not yet acknowledged. */
  get unackedCount(): number {
    return this.unacked.size;
  }
  /** Whether the relay accepts new accounts (from its welcome), or null before the first one. */
  get registration(): 'open' | 'closed' | null {
    return this.registrationValue;
  }
  /** The whisper layer (identity, key pins), or null before the first connect. */
  get whisperCrypto(): WhisperCrypto | null {
    return this.crypto;
  }

  // ---- events --------------------------------------------------------------------------

  /** Listens to one event type, or to all with '*'. Returns a function that stops listening. */
  on<T extends ChatEventType>(type: T, listener: (event: ChatEventOf<T>) => void): () => void;
  on(type: '*', listener: (event: ChatEvent) => void): () => void;
  on(type: string, listener: (event: never) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const fn = listener as AnyListener;
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  /** Listens to data frames from the relay (relay pipe traffic). */
  onData(listener: (payload: Buffer) => void): () => void {
    this.dataListeners.add(listener);
    return () => {
      this.dataListeners.delete(listener);
    };
  }

  private emit(event: ChatEvent): void {
    this.emitTo(this.listeners.get(event.type), event);
    this.emitTo(this.listeners.get('*'), event);
  }

  /** Calls each listener of a set as it was when the event came (one event per room message: no copies for the usual single listener). */
  private emitTo(set: Set<AnyListener> | undefined, event: ChatEvent): void {
    if (set === undefined || set.size === 0) return;
    if (set.size === 1) {
      for (const listener of set) callListener(listener, event);
      return;
    }
    for (const listener of [...set]) callListener(listener, event);
  }

  private emitError(error: ChatError, command?: string): void {
    this.emit(errorEvent(error, command));
  }

  // ---- connecting ----------------------------------------------------------------------

  /**
   * Loads (or on first run makes) this device's identity keys, dials, verifies the relay, logs
   * in (or registers, uploading the public keys) and resolves once in the global room.
   * Rejects with the ChatError that stopped it (E_CONNECT, E_TLS, E_UNTRUSTED, E_AUTH, E_RATE,
   * E_PASSPHRASE, E_CORRUPT_FILE...); the first connect is not retried.
   *
   * Also works again once the client has closed (gave up reconnecting, a fatal error, close()):
   * it then resumes the session if the relay still accepts its token, else logs in, and goes
   * back to the room it was in.
   */
  async connect(): Promise<void> {
    if (this.stateValue !== 'idle' && this.stateValue !== 'closed') throw new ChatError('E_USAGE', `connect() while ${this.stateValue}`);
    const previous = this.stateValue;
    this.stateValue = 'connecting';
    this.exiting = false;
    this.abort = new AbortController();
    try {
      await this.openCrypto();
      await this.establish(this.wasOnline);
    } catch (error) {
      if (this.stateValue === 'connecting') this.stateValue = previous;
      throw asChatError(error);
    }
  }

  /** Opens the whisper layer once per client: identity keys, key pins, replay state. */
  private async openCrypto(): Promise<WhisperCrypto> {
    if (this.crypto) return this.crypto;
    this.crypto = await WhisperCrypto.open({
      dir: userDataDir(this.userName, this.options.dataDir ?? defaultDataDir()),
      user: this.userName,
      passphrase: this.options.passphrase,
      kdf: this.options.kdf,
      fetchKeys: (user) =>
        this.request({ t: 'keys', id: this.nextId('k'), user }, (reply) => {
          const m = this.expect(reply, 'keys');
          return { user: m.user, keys: m.keys };
        }),
      canFetch: () => this.stateValue === 'online' && this.conn !== null,
      emit: (event) => this.emit(event),
      emitError: (error) => this.emitError(error),
      maxTextBytes: this.limits.maxMessageBytes,
      maxBodyChars: this.limits.maxWhisperBodyBytes,
      state: { onError: (error) => this.emitError(asChatError(error)) },
    });
    return this.crypto;
  }

  private isShutDown(): boolean {
    return this.stateValue === 'closed';
  }

  /** A fresh request id (also used as message ids): unique per client instance and session. */
  nextId(prefix = 'r'): string {
    this.idCounter += 1;
    return `${prefix}${this.idPrefix}${this.idCounter.toString(36)}`;
  }

  private async resolvePassword(): Promise<string> {
    const source = this.options.password;
    const password = typeof source === 'function' ? await source() : source;
    if (password === undefined || password === '') throw new ChatError('E_USAGE', 'a password is needed to log in');
    return password;
  }

  /**
   * Every connection this client opens to the relay (chat, reconnects, relay pipes, room-file
   * links) is dialled here: the same address, the same proxy, the given trust.
   */
  private dialRelayAs(trust: TrustOptions, signal?: AbortSignal): Promise<RelayConnection> {
    return dialRelay({ ...this.address, trust, knownRelays: this.knownRelays, limits: this.limits, proxy: this.proxy, localAddress: this.options.localAddress, signal });
  }

  /** One connection attempt: dial, verify, hello, log in, get back to where we were. */
  private async establish(again: boolean): Promise<void> {
    const conn = await this.dialRelayAs(this.options.trust ?? {}, this.abort.signal);
    if (this.stateValue === 'closed') {
      conn.destroy();
      throw new ChatError('E_CLOSED', 'the client was closed');
    }
    this.connecting = conn;
    this.fingerprintValue = conn.fingerprint;
    if (conn.trust.basis === 'tofu') {
      this.emit({ type: 'trust-new', server: this.server, fingerprint: conn.fingerprint, recorded: conn.trust.recorded === true, file: this.knownRelays.file });
    }

    const inbox = new Inbox();
    let live = false;
    conn.start({
      onMessage: (m) => (live ? this.dispatch(m) : inbox.push(m)),
      onData: (payload) => {
        for (const listener of this.dataListeners) listener(payload);
      },
      onClose: (reason) => (live ? this.connectionLost(conn, reason) : inbox.fail(reason)),
    });

    const deadline = Date.now() + this.limits.loginTimeoutMs;
    /** Messages that arrived in between (a presence, a message): dispatched once logged in. */
    const deferred: RelayMessage[] = [];
    const ask = async (message: ClientMessage & { id: string }): Promise<RelayMessage> => {
      conn.send(message);
      return this.awaitReply(inbox, deferred, deadline, (m) => 're' in m && m.re === message.id);
    };

    try {
      // 1. hello / welcome
      conn.send({ t: 'hello', v: PROTOCOL_VERSION, client: this.options.clientName ?? CLIENT_NAME });
      const welcome = (await this.awaitReply(inbox, deferred, deadline, (m) => m.t === 'welcome')) as RelayMessageOf<'welcome'>;
      this.registrationValue = welcome.registration;
      if (welcome.observed !== undefined) this.observedValue = welcome.observed;
      const crypto = await this.openCrypto();
      // Proves this device holds the signing key, bound to this very TLS session (login-proof.ts).
      const proof = await crypto.loginProof(boundChallenge(welcome.challenge, conn.socket));

      // 2. resume with the token, or log in / register with the password
      const wasIn = again ? this.roomName : null;
      const since = wasIn !== null ? this.sinceFor(wasIn) : undefined;
      let session: RelayMessageOf<'session'> | null = null;
      if (again && this.token !== undefined) {
        const reply = await ask({ t: 'resume', id: this.nextId(), user: this.userName, token: this.token, proof, room: wasIn ?? undefined, since });
        if (reply.t === 'session') session = reply;
        else if (reply.t === 'error' && reply.code === 'E_BAD_TOKEN') this.token = undefined;
        else throw this.replyError(reply);
      }
      if (!session) {
        const password = await this.resolvePassword();
        const register = !again && this.options.register === true;
        const keys = await crypto.ownBundle();
        const reply = await ask({ t: register ? 'register' : 'login', id: this.nextId(), user: this.userName, password, keys, proof });
        if (reply.t !== 'session') throw this.replyError(reply);
        session = reply;
      }
      this.token = session.token;
      this.userName = session.user;
      crypto.setUser(session.user);

      // 3. the room the relay put us in
      let joined = (await this.awaitReply(inbox, deferred, deadline, (m) => m.t === 'joined')) as RelayMessageOf<'joined'>;
      let lostRoom: ChatError | null = null;
      if (wasIn !== null && !isGlobal(wasIn) && !sameRoom(wasIn, joined.room)) {
        // A password login lands in the global room: walk back into the chatroom.
        try {
          let reply = await ask({ t: 'join', id: this.nextId(), room: wasIn, since });
          if (reply.t === 'error' && reply.code === 'E_NO_SUCH_ROOM') {
            // The room ended while we were away (its last member left); chatrooms are re-created on return.
            reply = await ask({ t: 'create', id: this.nextId(), room: wasIn });
          }
          if (reply.t !== 'joined') throw this.replyError(reply);
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
          ? await collectMissed(this.windowFor(joined.room), joined, (before, limit) => ask({ t: 'history', id: this.nextId(), before, limit }), {
              maxPage: this.limits.historyMaxPage,
              maxMessages: this.catchUpMax,
            })
          : null;

      // 4. live: show where we are, hand over what arrived meanwhile, resend what was not acknowledged
      // close() may have run during the awaits above.
      if (this.isShutDown()) throw new ChatError('E_CLOSED', 'the client was closed');
      this.conn = conn;
      this.connecting = null;
      live = true;
      this.stateValue = 'online';
      const firstTime = !this.wasOnline;
      this.wasOnline = true;
      this.lastSentAt = this.lastReceivedAt = Date.now();
      // Keys are looked at afresh on each connection: the relay may serve new ones now.
      crypto.newSession();
      this.emit({
        type: 'connected',
        server: this.server,
        user: this.userName,
        fingerprint: conn.fingerprint,
        resumed: session.resumed,
        registration: welcome.registration,
        ...(this.proxy !== undefined ? { proxy: formatProxy(this.proxy) } : {}),
      });
      if (lostRoom) this.emitError(lostRoom, 'join');
      if (missed) this.applyRejoined(joined, missed.messages, missed.truncated);
      else this.applyJoined(joined);
      for (const message of [...deferred, ...inbox.takeAll()]) {
        // Traffic of a room passed through on the way (the global room before walking back
        // into a chatroom) is not ours to show.
        if ((message.t === 'message' || message.t === 'presence') && !sameRoom(message.room, this.roomName)) continue;
        this.dispatch(message);
      }
      // Everything not acknowledged goes (again) on this connection, in the order it was said.
      // The pacer is not refilled: the relay's flood limit is per user, not per connection.
      this.stopPump();
      this.failQueuedRequests(new ChatError('E_CLOSED', 'the connection to the relay was lost before it was sent'));
      this.toSend = [...this.unacked.values()];
      this.pump();
      this.startHeartbeat();
      // One round trip right away, so the rtt is known before the first heartbeat.
      this.ping().catch(() => {});
      // Key changes noticed in an earlier run and not yet accepted are said again.
      if (firstTime) crypto.announcePending().catch((error: unknown) => this.emitError(asChatError(error)));
      // Transfers an earlier run of this client left in its journal resume now.
      if (firstTime) void this.transfers.restoreJournal();
    } catch (error) {
      if (this.connecting === conn) this.connecting = null;
      conn.destroy();
      throw asChatError(error);
    }
  }

  /** Reads until `match`; a `bye` or an error not tied to a request fails the login; the rest waits in `deferred`. */
  private async awaitReply(inbox: Inbox, deferred: RelayMessage[], deadline: number, match: (m: RelayMessage) => boolean): Promise<RelayMessage> {
    for (;;) {
      const m = await inbox.next(deadline);
      if (match(m)) return m;
      if (m.t === 'bye') throw relayError(m.code, m.message);
      if (m.t === 'error' && m.re === undefined) throw this.replyError(m);
      deferred.push(m);
    }
  }

  private replyError(reply: RelayMessage): ChatError {
    if (reply.t === 'error') {
      const details: Record<string, unknown> = {};
      if (reply.re !== undefined) details.re = reply.re;
      if (reply.retryAfterMs !== undefined) details.retryAfterMs = reply.retryAfterMs;
      return relayError(reply.code, reply.message, details);
    }
    return new ChatError('E_PROTOCOL', `unexpected answer "${reply.t}" from the relay`);
  }

  private windowFor(room: string): SeqWindow {
    const key = nameKey(room);
    let window = this.seen.get(key);
    if (!window) this.seen.set(key, (window = new SeqWindow()));
    return window;
  }

  private sinceFor(room: string): number | undefined {
    const floor = this.windowFor(room).floor;
    return floor >= 0 ? floor : undefined;
  }

  // ---- what the relay says --------------------------------------------------------------

  private toChatMessage(m: RoomMessage): ChatMessage {
    const message: ChatMessage = { room: m.room, seq: m.seq, from: m.from, text: m.text, id: m.id, time: m.time };
    if (nameKey(m.from) === nameKey(this.userName)) message.own = true;
    return message;
  }

  /** A fresh arrival in a room (login, /create, /join, /leave, or the relay moving us). */
  private applyJoined(m: RelayMessageOf<'joined'>): RoomState {
    const previous = this.roomName;
    this.roomName = m.room;
    this.userList = [...m.users];
    if (previous !== null && !sameRoom(previous, m.room)) this.emit({ type: 'left', room: previous });
    const window = this.windowFor(m.room);
    const first = m.history[0];
    // Older messages than what the relay sent as context are not "missed": start counting here.
    if (first) window.skipTo(first.seq - 1);
    const history: ChatMessage[] = [];
    for (const message of m.history) {
      if (nameKey(message.from) === nameKey(this.userName) && this.unacked.has(message.id)) {
        this.settleAck(message.id, message.room, message.seq, message.time);
      } else if (window.mark(message.seq)) {
        history.push(this.toChatMessage(message));
      }
    }
    if (first) this.oldestShown.set(nameKey(m.room), first.seq);
    else this.oldestShown.delete(nameKey(m.room));
    this.emit({ type: 'joined', room: m.room, users: [...m.users], history, hasMore: m.hasMore, rejoined: false });
    return { room: m.room, users: [...m.users] };
  }

  /** Back in the same room after a reconnect: what was missed follows as message events. */
  private applyRejoined(m: RelayMessageOf<'joined'>, missed: RoomMessage[], truncated: boolean): void {
    this.roomName = m.room;
    this.userList = [...m.users];
    this.emit({ type: 'joined', room: m.room, users: [...m.users], history: [], hasMore: m.hasMore, rejoined: true });
    if (truncated) {
      this.emitError(new ChatError('E_TOO_LARGE', `more than ${this.catchUpMax} messages were missed; older ones are left to /history`));
    }
    const window = this.windowFor(m.room);
    const first = missed[0];
    if (first && first.seq > window.floor + 1 && truncated) window.skipTo(first.seq - 1);
    for (const message of missed) this.receiveRoomMessage(message);
  }

  private receiveRoomMessage(m: RoomMessage): void {
    if (nameKey(m.from) === nameKey(this.userName) && this.unacked.has(m.id)) {
      // Our own message, stored before the connection broke and its ack was lost.
      this.settleAck(m.id, m.room, m.seq, m.time);
      return;
    }
    if (!this.windowFor(m.room).mark(m.seq)) return;
    this.noteShown(m.room, m.seq);
    this.emit({ type: 'message', ...this.toChatMessage(m) });
  }

  /** /history pages back from the oldest message shown; in a room joined empty that is the first live one. */
  private noteShown(room: string, seq: number): void {
    const key = nameKey(room);
    if (!this.oldestShown.has(key)) this.oldestShown.set(key, seq);
  }

  private settleAck(id: string, room: string, seq: number, time: number): void {
    const entry = this.unacked.get(id);
    if (!entry) return;
    this.unacked.delete(id);
    const ack: AckInfo = { id, room, seq, time };
    this.emit({ type: 'ack', ...ack });
    if (this.windowFor(room).mark(seq)) {
      this.noteShown(room, seq);
      this.emit({ type: 'message', room, seq, from: this.userName, text: entry.text, id, time, own: true });
    }
    entry.resolve(ack);
    this.checkDrained();
  }

  private dispatch(m: RelayMessage): void {
    this.lastReceivedAt = Date.now();
    switch (m.t) {
      case 'message':
        return this.receiveRoomMessage(m);
      case 'ack':
        return this.settleAck(m.re, m.room, m.seq, m.time);
      case 'presence':
        // A new login may come from a new device: look at that user's keys again before use.
        if (m.event === 'join') this.crypto?.forget(m.user);
        if (sameRoom(m.room, this.roomName)) {
          const key = nameKey(m.user);
          this.userList = this.userList.filter((u) => nameKey(u) !== key);
          if (m.event === 'join') this.userList.push(m.user);
        }
        return this.emit({ type: 'presence', room: m.room, user: m.user, event: m.event });
      case 'whisper':
        // Ciphertext: opened (and checked) by the whisper layer, which emits `whisper` or an `error`.
        if (this.crypto) this.crypto.receive({ from: m.from, body: m.body, time: m.time, id: m.id });
        return;
      case 'bye':
        this.conn?.noteReason(relayError(m.code, m.message));
        return this.emit({ type: 'bye', code: m.code, message: m.message });
      case 'error': {
        const error = this.replyError(m);
        if (m.re !== undefined && SEND_AGAIN_LATER_CODES.has(error.code) && this.sendAgainLater(m.re, m.retryAfterMs)) return;
        if (m.re !== undefined && this.pending.has(m.re)) return this.settlePending(m.re, null, error);
        if (m.re !== undefined && this.unacked.has(m.re)) return this.rejectSay(m.re, error);
        return this.emitError(error);
      }
      case 'joined':
        if (m.re !== undefined && this.pending.has(m.re)) return this.settlePending(m.re, m, null);
        this.applyJoined(m);
        return;
      case 'users':
      case 'rooms':
      case 'history':
      case 'ok':
      case 'pong':
      case 'keys':
      case 'pipe-ticket':
      case 'pipe-ready':
      case 'file-ticket':
      case 'file-ready':
      case 'file-stored':
      case 'files':
        return this.settlePending(m.re, m, null);
      case 'signal':
        // Sealed file-transfer signalling: opened by the whisper layer, routed by transfers.ts.
        this.crypto?.receiveSignal({ from: m.from, body: m.body, time: m.time, id: m.id }, (from, value) => this.transfers.handleSignal(from, value));
        return;
      case 'welcome':
      case 'session':
        // Only meaningful during login; a late duplicate changes nothing.
        return;
      default: {
        const unreachable: never = m;
        return unreachable;
      }
    }
  }

  private settlePending(re: string, reply: RelayMessage | null, error: ChatError | null): void {
    const entry = this.pending.get(re);
    if (!entry) return;
    this.pending.delete(re);
    clearTimeout(entry.timer);
    if (error) return entry.reject(error);
    try {
      // Applied synchronously, before the next frame of the same chunk is dispatched: a room
      // change must be in place before the messages of the new room arrive.
      entry.resolve(entry.apply(reply as RelayMessage));
    } catch (e) {
      entry.reject(asChatError(e));
    }
  }

  private rejectSay(id: string, error: ChatError): void {
    const entry = this.unacked.get(id);
    if (!entry) return;
    this.unacked.delete(id);
    entry.reject(error);
    this.checkDrained();
  }

  // ---- requests ------------------------------------------------------------------------

  private send(message: ClientMessage): void {
    if (!this.conn) throw new ChatError('E_CLOSED', 'not connected to the relay');
    this.conn.send(message);
    this.lastSentAt = Date.now();
  }

  /**
   * Sends one request and resolves with `apply(answer)`, run as soon as the answer arrives.
   * Fails with the relay's error code, E_TIMEOUT, or E_CLOSED (not connected, or the
   * connection broke before the answer; only room messages are resent after a reconnect).
   */
  request<T = RelayMessage>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T = (r) => r as T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.stateValue !== 'online' || !this.conn) {
        reject(new ChatError('E_CLOSED', this.stateValue === 'reconnecting' ? 'reconnecting to the relay; try again in a moment' : 'not connected to the relay'));
        return;
      }
      this.sendTracked(message, { apply, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Sends `message` and waits for its answer (bounded by requestTimeoutMs) in `pending`. */
  private sendTracked(message: ClientMessage & { id: string }, handlers: Omit<PendingRequest, 'timer'>): void {
    const timer = setTimeout(() => {
      this.pending.delete(message.id);
      handlers.reject(new ChatError('E_TIMEOUT', `the relay did not answer "${message.t}" within ${this.requestTimeoutMs} ms`));
    }, this.requestTimeoutMs);
    timer.unref();
    this.pending.set(message.id, { ...handlers, timer });
    try {
      this.send(message);
    } catch (error) {
      this.settlePending(message.id, null, asChatError(error));
    }
  }

  /**
   * A request the relay counts against the flood limit (whisper, transfer signal): it takes its
   * place in the send queue now, in call order with room messages, while `build` seals it, and
   * goes when the pacer allows. Refused for flooding, it goes back to its place and is sent
   * again (see sendAgainLater). Fails like `request`, or with what `build` throws.
   */
  private async pacedRequest<T>(build: () => Promise<ClientMessage & { id: string }>, apply: (reply: RelayMessage) => T): Promise<T> {
    if (this.stateValue !== 'online' || !this.conn) {
      await build();
      throw new ChatError('E_CLOSED', this.stateValue === 'reconnecting' ? 'reconnecting to the relay; try again in a moment' : 'not connected to the relay');
    }
    return new Promise<T>((resolve, reject) => {
      const entry: PacedRequest = { kind: 'request', order: this.nextOrder++, message: null, dropped: false, apply, resolve: resolve as (v: unknown) => void, reject };
      this.toSend.push(entry);
      build().then(
        (message) => {
          if (entry.dropped) return;
          entry.message = message;
          this.pump();
        },
        (error: unknown) => {
          this.toSend = this.toSend.filter((queued) => queued !== entry);
          reject(asChatError(error));
          this.pump();
        },
      );
    });
  }

  /** Fails the whispers and signals still waiting in the send queue (room messages stay for the next connection). */
  private failQueuedRequests(error: ChatError): void {
    const requests = this.toSend.filter((entry): entry is PacedRequest => entry.kind === 'request');
    if (requests.length === 0) return;
    this.toSend = this.toSend.filter((entry) => entry.kind === 'say');
    for (const entry of requests) {
      entry.dropped = true;
      entry.reject(error);
    }
  }

  /**
   * The relay refused send `re` for flooding: it goes back to its place in the queue, and the
   * pacer holds everything until the relay's retryAfterMs has passed. False when `re` is not a
   * rate-limited send of ours waiting for its answer.
   */
  private sendAgainLater(re: string, retryAfterMs: number | undefined): boolean {
    let entry: PacedSend | undefined;
    const pending = this.pending.get(re);
    if (pending?.paced) {
      this.pending.delete(re);
      clearTimeout(pending.timer);
      entry = pending.paced;
    } else {
      entry = this.unacked.get(re);
      if (entry && this.toSend.includes(entry)) return true;
    }
    if (!entry) return false;
    const order = entry.order;
    const at = this.toSend.findIndex((queued) => queued.order > order);
    this.toSend.splice(at < 0 ? this.toSend.length : at, 0, entry);
    this.pacer.refused(Date.now(), retryAfterMs ?? this.limits.floodRetryAfterMs);
    this.stopPump();
    this.pump();
    return true;
  }

  private expect<T extends RelayMessage['t']>(reply: RelayMessage, type: T): RelayMessageOf<T> {
    if (reply.t !== type) throw new ChatError('E_PROTOCOL', `expected "${type}" from the relay, got "${reply.t}"`);
    return reply as RelayMessageOf<T>;
  }

  /**
   * Sends a message to the current room. Resolves with the ack once the relay stored it;
   * meanwhile (and across reconnects) it is kept and resent with the same id.
   * E_TOO_LARGE over maxMessageBytes, E_FLOOD when maxUnackedMessages wait already,
   * E_CLOSED once the client is closed, or the relay's code (E_FLOOD, E_TOO_LARGE...).
   */
  say(text: string): Promise<AckInfo> {
    if (this.stateValue === 'closed' || this.stateValue === 'idle' || this.exiting) {
      return Promise.reject(new ChatError('E_CLOSED', 'not connected to the relay'));
    }
    if (text.trim().length === 0) return Promise.reject(new ChatError('E_USAGE', 'nothing to say'));
    const bytes = Buffer.byteLength(text);
    if (bytes > this.limits.maxMessageBytes) {
      return Promise.reject(new ChatError('E_TOO_LARGE', `a message may be at most ${this.limits.maxMessageBytes} bytes (this one is ${bytes})`));
    }
    if (this.unacked.size >= this.maxUnacked) {
      return Promise.reject(new ChatError('E_FLOOD', `${this.unacked.size} messages are still waiting for the relay; slow down`));
    }
    const id = this.nextId('m');
    return new Promise<AckInfo>((resolve, reject) => {
      const entry: UnackedSay = { kind: 'say', order: this.nextOrder++, id, text, sent: false, resolve, reject };
      this.unacked.set(id, entry);
      this.toSend.push(entry);
      this.pump();
    });
  }

  /**
   * Sends the queue (room messages, whispers, signals) in order, as fast as the relay's flood
   * limit allows (the rest waits for tokens; a whisper still being sealed holds those behind
   * it). A message sent before, on an earlier connection or refused, goes again with
   * `resent: true`: the relay stores it once and acks it with its first seq.
   */
  private pump(): void {
    while (this.toSend.length > 0 && this.stateValue === 'online' && this.conn) {
      const entry = this.toSend[0];
      if (entry.kind === 'say' && !this.unacked.has(entry.id)) {
        this.toSend.shift();
        continue;
      }
      if (entry.kind === 'request' && entry.message === null) return;
      const now = Date.now();
      if (!this.pacer.take(now)) {
        if (!this.pumpTimer) {
          this.pumpTimer = setTimeout(() => {
            this.pumpTimer = null;
            this.pump();
          }, this.pacer.waitMs(now));
        }
        return;
      }
      this.toSend.shift();
      if (entry.kind === 'request') {
        this.sendTracked(entry.message!, { apply: entry.apply, resolve: entry.resolve, reject: entry.reject, paced: entry });
        continue;
      }
      const resent = entry.sent;
      entry.sent = true;
      this.send(resent ? { t: 'say', id: entry.id, text: entry.text, resent: true } : { t: 'say', id: entry.id, text: entry.text });
    }
  }

  private stopPump(): void {
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
  }

  /** Resolves when every room message sent so far is acknowledged (rejects if the client closes first). */
  drain(): Promise<void> {
    if (this.unacked.size === 0) return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(new ChatError('E_CLOSED', 'the client is closed'));
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  private checkDrained(): void {
    if (this.unacked.size > 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /** Creates a chatroom and enters it (from the global room only). */
  create(room: string): Promise<RoomState> {
    return this.moveTo('create', room);
  }

  /** Enters an existing chatroom (from the global room only). */
  join(room: string): Promise<RoomState> {
    return this.moveTo('join', room);
  }

  private moveTo(t: 'create' | 'join', room: string): Promise<RoomState> {
    try {
      validateRoomName(room);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.request({ t, id: this.nextId(), room }, (reply) => this.applyJoined(this.expect(reply, 'joined')));
  }

  /** Goes back to the global room. */
  leave(): Promise<RoomState> {
    return this.request({ t: 'leave', id: this.nextId() }, (reply) => this.applyJoined(this.expect(reply, 'joined')));
  }

  /** Lists the users of the current room (also updates `users`). */
  users(): Promise<string[]> {
    return this.request({ t: 'users', id: this.nextId() }, (reply) => {
      const m = this.expect(reply, 'users');
      if (sameRoom(m.room, this.roomName)) this.userList = [...m.users];
      this.emit({ type: 'users', room: m.room, users: [...m.users] });
      return [...m.users];
    });
  }

  /** Lists the chatrooms (from the global room only). */
  rooms(): Promise<RoomInfo[]> {
    return this.request({ t: 'rooms', id: this.nextId() }, (reply) => {
      const m = this.expect(reply, 'rooms');
      const rooms = m.rooms.map((r) => ({ name: r.name, members: r.members }));
      this.emit({ type: 'rooms', rooms });
      return rooms;
    });
  }

  /**
   * Sends an end-to-end encrypted private message to a user in the same room; resolves when
   * the relay delivered it. The relay sees only ciphertext. Fails with E_SELF, E_USAGE,
   * E_TOO_LARGE (over maxMessageBytes), E_NO_SUCH_USER, E_NO_KEY (no published keys),
   * E_KEY_CHANGED (their key changed: /verify, then /trust), E_NOT_IN_ROOM, E_CLOSED.
   */
  async whisper(to: string, text: string): Promise<void> {
    validateUserName(to);
    if (nameKey(to) === nameKey(this.userName)) throw new ChatError('E_SELF', 'you cannot whisper to yourself');
    if (text.trim().length === 0) throw new ChatError('E_USAGE', 'nothing to whisper');
    const bytes = Buffer.byteLength(text);
    if (bytes > this.limits.maxMessageBytes) {
      throw new ChatError('E_TOO_LARGE', `a whisper may be at most ${this.limits.maxMessageBytes} bytes (this one is ${bytes})`);
    }
    const crypto = this.onlineCrypto();
    const id = this.nextId('w');
    let sealed: SealedWhisper | undefined;
    // Whispers count against the same flood limit on the relay: they wait for the pacer too.
    await this.pacedRequest(
      async () => {
        sealed = await crypto.seal(to, text);
        return { t: 'whisper', id, to, body: sealed.body };
      },
      (reply) => {
        this.expect(reply, 'ok');
        this.emit({ type: 'whisper', from: this.userName, to: sealed!.to, text, time: Date.now(), id, own: true, verified: sealed!.verified });
      },
    );
  }

  /**
   * `/verify USER`: the safety number of you and `user` (read it aloud together; it is the same
   * on both sides), both key fingerprints and whether `user` is verified. Emitted as `verify`.
   */
  async verify(user: string): Promise<ChatEventOf<'verify'>> {
    validateUserName(user);
    const event = await this.onlineCrypto().verify(user);
    this.emit(event);
    return event;
  }

  /**
   * `/trust USER`: marks `user`'s key verified, accepting a changed key if one waits (whispers
   * held back meanwhile are then shown). Emitted as `trusted`.
   */
  async trust(user: string): Promise<ChatEventOf<'trusted'>> {
    validateUserName(user);
    const crypto = this.onlineCrypto();
    const event = await crypto.trust(user);
    this.emit(event);
    crypto.releaseHeld(user);
    return event;
  }

  // ---- file transfers (logic in transfers.ts) ----------------------------------------------------

  /**
   * `/send USER PATH`: offers a file to a user in the same room; resolves once the offer is
   * out. Progress and the result follow as transfer-* events. Fails with E_SELF,
   * E_NOT_IN_ROOM, E_FILE_UNREADABLE, E_NO_KEY, E_KEY_CHANGED, E_CLOSED...
   */
  sendFile(to: string, file: string): Promise<TransferInfo> {
    return this.transfers.send(to, file);
  }

  /** `/accept ID [DIR]`: saves into DIR, default `transfers.downloadDir` (~/Downloads, else the working folder). */
  acceptTransfer(id: string, directory?: string): Promise<TransferInfo> {
    return this.transfers.accept(id, directory);
  }

  /** `/reject ID`. */
  rejectTransfer(id: string): TransferInfo {
    return this.transfers.reject(id);
  }

  /** `/cancel ID`. */
  cancelTransfer(id: string): TransferInfo {
    return this.transfers.cancel(id);
  }

  /** `/transfers`: every transfer with state, path, speed and progress (also emitted as `transfers`). */
  listTransfers(): TransferInfo[] {
    const transfers = this.transfers.list();
    this.emit({ type: 'transfers', transfers });
    return transfers;
  }

  /** Seals a transfer signal for `to` with the whisper keys and hands it to the relay. */
  private async sendSignal(to: string, message: object): Promise<void> {
    const crypto = this.onlineCrypto();
    const id = this.nextId('s');
    await this.pacedRequest(
      async () => ({ t: 'signal', id, to, body: (await crypto.sealSignal(to, message)).body }),
      (reply) => this.expect(reply, 'ok'),
    );
  }

  /**
   * A relay pipe for a transfer: a ticket on the chat connection, then a new TLS connection
   * to the same relay, verified the same way and required to present the same certificate,
   * which joins the pipe and becomes a raw byte stream to the peer.
   */
  private async openTransferPipe(transferId: string, peer: string, signal: AbortSignal): Promise<Duplex> {
    const ticket = await this.request({ t: 'pipe-ticket', id: this.nextId('t'), transfer: transferId, peer }, (reply) => this.expect(reply, 'pipe-ticket'));
    const expected = this.fingerprintValue;
    if (expected === null) throw new ChatError('E_CLOSED', 'not connected to the relay');
    // Pinned to the certificate the chat connection verified: the same relay, checked the
    // same way, and never a second trust prompt.
    const conn = await this.dialRelayAs({ fingerprint: expected }, signal);
    if (conn.fingerprint !== expected) {
      conn.destroy();
      throw new ChatError('E_FINGERPRINT_MISMATCH', 'the relay pipe connection presented another certificate than the chat connection');
    }
    return openPipe(conn.socket, {
      ticket: ticket.ticket,
      clientName: this.options.clientName ?? CLIENT_NAME,
      maxFrameBytes: this.limits.maxFrameBytes,
      // The peer joins its side when its own relay timer fires; the ticket says how long that may take.
      timeoutMs: Math.min(Math.max(ticket.expiresInMs, 10_000), 5 * 60_000),
      signal,
    });
  }

  // ---- room files (stored on the relay; logic in room-files.ts) -------------------------------

  /**
   * `/upload PATH`: stores a file on the relay for the current room (members can list and
   * fetch it until it expires). Emits `file-uploaded`. Fails with E_FILE_UNREADABLE,
   * E_TOO_LARGE, E_QUOTA, E_PATH_REFUSED (the name), E_HASH_MISMATCH, E_CLOSED...
   */
  async uploadFile(file: string): Promise<ChatEventOf<'file-uploaded'>> {
    const local = expandPath(file);
    const { size, hash } = await hashFile(local);
    const name = local.split(/[\\/]/).pop() ?? local;
    const ticket = await this.request({ t: 'file-upload', id: this.nextId('f'), name, size, hash }, (reply) => this.expect(reply, 'file-ticket'));
    const side = await openFileSide(await this.dialSide(), { ...this.fileSideOptions(), kind: 'file-put', ticket: ticket.ticket });
    const fileId = await putFile(side, local, this.fileSideOptions());
    const event: ChatEventOf<'file-uploaded'> = { type: 'file-uploaded', fileId, name, size };
    this.emit(event);
    return event;
  }

  /** `/files`: the current room's stored files (id, name, size, hash, from, time); emits `files`. */
  listFiles(): Promise<ChatEventOf<'files'>> {
    return this.request({ t: 'files', id: this.nextId('f') }, (reply) => {
      const m = this.expect(reply, 'files');
      const event: ChatEventOf<'files'> = { type: 'files', room: m.room, files: m.files.map((f) => ({ ...f })) };
      this.emit(event);
      return event;
    });
  }

  /**
   * `/download ID [DIR]`: fetches a room file into DIR (default as for /accept) under a free,
   * sanitized name once its hash matched; emits `file-downloaded`. E_NO_SUCH_FILE,
   * E_NOT_IN_ROOM, E_HASH_MISMATCH, E_PATH_REFUSED, E_CLOSED...
   */
  async downloadFile(fileId: string, directory?: string): Promise<ChatEventOf<'file-downloaded'>> {
    const folder = directory !== undefined ? expandPath(directory) : this.transfers.downloadDir;
    const ticket = await this.request({ t: 'file-download', id: this.nextId('f'), fileId }, (reply) => this.expect(reply, 'file-ticket'));
    const side = await openFileSide(await this.dialSide(), { ...this.fileSideOptions(), kind: 'file-get', ticket: ticket.ticket });
    const saved = await saveFile(side, folder);
    const event: ChatEventOf<'file-downloaded'> = { type: 'file-downloaded', fileId: ticket.fileId, path: saved.path, hash: saved.hash };
    this.emit(event);
    return event;
  }

  private fileSideOptions(): { clientName: string; maxFrameBytes: number; timeoutMs: number } {
    return { clientName: this.options.clientName ?? CLIENT_NAME, maxFrameBytes: this.limits.maxFrameBytes, timeoutMs: this.requestTimeoutMs };
  }

  /** A new TLS connection to the relay, pinned to the certificate the chat connection verified. */
  private async dialSide(): Promise<RelayConnection['socket']> {
    const expected = this.fingerprintValue;
    if (expected === null) throw new ChatError('E_CLOSED', 'not connected to the relay');
    const conn = await this.dialRelayAs({ fingerprint: expected });
    if (conn.fingerprint !== expected) {
      conn.destroy();
      throw new ChatError('E_FINGERPRINT_MISMATCH', 'the file connection presented another certificate than the chat connection');
    }
    return conn.socket;
  }

  private onlineCrypto(): WhisperCrypto {
    if (!this.crypto || this.stateValue === 'idle' || this.stateValue === 'closed') {
      throw new ChatError('E_CLOSED', 'not connected to the relay');
    }
    return this.crypto;
  }

  /**
   * Fetches up to `count` messages older than the oldest one shown in the current room
   * (default historyOnJoin), oldest first; the next call pages further back.
   */
  history(count: number = this.limits.historyOnJoin): Promise<ChatMessage[]> {
    if (!Number.isInteger(count) || count < 1 || count > MAX_HISTORY_MESSAGES) {
      return Promise.reject(new ChatError('E_USAGE', `the history count is a whole number from 1 to ${MAX_HISTORY_MESSAGES}`));
    }
    const before = this.roomName !== null ? this.oldestShown.get(nameKey(this.roomName)) : undefined;
    return this.request({ t: 'history', id: this.nextId(), before, limit: count }, (reply) => {
      const m = this.expect(reply, 'history');
      const messages = m.messages.map((x) => this.toChatMessage(x)).sort((a, b) => a.seq - b.seq);
      const first = messages[0];
      if (first) {
        const key = nameKey(m.room);
        const known = this.oldestShown.get(key);
        if (known === undefined || first.seq < known) this.oldestShown.set(key, first.seq);
      }
      this.emit({ type: 'history', room: m.room, messages, hasMore: m.hasMore });
      return messages;
    });
  }

  /** Measures the round-trip time to the relay, in milliseconds (also emitted as `rtt`). */
  ping(): Promise<number> {
    const started = performance.now();
    return this.request({ t: 'ping', id: this.nextId('p') }, (reply) => {
      this.expect(reply, 'pong');
      const ms = Math.round((performance.now() - started) * 10) / 10;
      this.rttValue = ms;
      this.emit({ type: 'rtt', ms });
      return ms;
    });
  }

  /**
   * Leaves politely: waits until every room message sent is acknowledged, tells the relay,
   * and closes. Use close() to stop at once.
   */
  async exit(): Promise<void> {
    if (this.stateValue === 'closed') return;
    if (this.stateValue === 'idle') {
      this.stateValue = 'closed';
      return;
    }
    await this.drain();
    await this.transfers.closeAll();
    if (this.stateValue === 'online') {
      this.exiting = true;
      const closed = this.whenClosed();
      try {
        await this.request({ t: 'exit', id: this.nextId() }, (reply) => this.expect(reply, 'ok'));
      } catch {
        // Gone already: nothing to say goodbye to.
      }
      this.conn?.end();
      await closed;
    } else {
      this.shutdown(new ChatError('E_CLOSED', 'closed'), true);
    }
    await this.saveCrypto();
  }

  /** Writes the whisper counter and replay guards (batched during use) before going away. */
  private async saveCrypto(): Promise<void> {
    try {
      await this.crypto?.flush();
    } catch (error) {
      this.emitError(asChatError(error));
    }
  }

  /**
   * Stops at once: no goodbye, no reconnect; unacknowledged messages fail with E_CLOSED.
   * Running file transfers are cancelled (the peers are told), unless `suspendTransfers`:
   * then they stop as if the process died (the peers are not told and wait to resume; journal
   * records and partial files stay) and the next ChatClient of this user on this data folder
   * resumes them after login. For a process that will be started again, and for tests.
   */
  async close(options: { suspendTransfers?: boolean } = {}): Promise<void> {
    // Suspending halts every transfer synchronously, before the first await.
    const stopTransfers = (): Promise<void> => (options.suspendTransfers === true ? this.transfers.suspendAll() : this.transfers.closeAll());
    if (this.stateValue === 'closed') {
      await stopTransfers();
      return;
    }
    // Running transfers are cancelled while the peers can still be told.
    await stopTransfers();
    if (this.isShutDown()) return;
    const wasUp = this.stateValue === 'online' || this.stateValue === 'reconnecting';
    this.exiting = true;
    this.abort.abort();
    this.connecting?.destroy();
    const conn = this.conn;
    this.shutdown(new ChatError('E_CLOSED', 'the client was closed'), wasUp);
    if (conn && !conn.closed) {
      await new Promise<void>((resolve) => {
        conn.socket.once('close', () => resolve());
        conn.end();
      });
    }
    await this.saveCrypto();
  }

  /**
   * Runs one input line as the TUI and JSON mode do: a slash command from the registry, or
   * text for the current room. Never rejects: failures become `error` events.
   */
  async run(line: string): Promise<void> {
    await dispatchLine(line, {
      client: this,
      refused: (error, name) => this.emitError(error, name),
      failed: (error, name) => this.emitError(error, name),
    });
  }

  /**
   * Cuts the connection as a network failure would (no goodbye); the client then reconnects
   * if it is set to. For tests and benchmarks.
   */
  dropConnection(): void {
    this.conn?.destroy(new ChatError('E_CLOSED', 'connection dropped'));
  }

  /** While waiting to reconnect, tries at once instead of waiting out the delay (a "retry now" key). */
  reconnectNow(): void {
    if (this.stateValue !== 'reconnecting' || !this.sleepTimer) return;
    clearTimeout(this.sleepTimer.timer);
    const { wake } = this.sleepTimer;
    this.sleepTimer = null;
    wake();
  }

  /** Resolves once the client is closed for good (close(), exit(), a fatal error, reconnects given up). */
  whenShutDown(): Promise<void> {
    return this.whenClosed();
  }

  private whenClosed(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  // ---- losing and regaining the connection -------------------------------------------------

  private connectionLost(conn: RelayConnection, reason: ChatError): void {
    if (this.conn !== conn) return;
    this.conn = null;
    this.stopHeartbeat();
    this.stopPump();
    for (const id of [...this.pending.keys()]) {
      this.settlePending(id, null, new ChatError('E_CLOSED', 'the connection to the relay was lost before it answered'));
    }
    this.failQueuedRequests(new ChatError('E_CLOSED', 'the connection to the relay was lost before it was sent'));
    if (this.stateValue === 'closed') return;
    const willReconnect = !this.exiting && this.options.reconnect !== false && !CONNECT_FATAL_CODES.has(reason.code);
    this.emit({ type: 'disconnected', code: reason.code, message: reason.message, willReconnect });
    if (!willReconnect) {
      if (!this.exiting && CONNECT_FATAL_CODES.has(reason.code)) this.emitError(reason);
      this.shutdown(reason, false);
      return;
    }
    void this.reconnectLoop(reason);
  }

  private async reconnectLoop(firstReason: ChatError): Promise<void> {
    this.stateValue = 'reconnecting';
    let reason = firstReason;
    const maxAttempts = this.options.maxReconnectAttempts ?? Infinity;
    for (let attempt = 1; this.stateValue === 'reconnecting'; attempt += 1) {
      if (attempt > maxAttempts) {
        const error = new ChatError('E_CONNECT', `gave up reconnecting after ${maxAttempts} attempts (${reason.message})`);
        this.emitError(error);
        // Said as a final `disconnected` too, so listeners (the TUI's status, JSON mode) know it is over.
        this.shutdown(error, true);
        return;
      }
      const retryAfterMs = typeof reason.details.retryAfterMs === 'number' ? reason.details.retryAfterMs : undefined;
      const delayMs = retryDelayMs(attempt, this.backoff, retryAfterMs, this.options.random);
      this.emit({ type: 'reconnecting', attempt, delayMs, code: reason.code, message: reason.message });
      await this.sleep(delayMs);
      if (this.stateValue !== 'reconnecting') return;
      try {
        await this.establish(true);
        return;
      } catch (error) {
        reason = asChatError(error);
        if (this.stateValue !== 'reconnecting') return;
        if (CONNECT_FATAL_CODES.has(reason.code)) {
          this.emitError(reason);
          this.shutdown(reason, true);
          return;
        }
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepTimer = null;
        resolve();
      }, ms);
      this.sleepTimer = { timer, wake: resolve };
    });
  }

  /** The one teardown path: no more reconnects, timers stopped, waiting promises failed. */
  private shutdown(reason: ChatError, announce: boolean): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.stopHeartbeat();
    this.stopPump();
    this.failQueuedRequests(new ChatError('E_CLOSED', 'the client was closed'));
    this.toSend = [];
    this.abort.abort();
    this.connecting?.destroy();
    this.connecting = null;
    if (this.sleepTimer) {
      clearTimeout(this.sleepTimer.timer);
      this.sleepTimer.wake();
      this.sleepTimer = null;
    }
    if (announce) this.emit({ type: 'disconnected', code: reason.code, message: reason.message, willReconnect: false });
    const failure = reason;
    for (const id of [...this.pending.keys()]) this.settlePending(id, null, new ChatError('E_CLOSED', 'the client was closed'));
    for (const id of [...this.unacked.keys()]) this.rejectSay(id, failure);
    const drains = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of drains) w.reject(failure);
    const closed = this.closedWaiters;
    this.closedWaiters = [];
    for (const resolve of closed) resolve();
    void this.saveCrypto();
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const tick = Math.max(25, Math.floor(Math.min(this.limits.heartbeatMs, this.limits.idleTimeoutMs) / 4));
    this.heartbeat = setInterval(() => {
      if (!this.conn || this.stateValue !== 'online') return;
      const now = Date.now();
      if (now - this.lastReceivedAt >= this.limits.idleTimeoutMs) {
        this.conn.destroy(new ChatError('E_IDLE_TIMEOUT', `nothing heard from the relay for ${this.limits.idleTimeoutMs} ms`));
      } else if (now - this.lastSentAt >= this.limits.heartbeatMs) {
        // The relay closes connections that stay silent; the answer also measures the round trip.
        this.ping().catch(() => {});
      }
    }, tick);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
