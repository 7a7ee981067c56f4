import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ChatError } from '../../shared/errors.js';
import { CLIENT_DEFAULTS, resolveLimits, type Limits } from '../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { validateUserName } from '../../shared/names.js';
import { DEFAULT_PORT, DEFAULT_SERVER, formatServerAddress, parseServerAddress, type ServerAddress } from './address.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { dialRelay, type ChatConnection } from './connection.js';
import { Connector } from './connector.js';
import { dispatchLine } from './dispatch.js';
import { routeRelayMessage, type InboundParts } from './inbound.js';
import { EventHub } from './event-hub.js';
import { IgnoreList, Ignoring } from './ignore-list.js';
import { LastRooms, RoomReturn } from './last-room.js';
import type { ChatEvent, ChatEventOf, ChatEventType, ChatMessage, RoomInfo } from './events.js';
import type { ChatClientOptions, PasswordSource } from './client-options.js';
import { Lifecycle, type ClientState } from './lifecycle.js';
import { configDir as defaultConfigDir, dataDir as defaultDataDir, knownRelaysFile, userDataDir } from './paths.js';
import { parseProxyUrl, type ProxySettings } from './proxy.js';
import { openPipe, openRawPipe } from './relay-pipe.js';
import { openTcp } from './dial.js';
import { RoomFiles } from './room-files.js';
import { RoomRequests } from './room-requests.js';
import { RoomTracker, type RoomState } from './room-tracker.js';
import { SendQueue, type AckInfo } from './send-queue.js';
import { TRANSFER_JOURNAL_DIR_NAME, TransferJournal } from './transfer/journal.js';
import { TransferManager, type TransferInfo } from './transfer/manager.js';
import { KnownRelays } from './trust.js';
import type { WhisperCrypto } from './whispers.js';
import { Whispering } from './whispering.js';
import { expectReply } from './replies.js';

export type { AckInfo, ChatClientOptions, ClientState, PasswordSource, RoomState };

const CLIENT_NAME = 'securechat/0.1';

/**
 * The headless securechat client: one relay connection with login, rooms, room messages,
 * whispers, file transfers, room files, reconnect-and-resume, and typed events. The TUI, the
 * JSON-lines mode, bots and benchmarks are thin users of it.
 *
 * A facade: the documented API and the wiring of parts with one job each, every one told
 * only what it may touch (a Host): EventHub (listeners), SendQueue (requests, acks, the paced
 * send queue), RoomTracker (room, users, messages seen), Lifecycle (connection state,
 * heartbeat, reconnect, teardown) with Connector (dialling, login via login.ts, going live),
 * Whispering, TransferManager, RoomFiles; inbound.ts routes what the relay says.
 *
 * Delivery promise: a room message passed to `say` is sent, resent with the same id after a
 * reconnect until the relay acknowledges it (the relay stores it once), and shown to this
 * client's listeners once, from the ack. Messages of others are shown once each: after a
 * reconnect the client asks for everything after the last sequence id it saw and drops
 * what it has shown already.
 */
export class ChatClient {
  readonly server: string;
  private readonly address: ServerAddress;
  /** The SOCKS5 proxy every relay connection goes through (connector.ts), if any. */
  readonly proxy: ProxySettings | undefined;
  private readonly limits: Limits;
  private readonly requestTimeoutMs: number;
  private readonly catchUpMax: number;

  private readonly events = new EventHub();
  private readonly queue: SendQueue;
  private readonly rooms_: RoomTracker;
  private readonly life: Lifecycle;
  private readonly roomFiles: RoomFiles;
  /** Connecting and login (connector.ts): dialling, what a login needs and learns, going live. */
  private readonly connector: Connector;
  /** Whispers, /verify, /trust and sealed transfer signals; the keys are opened on the first connect. */
  private readonly whispering: Whispering;
  private readonly idPrefix = randomBytes(6).toString('base64url');
  private idCounter = 0;
  /** /create, /join, /leave, /users, /away, /rooms, /history and ping: one question, one answer each. */
  private readonly roomRequests: RoomRequests;
  /** /ignore: users whose messages and whispers are hidden, from the user's data folder. */
  private readonly ignoring: Ignoring;
  /** Back into the chatroom of the last run on this relay (`returnToLastRoom`); undefined when not asked for. */
  private readonly roomReturn: RoomReturn | undefined;
  /** /send, /accept, /transfers...: the logic lives in transfer/manager.ts; this client provides signals and pipes. */
  readonly transfers: TransferManager;

  constructor(readonly options: ChatClientOptions) {
    this.address =
      options.host !== undefined ? { host: options.host, port: options.port ?? DEFAULT_PORT } : parseServerAddress(options.server ?? DEFAULT_SERVER);
    this.server = formatServerAddress(this.address);
    this.proxy = typeof options.proxy === 'string' ? parseProxyUrl(options.proxy) : options.proxy;
    const user = validateUserName(options.user);
    this.limits = resolveLimits(options.limits);
    this.requestTimeoutMs = options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs;
    this.catchUpMax = options.catchUpMaxMessages ?? CLIENT_DEFAULTS.catchUpMaxMessages;
    this.queue = new SendQueue(
      { canSend: () => this.life.canSend(), write: (message) => this.life.write(message), notOnline: () => this.life.notOnline() },
      { limits: this.limits, requestTimeoutMs: this.requestTimeoutMs, maxUnacked: options.maxUnackedMessages ?? CLIENT_DEFAULTS.maxUnackedMessages },
    );
    this.rooms_ = new RoomTracker(this.events, this.queue, () => this.user);
    this.whispering = new Whispering(
      {
        events: this.events,
        request: (message, apply) => this.request(message, apply),
        pacedRequest: (build, apply, lane) => this.queue.pacedRequest(build, apply, lane),
        nextId: (prefix) => this.nextId(prefix),
        user: () => this.user,
        state: () => this.life.state,
        canSend: () => this.life.canSend(),
        room: () => this.rooms_.room,
        roomUsers: () => this.rooms_.users,
      },
      {
        dir: userDataDir(user, options.dataDir ?? defaultDataDir()),
        passphrase: options.passphrase,
        kdf: options.kdf,
        limits: this.limits,
        keyPrefetchMaxUsers: options.keyPrefetchMaxUsers ?? CLIENT_DEFAULTS.keyPrefetchMaxUsers,
        keyPrefetchJoinDelayMs: CLIENT_DEFAULTS.keyPrefetchJoinDelayMs,
      },
    );
    const knownRelays = new KnownRelays(knownRelaysFile(options.configDir ?? defaultConfigDir()));
    this.connector = new Connector({
      options,
      user,
      server: this.server,
      proxy: this.proxy,
      knownRelaysFile: knownRelays.file,
      dial: (trust, signal) =>
        dialRelay({ ...this.address, trust, knownRelays, limits: this.limits, proxy: this.proxy, localAddress: options.localAddress, signal }),
      limits: this.limits,
      clientName: this.clientName,
      catchUpMax: this.catchUpMax,
      events: this.events,
      rooms: this.rooms_,
      whispering: this.whispering,
      nextId: (prefix) => this.nextId(prefix),
      dispatch: (m) => this.dispatch(m),
      ping: () => this.ping(),
      firstLive: () => void this.transfers.restoreJournal(),
    });
    this.life = new Lifecycle(
      this.connector,
      this.events,
      this.queue,
      {
        limits: this.limits,
        backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
        trust: options.trust ?? {},
        reconnect: options.reconnect !== false,
        maxReconnectAttempts: options.maxReconnectAttempts ?? Infinity,
        random: options.random,
      },
    );
    this.transfers = new TransferManager(
      {
        user: () => this.user,
        roomUsers: () => this.rooms_.users as string[],
        checkRecipient: (to) => this.whispering.online().checkRecipient(to),
        sendSignal: (to, message) => this.whispering.sendSignal(to, message),
        openPipe: (transferId, peer, signal) => this.openTransferPipe(transferId, peer, signal),
        observedAddress: () => this.connector.facts.observed,
        peerKeys: (user) => {
          const bundle = this.whispering.crypto?.pins.get(user)?.bundle;
          return bundle === undefined ? undefined : { sign: bundle.sign, box: bundle.box };
        },
        emit: (event) => this.events.emit(event),
      },
      // With a proxy, direct transfers are off whatever else was asked: a listener, candidates
      // or a port mapping would reveal the addresses the proxy hides.
      this.proxy !== undefined ? { ...options.transfers, direct: false, relayOnlyBecause: 'proxy' } : options.transfers,
      // Running transfers survive a restart of the client (docs/transfer.md, "Restart").
      new TransferJournal(path.join(userDataDir(user, options.dataDir ?? defaultDataDir()), TRANSFER_JOURNAL_DIR_NAME)),
    );
    this.ignoring = new Ignoring(IgnoreList.inFolder(userDataDir(user, options.dataDir ?? defaultDataDir())), this.events, () => this.user);
    if (options.returnToLastRoom === true) {
      this.roomReturn = new RoomReturn(LastRooms.inFolder(userDataDir(user, options.dataDir ?? defaultDataDir())), {
        server: this.server,
        events: this.events,
        room: () => this.room,
        join: (room) => this.join(room),
        create: (room) => this.create(room),
      });
    }
    this.roomRequests = new RoomRequests({
      request: (message, apply) => this.request(message, apply),
      nextId: (prefix) => this.nextId(prefix),
      rooms: this.rooms_,
      events: this.events,
      limits: this.limits,
    });
    this.inbound = {
      rooms: this.rooms_,
      queue: this.queue,
      events: this.events,
      crypto: () => this.whispering.crypto,
      connection: () => this.life.connection,
      transferSignal: (from, value) => this.transfers.handleSignal(from, value),
      prekeysLow: (device, remaining) => this.whispering.prekeysLow(device, remaining),
    };
    this.roomFiles = new RoomFiles({
      request: (message, apply) => this.request(message, apply),
      nextId: (prefix) => this.nextId(prefix),
      dialSide: async (purpose) => (await this.connector.dialSide(purpose)).socket,
      emit: (event) => this.events.emit(event),
      downloadDir: () => this.transfers.downloadDir,
      sideOptions: () => ({ clientName: this.clientName, maxFrameBytes: this.limits.maxFrameBytes, timeoutMs: this.requestTimeoutMs }),
    });
  }

  // ---- state ---------------------------------------------------------------------------

  get state(): ClientState {
    return this.life.state;
  }
  get connected(): boolean {
    return this.life.state === 'online';
  }
  /** The user name as the relay spells it (after login). */
  get user(): string {
    return this.connector.facts.user;
  }
  /** The current room, or null before the first login. */
  get room(): string | null {
    return this.rooms_.room;
  }
  /** Users in the current room (kept up to date from presence events). */
  get roomUsers(): string[] {
    return [...this.rooms_.users];
  }
  /** The last measured round-trip time in milliseconds, or null. */
  get rttMs(): number | null {
    return this.roomRequests.rttMs;
  }
  /** The relay certificate's fingerprint, `sha256:<hex>`, once connected. */
  get fingerprint(): string | null {
    return this.connector.facts.fingerprint;
  }
  /** Room messages sent (or queued) and not yet acknowledged. */
  get unackedCount(): number {
    return this.queue.unackedCount;
  }
  /** Whether the relay accepts new accounts (from its welcome), or null before the first one. */
  get registration(): 'open' | 'closed' | null {
    return this.connector.facts.registration;
  }
  /** The whisper layer (identity, key pins), or null before the first connect. */
  get whisperCrypto(): WhisperCrypto | null {
    return this.whispering.crypto;
  }
  /** The resume token; tests spoil it to see a refused resume fall back to a login. */
  private get token(): string | undefined {
    return this.connector.facts.token;
  }
  private set token(value: string | undefined) {
    this.connector.facts.token = value;
  }
  /** The live chat connection; read by tests and benchmarks that cut its socket as a network failure would. */
  private get conn(): ChatConnection | null {
    return this.life.connection;
  }
  private get clientName(): string {
    return this.options.clientName ?? CLIENT_NAME;
  }

  // ---- events --------------------------------------------------------------------------

  /** Listens to one event type, or to all with '*'. Returns a function that stops listening. */
  on<T extends ChatEventType>(type: T, listener: (event: ChatEventOf<T>) => void): () => void;
  on(type: '*', listener: (event: ChatEvent) => void): () => void;
  on(type: string, listener: (event: never) => void): () => void {
    return this.events.on(type as '*', listener as (event: ChatEvent) => void);
  }

  /** Listens to data frames from the relay (relay pipe traffic). */
  onData(listener: (payload: Buffer) => void): () => void {
    return this.events.onData(listener);
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
    // Hidden from the first message on: the list is read before the first login.
    await this.ignoring.ready();
    await this.life.connect(() => this.whispering.open());
    await this.roomReturn?.afterConnect();
  }

  /** A fresh request id (also used as message ids): unique per client instance and session. */
  nextId(prefix = 'r'): string {
    this.idCounter += 1;
    return `${prefix}${this.idPrefix}${this.idCounter.toString(36)}`;
  }

  // ---- what the relay says --------------------------------------------------------------

  /** Where each message from the relay goes (inbound.ts); made once, used for every message. */
  private readonly inbound: InboundParts;

  private dispatch(m: RelayMessage): void {
    routeRelayMessage(m, this.inbound);
  }

  // ---- requests ------------------------------------------------------------------------

  /**
   * Sends one request and resolves with `apply(answer)`, run as soon as the answer arrives.
   * Fails with the relay's error code, E_TIMEOUT, or E_CLOSED (not connected, or the
   * connection broke before the answer; only room messages are resent after a reconnect).
   */
  request<T = RelayMessage>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T = (r) => r as T): Promise<T> {
    return this.queue.request(message, apply);
  }

  /**
   * Sends a message to the current room. Resolves with the ack once the relay stored it;
   * meanwhile (and across reconnects) it is kept and resent with the same id.
   * E_TOO_LARGE over maxMessageBytes, E_FLOOD when maxUnackedMessages wait already,
   * E_CLOSED once the client is closed, or the relay's code (E_FLOOD, E_TOO_LARGE...).
   */
  say(text: string): Promise<AckInfo> {
    const state = this.life.state;
    if (state === 'closed' || state === 'idle' || this.life.exiting) {
      return Promise.reject(new ChatError('E_CLOSED', 'not connected to the relay'));
    }
    if (text.trim().length === 0) return Promise.reject(new ChatError('E_USAGE', 'nothing to say'));
    const bytes = Buffer.byteLength(text);
    if (bytes > this.limits.maxMessageBytes) {
      return Promise.reject(new ChatError('E_TOO_LARGE', `a message may be at most ${this.limits.maxMessageBytes} bytes (this one is ${bytes})`));
    }
    return this.queue.say(() => this.nextId('m'), text);
  }

  /** Resolves when every room message sent so far is acknowledged (rejects if the client closes first). */
  drain(): Promise<void> {
    return this.queue.drain(this.life.state === 'closed' ? new ChatError('E_CLOSED', 'the client is closed') : null);
  }

  /** Creates a chatroom and enters it (from the global room only). */
  create(room: string): Promise<RoomState> {
    return this.roomRequests.moveTo('create', room);
  }

  /** Enters an existing chatroom (from the global room only). */
  join(room: string): Promise<RoomState> {
    return this.roomRequests.moveTo('join', room);
  }

  /** Goes back to the global room. */
  leave(): Promise<RoomState> {
    return this.roomRequests.leave();
  }

  /** Lists the users of the current room (also updates `users`). */
  users(): Promise<string[]> {
    return this.roomRequests.users();
  }

  /**
   * `/away [MSG]`: away with `text` (shown to the room in /users), or back without it. E_TOO_LARGE
   * over maxAwayBytes. Kept by the client and set again after every reconnect.
   */
  away(text?: string): Promise<void> {
    return this.roomRequests.away(text);
  }

  // ---- /ignore (client side; ignore-list.ts) -------------------------------------------------

  /** `/ignore [USER]`: hides USER's room messages and whispers from now on (kept in the data folder); without USER, lists. */
  ignore(user?: string): Promise<string[]> {
    return this.ignoring.ignore(user);
  }

  /** `/unignore USER`: shows USER's messages again (those hidden meanwhile are not brought back). */
  unignore(user: string): Promise<string[]> {
    return this.ignoring.unignore(user);
  }

  /** Longest room message or whisper text, in UTF-8 bytes (the relay's limit). */
  get maxMessageBytes(): number {
    return this.limits.maxMessageBytes;
  }

  /** Who in the current room is away, with their away text. */
  get awayUsers(): Record<string, string> {
    return this.rooms_.away;
  }

  /** Lists the chatrooms (from the global room only). */
  rooms(): Promise<RoomInfo[]> {
    return this.roomRequests.rooms();
  }

  /**
   * Fetches up to `count` messages older than the oldest one shown in the current room
   * (default historyOnJoin), oldest first; the next call pages further back.
   */
  history(count: number = this.limits.historyOnJoin): Promise<ChatMessage[]> {
    return this.roomRequests.history(count);
  }

  /** Measures the round-trip time to the relay, in milliseconds (also emitted as `rtt`). */
  ping(): Promise<number> {
    return this.roomRequests.ping();
  }

  // ---- whispers and keys (logic in whispers.ts) ----------------------------------------------

  /**
   * Sends an end-to-end encrypted private message to a user in the same room; resolves when
   * the relay delivered it. The relay sees only ciphertext. Fails with E_SELF, E_USAGE,
   * E_TOO_LARGE (over maxMessageBytes), E_NO_SUCH_USER, E_NO_KEY (no published keys),
   * E_KEY_CHANGED (their key changed: /verify, then /trust), E_NOT_IN_ROOM, E_CLOSED.
   */
  whisper(to: string, text: string): Promise<void> {
    return this.whispering.whisper(to, text);
  }

  /**
   * `/verify USER`: the safety number of you and `user` (read it aloud together; it is the same
   * on both sides), both key fingerprints and whether `user` is verified. Emitted as `verify`.
   */
  verify(user: string): Promise<ChatEventOf<'verify'>> {
    return this.whispering.verify(user);
  }

  /**
   * `/trust USER`: marks `user`'s key verified, accepting a changed key if one waits (whispers
   * held back meanwhile are then shown). Emitted as `trusted`.
   */
  trust(user: string): Promise<ChatEventOf<'trusted'>> {
    return this.whispering.trust(user);
  }

  // ---- file transfers (logic in transfer/manager.ts) ----------------------------------------------------

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
    this.events.emit({ type: 'transfers', transfers });
    return transfers;
  }

  /**
   * A relay pipe for a transfer: a ticket on the chat connection, then a pinned side
   * connection which joins the pipe and becomes a raw byte stream to the peer.
   */
  private async openTransferPipe(transferId: string, peer: string, signal: AbortSignal): Promise<Duplex> {
    const ticket = await this.request({ t: 'pipe-ticket', id: this.nextId('t'), transfer: transferId, peer }, (reply) => expectReply(reply, 'pipe-ticket'));
    // The peer joins its side when its own relay timer fires; the ticket says how long that may take.
    const timeoutMs = Math.min(Math.max(ticket.expiresInMs, 10_000), 5 * 60_000);
    // A raw pipe first: the peers' TLS without a second layer (relay-pipe.ts, openRawPipe).
    const tcp = await openTcp({
      ...this.address,
      proxy: this.proxy,
      localAddress: this.options.localAddress,
      timeoutMs: this.proxy !== undefined ? this.limits.proxyConnectTimeoutMs : this.limits.handshakeTimeoutMs,
      signal,
    });
    const raw = await openRawPipe(tcp, { ticket: ticket.ticket, timeoutMs, signal });
    if (raw !== null) return raw;
    // A relay from before raw pipes closed it unanswered; the ticket is unused: the TLS pipe.
    const conn = await this.connector.dialSide('relay pipe', signal);
    return openPipe(conn.socket, { ticket: ticket.ticket, clientName: this.clientName, maxFrameBytes: this.limits.maxFrameBytes, timeoutMs, signal });
  }

  // ---- room files (stored on the relay; logic in room-files.ts) -------------------------------

  /**
   * `/upload PATH`: stores a file on the relay for the current room (members can list and
   * fetch it until it expires). Emits `file-uploaded`. Fails with E_FILE_UNREADABLE,
   * E_TOO_LARGE, E_QUOTA, E_PATH_REFUSED (the name), E_HASH_MISMATCH, E_CLOSED...
   */
  uploadFile(file: string): Promise<ChatEventOf<'file-uploaded'>> {
    return this.roomFiles.upload(file);
  }

  /** `/files`: the current room's stored files (id, name, size, hash, from, time); emits `files`. */
  listFiles(): Promise<ChatEventOf<'files'>> {
    return this.roomFiles.list();
  }

  /**
   * `/download ID [DIR]`: fetches a room file into DIR (default as for /accept) under a free,
   * sanitized name once its hash matched; emits `file-downloaded`. E_NO_SUCH_FILE,
   * E_NOT_IN_ROOM, E_HASH_MISMATCH, E_PATH_REFUSED, E_CLOSED...
   */
  downloadFile(fileId: string, directory?: string): Promise<ChatEventOf<'file-downloaded'>> {
    return this.roomFiles.download(fileId, directory);
  }

  // ---- leaving -------------------------------------------------------------------------------

  /**
   * Leaves politely: waits until every room message sent is acknowledged, tells the relay,
   * and closes. Use close() to stop at once.
   */
  async exit(): Promise<void> {
    if (this.life.state === 'closed') return;
    if (this.life.state === 'idle') {
      this.life.markClosed();
      return;
    }
    await this.drain();
    await this.transfers.closeAll();
    if (this.life.state === 'online') {
      this.life.exiting = true;
      const closed = this.life.whenClosed();
      try {
        await this.request({ t: 'exit', id: this.nextId() }, (reply) => expectReply(reply, 'ok'));
      } catch {
        // Gone already: nothing to say goodbye to.
      }
      this.life.connection?.end();
      await closed;
    } else {
      this.life.shutdown(new ChatError('E_CLOSED', 'closed'), true);
    }
    await this.whispering.save();
  }

  /**
   * Stops at once: no goodbye, no reconnect; unacknowledged messages fail with E_CLOSED.
   * Running file transfers are cancelled (the peers are told), unless `suspendTransfers`:
   * then they stop as if the process died (the peers are not told and wait to resume; journal
   * records and partial files stay) and the next ChatClient of this user on this data folder
   * resumes them after login. For a process that will be started again, and for tests.
   */
  async close(options: { suspendTransfers?: boolean } = {}): Promise<void> {
    // Suspending halts every transfer synchronously, before the first await. Running
    // transfers are cancelled while the peers can still be told.
    await (options.suspendTransfers === true ? this.transfers.suspendAll() : this.transfers.closeAll());
    // The room just entered is on disk before the process may end.
    await this.roomReturn?.flush();
    if (this.life.state === 'closed') return;
    await this.life.closeNow();
    await this.whispering.save();
  }

  /**
   * Runs one input line as the TUI and JSON mode do, through the one dispatcher
   * (dispatch.ts): a slash command from the registry, or text for the current room. Never
   * rejects: failures become `error` events.
   */
  async run(line: string): Promise<void> {
    await dispatchLine(line, {
      client: this,
      refused: (error, name) => this.events.emitError(error, name),
      failed: (error, name) => this.events.emitError(error, name),
    });
  }

  /**
   * Cuts the connection as a network failure would (no goodbye); the client then reconnects
   * if it is set to. For tests and benchmarks.
   */
  dropConnection(): void {
    this.life.drop();
  }

  /** While waiting to reconnect, tries at once instead of waiting out the delay (a "retry now" key). */
  reconnectNow(): void {
    this.life.reconnectNow();
  }

  /** Resolves once the client is closed for good (close(), exit(), a fatal error, reconnects given up). */
  whenShutDown(): Promise<void> {
    return this.life.whenClosed();
  }
}
