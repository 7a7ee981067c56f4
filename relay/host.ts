import type { TurnQueue } from './turn-queue.js';
import { encodeControl } from '../shared/codec.js';
import { ChatError } from '../shared/errors.js';
import type { ClientMessage, ClientMessageOf, ClientMessageType, RoomMessage } from '../shared/messages.js';
import { GLOBAL_ROOM, nameKey, validateRoomName, validateUserName } from '../shared/names.js';
import type { RelayConnection } from './connection.js';
import { Accounts, type AccountsOptions } from './accounts.js';
import { MessageLog } from './message-log.js';
import { HeldMessages } from './held-messages.js';
import { PipeBroker, type PipeDialer } from './pipe-broker.js';
import { SideRequests } from './side-requests.js';
import { RoomFiles } from './room-files.js';
import { Room, RoomRegistry } from './rooms.js';
import type { RosterEntry, SealedMessage } from './bus.js';
import { RoomFeed } from './room-feed.js';
import type { StoredMessage } from './store.js';
import { Prekeys } from './prekeys.js';

export interface HostOptions extends AccountsOptions {
  /** Logins and registrations are checked one per event-loop turn (relay/turn-queue.ts). */
  arrivals?: TurnQueue;
  /** Folder of the room files' bytes. */
  filesDir: string;
  /** Opens a relay link to another relay of the cluster (relay pipes whose sides landed apart). */
  dialRelay?: PipeDialer;
  log: (line: string) => void;
}

/**
 * Requests of a logged-in user that cost the relay a store read or write and are limited by
 * the user's request bucket (limits.requestsPerSecond). Room messages, whispers, signals and
 * away changes spend the flood bucket instead; login and resume have the login limiter; ping
 * and exit cost nothing worth a bucket; pipe and file-put/get redeem a one-time ticket that a
 * budgeted request issued.
 */
const REQUEST_BUCKET_KINDS: ReadonlySet<ClientMessageType> = new Set<ClientMessageType>([
  'create',
  'join',
  'leave',
  'users',
  'rooms',
  'history',
  'keys',
  'key-batch',
  'prekeys',
  'prekey-claim',
  'pipe-ticket',
  'file-upload',
  'files',
  'file-download',
]);

/** Pages of missed messages a resume reads from the store at most (historyMaxPage each) before it gives up catching up. */
const MAX_CATCH_UP_PAGES = 20;

function toWire(message: StoredMessage): RoomMessage {
  return { room: message.room, seq: message.seq, from: message.from, text: message.text, time: message.time, id: message.id };
}

/** The `away` field of `users` and `joined`: who in the roster set an away text; absent when nobody did. */
function awayOf(roster: readonly RosterEntry[]): { away?: Record<string, string> } {
  const away: Record<string, string> = {};
  let any = false;
  for (const entry of roster) {
    if (entry.awayText === undefined) continue;
    away[entry.userName] = entry.awayText;
    any = true;
  }
  return any ? { away } : {};
}

/**
 * The chat itself: accounts and sessions, the global room and chatrooms, routing. It knows
 * connections only as senders of validated requests; sockets live in RelayConnection. What
 * must hold across relays goes through the store (durable) and the bus (live); this relay
 * keeps only its own connections and the rooms they are in.
 */
export class ChatHost {
  readonly rooms: RoomRegistry;
  private readonly log: MessageLog;
  private readonly feed: RoomFeed;
  /** The logged-in connection of each user here (one per account; a new login replaces the old). */
  private readonly online = new Map<string, RelayConnection>();
  private readonly held: HeldMessages;
  /** Users whose connection dropped here, still listed in their room until they resume or the grace ends. */
  private readonly away = new Map<string, { room: Room; timer: NodeJS.Timeout }>();
  /** Relay pipes and room files: requests on the chat connection, bytes on side connections. */
  readonly side: SideRequests;
  /** Who a connection is: handshake, registration, login, resume. */
  private readonly accounts: Accounts;
  /** Prekeys of sessions with forward secrecy: uploads and claims. */
  private readonly prekeys: Prekeys;

  constructor(private readonly options: HostOptions) {
    this.rooms = new RoomRegistry(options.store, options.limits.historyOnJoin);
    this.feed = new RoomFeed(options.store, (message) => this.deliverMessage(message), options.limits.historyMaxPage, options.log);
    this.log = new MessageLog(options.store, (messages) => options.bus.committed(messages));
    this.held = new HeldMessages(options.limits.sealedHoldMs, options.limits.sealedHoldPerUser);
    this.accounts = new Accounts(options);
    this.prekeys = new Prekeys({ ...options, notifyOwner: (userKey, message) => this.online.get(userKey)?.send(message) });
    this.side = new SideRequests(
      new PipeBroker(options.limits, options.bus, options.log, options.dialRelay),
      new RoomFiles(options.store, options.bus, options.filesDir, options.bus.relayId, options.limits, options.log),
      { currentRoom: (connection) => this.currentRoom(connection), onlineUser: (name) => this.onlineUser(name) },
    );
  }

  async init(): Promise<void> {
    await this.rooms.init();
    await this.options.bus.start({
      roomMessage: (message) => this.feed.offer(message),
      presence: (roomKey, roomName, userName, event) => this.rooms.get(roomKey)?.broadcast(encodeControl({ t: 'presence', room: roomName, user: userName, event }), nameKey(userName)),
      away: (roomKey, roomName, userName, text) => this.rooms.get(roomKey)?.broadcast(encodeControl(text === undefined ? { t: 'away', room: roomName, user: userName } : { t: 'away', room: roomName, user: userName, text })),
      sealed: (userKey, message, roomKey) => this.deliverSealed(userKey, message, roomKey),
      replaced: (userKey) => this.replaceSession(userKey),
      returned: (userKey, relayId) => this.handOverHeld(userKey, relayId),
      resubscribed: (roomKey) => void this.feed.catchUp(roomKey),
      cutOff: (reason) => this.closeEveryone(reason),
    });
    await this.watch(this.rooms.global);
  }

  /** Waits for every accepted message to be stored. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  get onlineCount(): number {
    return this.online.size;
  }

  handle(connection: RelayConnection, message: ClientMessage): void | Promise<void> {
    if (REQUEST_BUCKET_KINDS.has(message.t)) return this.takeRequestToken(connection).then(() => this.dispatch(connection, message));
    return this.dispatch(connection, message);
  }

  private dispatch(connection: RelayConnection, message: ClientMessage): void | Promise<void> {
    switch (message.t) {
      case 'hello':
        return this.accounts.welcome(connection, message);
      case 'register':
        return this.register(connection, message);
      case 'login':
        return this.login(connection, message);
      case 'resume':
        return this.resume(connection, message);
      case 'say':
        return this.say(connection, message);
      case 'create':
        return this.create(connection, message);
      case 'join':
        return this.join(connection, message);
      case 'leave':
        return this.leave(connection, message);
      case 'users':
        return this.users(connection, message);
      case 'away':
        return this.setAway(connection, message);
      case 'rooms':
        return this.listRooms(connection, message);
      case 'whisper':
        return this.forwardSealed(connection, message, 'whisper');
      case 'history':
        return this.history(connection, message);
      case 'ping':
        return connection.send({ t: 'pong', re: message.id, time: Date.now() });
      case 'exit':
        return this.exit(connection, message);
      case 'keys':
        return this.accounts.publicKeys(connection, message);
      case 'key-batch':
        return this.accounts.publicKeysBatch(connection, message);
      case 'signal':
        return this.forwardSealed(connection, message, 'signal');
      case 'prekeys':
        return this.prekeys.upload(connection, message);
      case 'prekey-claim':
        return this.prekeys.claim(connection, message);
      case 'pipe-ticket':
      case 'pipe':
      case 'file-upload':
      case 'files':
      case 'file-download':
      case 'file-put':
      case 'file-get':
        return this.side.handle(connection, message);
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  /** The one place a connection leaves the chat (socket closed, replaced or exited). */
  disconnected(connection: RelayConnection, how: 'lost' | 'exit' | 'replaced' = 'lost'): void {
    const roomKey = connection.room?.key;
    const current = connection.userKey !== '' && this.online.get(connection.userKey) === connection;
    if (how === 'lost' && current && this.options.limits.presenceGraceMs > 0) this.stepAway(connection);
    else this.background(this.leaveCurrentRoom(connection), 'announce a leave');
    if (current) {
      this.online.delete(connection.userKey);
      this.background(this.options.bus.releaseSession(connection.userKey), 'release a session');
      if (how === 'lost') this.held.noteGone(connection.userKey, roomKey);
    }
  }

  /**
   * A dropped connection leaves its room quietly: the user stays listed for `presenceGraceMs`
   * and a resume within it returns without a word to the room. Only when the grace ends is the
   * room told the user left. Flaky links do not spam rooms with leave/join pairs, and a mass
   * reconnect (a relay or network blip) costs no presence broadcast at all.
   */
  private stepAway(connection: RelayConnection): void {
    const room = connection.leaveRoom();
    if (!room) return;
    const { userKey, userName } = connection;
    this.comeBack(userKey);
    room.markAway(userKey, userName);
    const graceMs = this.options.limits.presenceGraceMs;
    this.background(this.options.bus.stepAway(room.key, userKey, Date.now() + graceMs), 'mark a member away');
    const timer = setTimeout(() => {
      if (this.away.get(userKey)?.timer !== timer) return;
      this.away.delete(userKey);
      room.back(userKey);
      this.background(this.leaveUnlessBack(room, userKey, userName), 'end a presence grace');
    }, graceMs);
    timer.unref();
    this.away.set(userKey, { room, timer });
  }

  /** The grace ended: the room hears the user left, unless they are in it again (on any relay). */
  private async leaveUnlessBack(room: Room, userKey: string, userName: string): Promise<void> {
    if (room.members.has(userKey) || (await this.options.bus.locate(userKey))?.roomKey === room.key) return;
    await this.announceLeave(room, userKey, userName);
  }

  /** Ends a user's grace here: returns the room they were away from (no longer listed there), if any. */
  private comeBack(userKey: string): Room | undefined {
    const entry = this.away.get(userKey);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.away.delete(userKey);
    entry.room.back(userKey);
    return entry.room;
  }

  /** Tells the cluster a user left a room, and stops following the room here when no one here is in it. */
  private async announceLeave(room: Room, userKey: string, userName: string): Promise<void> {
    const ended = await this.options.bus.leaveRoom(room.key, room.name, userKey, userName);
    if (ended) this.options.log(`room ${room.name} ended`);
    this.unwatchIfEmpty(room);
  }

  /** Starts receiving a room's messages here: follows its feed from the ring's newest message, then fills any gap. */
  private async watch(room: Room): Promise<void> {
    if (this.feed.follows(room.key)) return;
    this.feed.follow(room.key, room.recent.at(-1)?.seq ?? 0);
    await this.options.bus.watchRoom(room.key);
    await this.feed.catchUp(room.key);
  }

  private unwatchIfEmpty(room: Room): void {
    if (!this.rooms.endIfEmpty(room)) return;
    this.feed.unfollow(room.key);
    this.background(this.options.bus.unwatchRoom(room.key), 'unwatch a room');
  }

  /** A bus call whose failure costs no client anything now (the bus recovers or the sweep fixes it): logged. */
  private background(work: Promise<unknown>, what: string): void {
    work.catch((error: unknown) => this.options.log(`cluster: could not ${what}: ${(error as Error)?.message ?? String(error)}`));
  }

  /** The user logged in on another relay: their session here ends. */
  private replaceSession(userKey: string): void {
    const previous = this.online.get(userKey);
    if (!previous) return;
    this.disconnected(previous, 'replaced');
    previous.close('E_REPLACED', 'you logged in from somewhere else');
  }

  /** The relay lost the cluster for longer than its lease: its clients go elsewhere rather than see a split view. */
  private closeEveryone(reason: string): void {
    this.options.log(`cluster: ${reason}; closing every session`);
    for (const connection of [...this.online.values()]) connection.close('E_SHUTDOWN', 'this relay lost contact with its cluster; your client will reconnect');
  }

  // ---- session ---------------------------------------------------------------------------

  private async register(connection: RelayConnection, message: ClientMessageOf<'register'>): Promise<void> {
    await this.authenticate(connection, () => this.accounts.register(connection, message), message.id);
  }

  private async login(connection: RelayConnection, message: ClientMessageOf<'login'>): Promise<void> {
    await this.authenticate(connection, () => this.accounts.login(connection, message), message.id);
  }

  private async resume(connection: RelayConnection, message: ClientMessageOf<'resume'>): Promise<void> {
    let room: Room | undefined;
    await this.authenticate(
      connection,
      async () => {
        const userName = await this.accounts.resume(connection, message);
        if (message.room && nameKey(message.room) !== GLOBAL_ROOM) {
          // The room may have ended while this user was away; a returning member re-opens it.
          room = await this.rooms.open(validateRoomName(message.room));
        }
        return userName;
      },
      message.id,
      message.token,
    );
    if (connection.state !== 'ready') return;
    await this.enterRoom(connection, room ?? this.rooms.global, undefined, message.since, true);
    this.deliverHeld(connection);
  }

  /**
   * Runs one authentication attempt; on success makes the connection the user's session
   * (replacing an older one), sends the session token and, for fresh logins, enters global.
   */
  private async authenticate(
    connection: RelayConnection,
    attempt: () => Promise<string>,
    re: string,
    resumedToken?: string,
  ): Promise<void> {
    connection.advance('auth-start');
    let userName: string;
    try {
      await this.options.arrivals?.turn();
      if (connection.isClosed) return;
      userName = await attempt();
    } catch (error) {
      connection.advance('auth-failed');
      throw error;
    }
    if (connection.isClosed) return;
    const userKey = nameKey(userName);
    this.replaceSession(userKey);
    const token = resumedToken ?? (await this.options.store.issueToken(userName, this.options.limits.resumeTokenTtlMs));
    if (connection.isClosed) return;
    connection.becomeSession(userName, userKey, token);
    this.online.set(userKey, connection);
    // Another relay holding this user lets go (E_REPLACED there); relays holding whispers for them send them here.
    await this.options.bus.claimSession(userKey);
    connection.advance('auth-ok');
    connection.send({ t: 'session', re, user: userName, token, resumed: resumedToken !== undefined });
    this.options.log(`${resumedToken ? 'resumed' : 'login'}: ${userName} from ${connection.address}`);
    if (!resumedToken) await this.enterRoom(connection, this.rooms.global);
    this.deliverHeld(connection);
    this.background(this.options.bus.announceReturn(userKey), 'announce a return');
  }

  /** Sends what was held here while this user's connection was down. */
  private deliverHeld(connection: RelayConnection): void {
    for (const message of this.held.release(connection.userKey)) connection.send(message);
  }

  /** A user came back on another relay: what was held for them here goes there. */
  private handOverHeld(userKey: string, relayId: string): void {
    if (relayId === this.options.bus.relayId) return;
    for (const message of this.held.release(userKey)) this.background(this.options.bus.route(relayId, userKey, message, undefined), 'hand over a held message');
  }

  private async exit(connection: RelayConnection, message: ClientMessageOf<'exit'>): Promise<void> {
    if (connection.token) await this.options.store.revokeToken(connection.token);
    this.options.store.audit({ event: 'logout', user: connection.userName, address: connection.address });
    connection.send({ t: 'ok', re: message.id });
    this.disconnected(connection, 'exit');
    connection.close();
  }

  // ---- rooms -----------------------------------------------------------------------------

  private async create(connection: RelayConnection, message: ClientMessageOf<'create'>): Promise<void> {
    this.requireGlobal(connection, '/create');
    const name = validateRoomName(message.room);
    if (await this.options.bus.roomLive(nameKey(name))) throw new ChatError('E_ROOM_EXISTS', `the room ${name} exists; /join ${name}`);
    const room = await this.rooms.open(name);
    this.options.log(`room ${room.name} created by ${connection.userName}`);
    await this.enterRoom(connection, room, message.id);
  }

  private async join(connection: RelayConnection, message: ClientMessageOf<'join'>): Promise<void> {
    if (nameKey(message.room) === GLOBAL_ROOM && connection.room?.isGlobal) {
      throw new ChatError('E_ALREADY_IN_ROOM', 'you are in the global room');
    }
    this.requireGlobal(connection, '/join');
    const name = validateRoomName(message.room);
    // The live room's own spelling, wherever in the cluster its members are.
    const live = (await this.options.bus.chatrooms()).find((room) => nameKey(room.name) === nameKey(name));
    if (!live) throw new ChatError('E_NO_SUCH_ROOM', `no room named ${name}; /create ${name} to start it`);
    await this.enterRoom(connection, await this.rooms.open(live.name), message.id, message.since);
  }

  private async leave(connection: RelayConnection, message: ClientMessageOf<'leave'>): Promise<void> {
    if (!connection.room || connection.room.isGlobal) throw new ChatError('E_IN_GLOBAL', 'you are in the global room; /exit quits');
    await this.enterRoom(connection, this.rooms.global, message.id);
  }

  private async users(connection: RelayConnection, message: ClientMessageOf<'users'>): Promise<void> {
    const room = this.currentRoom(connection);
    const roster = await this.options.bus.roster(room.key);
    connection.send({ t: 'users', re: message.id, room: room.name, users: roster.map((entry) => entry.userName), ...awayOf(roster) });
  }

  /** /away [MSG]: kept with the session and on the member's roster entry, told to the room (on every relay). */
  private async setAway(connection: RelayConnection, message: ClientMessageOf<'away'>): Promise<void> {
    const limit = this.options.limits.maxAwayBytes;
    const text = message.text === undefined || message.text.trim() === '' ? undefined : message.text;
    if (text !== undefined && Buffer.byteLength(text) > limit) throw new ChatError('E_TOO_LARGE', `an away text is limited to ${limit} bytes`);
    // Each change is told to the whole room, like a message: it spends from the same bucket.
    await this.takeFloodToken(connection, 'changing the away text too fast; slow down');
    connection.awayText = text;
    const room = this.currentRoom(connection);
    await this.options.bus.setAway(room.key, room.name, connection.userKey, connection.userName, text);
    connection.send({ t: 'ok', re: message.id });
  }

  private async listRooms(connection: RelayConnection, message: ClientMessageOf<'rooms'>): Promise<void> {
    this.requireGlobal(connection, '/chatrooms');
    connection.send({ t: 'rooms', re: message.id, rooms: await this.options.bus.chatrooms() });
  }

  private requireGlobal(connection: RelayConnection, command: string): void {
    if (!connection.room?.isGlobal) {
      throw new ChatError('E_NOT_IN_GLOBAL', `${command} works only from the global room; /leave first`);
    }
  }

  private currentRoom(connection: RelayConnection): Room {
    if (!connection.room) throw new ChatError('E_NOT_LOGGED_IN', 'not in a room');
    return connection.room;
  }

  /**
   * Moves a connection into a room and sends it the room's state. With `since`, the history
   * is what it missed after that sequence id (a reconnect); otherwise the newest messages.
   * `resumed`: a resume of the session, silent in the room it dropped from.
   */
  private async enterRoom(connection: RelayConnection, target: Room, re?: string, since?: number, resumed = false): Promise<void> {
    const room = this.rooms.keepLive(target);
    room.entering += 1;
    try {
      await this.enterLiveRoom(connection, room, re, since, resumed);
    } finally {
      room.entering -= 1;
      if (connection.room !== room) this.unwatchIfEmpty(room);
    }
  }

  private async enterLiveRoom(connection: RelayConnection, room: Room, re: string | undefined, since: number | undefined, resumed: boolean): Promise<void> {
    const { bus } = this.options;
    await this.watch(room);
    if (connection.isClosed) return;
    await this.leaveCurrentRoom(connection);
    const awayFrom = this.comeBack(connection.userKey);
    if (awayFrom && awayFrom !== room) await this.announceLeave(awayFrom, connection.userKey, connection.userName);
    // A resume into the room they dropped from (on this relay or another) is the same session:
    // nobody saw them leave, so nobody hears them join. A fresh login is announced even there:
    // it may be a new device with new keys, and a join is what makes the others look at those keys again.
    const before = await bus.roster(room.key);
    const wasAway = awayFrom === room || before.some((entry) => entry.userKey === connection.userKey && entry.away);
    await bus.enterRoom(room.key, room.name, connection.userKey, connection.userName, resumed && wasAway, connection.awayText);
    const users = before.some((entry) => entry.userKey === connection.userKey) ? before : await bus.roster(room.key);
    if (connection.isClosed) return void (await this.announceLeave(room, connection.userKey, connection.userName));
    const history = await this.historySince(connection, room, since);
    if (!history) return void (await this.announceLeave(room, connection.userKey, connection.userName));
    // Synchronous from the last look at the ring to membership: no message can fall between.
    connection.enter(room);
    connection.send({ t: 'joined', re, room: room.name, users: users.map((entry) => entry.userName), history: history.messages.map(toWire), hasMore: history.hasMore, ...awayOf(users) });
    this.background(bus.setUserRoom(connection.userKey, room.key), 'record a user\'s room');
    // The room heard the join (which clears an away mark on screens): say again that this member is away.
    if (connection.awayText !== undefined) this.background(bus.setAway(room.key, room.name, connection.userKey, connection.userName, connection.awayText), 'announce an away text');
  }

  /**
   * The history a connection entering `room` gets: the ring's newest messages (a fresh join),
   * or everything after `since` (a resume). The ring moves on while the store is read, so the
   * store is read, page after page, until the ring covers the rest; the caller must make the
   * connection a member in the same tick as this resolves. Undefined if the connection closed.
   */
  private async historySince(connection: RelayConnection, room: Room, since: number | undefined): Promise<{ messages: StoredMessage[]; hasMore: boolean } | undefined> {
    if (since === undefined) {
      const messages = [...room.recent];
      return { messages, hasMore: Room.hasOlderThan(messages[0]?.seq) };
    }
    const messages: StoredMessage[] = [];
    let last = since;
    for (let pages = 0; ; pages++) {
      const recent = room.recent;
      if (recent.length === 0 || recent[0].seq <= last + 1) {
        messages.push(...recent.filter((message) => message.seq > last));
        return { messages, hasMore: false };
      }
      const page = await this.options.store.messagesSince(room.key, last, this.options.limits.historyMaxPage);
      if (connection.isClosed) return undefined;
      messages.push(...page.messages);
      last = page.messages.at(-1)?.seq ?? last;
      // Bounded: a client this far behind gets what was read, and pages on with /history.
      if (page.messages.length === 0 || pages >= MAX_CATCH_UP_PAGES) {
        this.options.log(`resume into ${room.name}: ${connection.userName} is more than ${messages.length} messages behind; sent those`);
        return { messages: [...messages, ...room.recent.filter((message) => message.seq > last)], hasMore: true };
      }
    }
  }

  private async leaveCurrentRoom(connection: RelayConnection): Promise<void> {
    const room = connection.leaveRoom();
    if (room) await this.announceLeave(room, connection.userKey, connection.userName);
  }

  // ---- messages --------------------------------------------------------------------------

  /**
   * Stores a room message; the store recognises a client id it has seen before (whatever the
   * `resent` flag says) and the ack then carries the first stored copy's sequence id.
   */
  private async say(connection: RelayConnection, message: ClientMessageOf<'say'>): Promise<void> {
    const { limits } = this.options;
    const room = this.currentRoom(connection);
    if (Buffer.byteLength(message.text) > limits.maxMessageBytes) {
      throw new ChatError('E_TOO_LARGE', `messages are limited to ${limits.maxMessageBytes} bytes`);
    }
    if (message.text.trim().length === 0) throw new ChatError('E_USAGE', 'empty message');
    await this.takeFloodToken(connection, `more than ${limits.messagesPerSecond} messages a second; slow down`);
    const draft = { room: room.name, roomKey: room.key, from: connection.userName, text: message.text, time: Date.now(), id: message.id };
    this.log
      .append(draft)
      // Acked only once this relay has sent the room everything up to it (see RoomFeed.whenDelivered).
      .then(async ({ message: stored }) => {
        await this.feed.whenDelivered(stored.roomKey, stored.seq);
        return stored;
      })
      .then(
        (stored) => connection.send({ t: 'ack', re: message.id, room: stored.room, seq: stored.seq, time: stored.time }),
        (error: unknown) => {
          this.options.log(`storing a message failed: ${(error as Error)?.message ?? String(error)}`);
          const code = error instanceof ChatError && error.code === 'E_STORE_UNAVAILABLE' ? error.code : 'E_INTERNAL';
          connection.sendError(code, 'the relay could not store that message; send it again', message.id, code === 'E_STORE_UNAVAILABLE' ? 1000 : undefined);
        },
      );
  }

  /** A room message from the feed (in order, once): into the room's ring and to its members here. */
  private deliverMessage(message: StoredMessage): void {
    const room = this.rooms.get(message.roomKey);
    if (!room) return;
    room.remember(message);
    room.broadcast(encodeControl({ t: 'message', ...toWire(message) }), nameKey(message.from));
  }

  /**
   * One token from the sender's flood bucket, which belongs to the user (shared by every
   * connection and relay of theirs), so reconnecting or resuming does not refill it.
   */
  private async takeFloodToken(connection: RelayConnection, refusal: string): Promise<void> {
    const { limits } = this.options;
    await this.takeToken(`flood:${connection.userKey}`, limits.messagesPerSecond, limits.messageBurst, refusal);
  }

  /** One token from the user's bucket for requests that cost the relay a store read or write (REQUEST_BUCKET_KINDS). */
  private async takeRequestToken(connection: RelayConnection): Promise<void> {
    const { limits } = this.options;
    await this.takeToken(`requests:${connection.userKey}`, limits.requestsPerSecond, limits.requestBurst, `more than ${limits.requestsPerSecond} requests a second; slow down`);
  }

  private async takeToken(bucket: string, perSecond: number, burst: number, refusal: string): Promise<void> {
    // Taken ahead on Redis (one round trip per few): the user's session is here.
    const waitMs = await this.options.bus.take(bucket, perSecond, burst, this.options.limits.floodTokenPrefetch);
    if (waitMs > 0) throw new ChatError('E_FLOOD', refusal, { retryAfterMs: Math.max(waitMs, 50) });
  }

  /**
   * Routes an end-to-end sealed body to one user: a whisper (same room only) or a transfer
   * signal (any online user: a transfer outlives a room change). The body is opaque here; it
   * is neither logged nor stored, and crosses to another relay by pub/sub only.
   */
  private async forwardSealed(
    connection: RelayConnection,
    message: ClientMessageOf<'whisper'> | ClientMessageOf<'signal'>,
    kind: 'whisper' | 'signal',
  ): Promise<void> {
    const { limits, bus } = this.options;
    const to = validateUserName(message.to);
    const targetKey = nameKey(to);
    if (targetKey === connection.userKey) throw new ChatError('E_SELF', `you cannot ${kind} to yourself`);
    if (Buffer.byteLength(message.body) > limits.maxWhisperBodyBytes) {
      throw new ChatError('E_TOO_LARGE', `a ${kind} is limited to ${limits.maxWhisperBodyBytes} bytes`);
    }
    await this.takeFloodToken(connection, 'sending too fast; slow down');
    const sealed = { t: kind, from: connection.userName, body: message.body, time: Date.now(), id: message.id };
    const roomKey = kind === 'whisper' ? connection.room?.key : undefined;
    const local = this.online.get(targetKey);
    const where = local ? { relayId: bus.relayId, roomKey: local.room?.key } : await bus.locate(targetKey);
    if (where) {
      if (roomKey !== undefined && where.roomKey !== roomKey) throw new ChatError('E_NOT_IN_ROOM', `${local?.userName ?? to} is not in your room`);
      if (local) local.send(sealed);
      else await bus.route(where.relayId, targetKey, sealed, roomKey);
      connection.send({ t: 'ok', re: message.id });
      return;
    }
    // Not online: held a while if they dropped from this room (a whisper) or dropped at all (a signal).
    if (this.held.hold(targetKey, sealed, roomKey) || (roomKey !== undefined && (await this.holdForAwayMember(roomKey, targetKey, sealed)))) {
      connection.send({ t: 'ok', re: message.id, queued: true });
      return;
    }
    if (await this.options.store.getAccount(to)) throw new ChatError('E_NOT_IN_ROOM', `${to} is not online`);
    throw new ChatError('E_NO_SUCH_USER', `there is no user ${to}`);
  }

  /** A member who dropped from the room on another relay: held here until they come back anywhere. */
  private async holdForAwayMember(roomKey: string, userKey: string, sealed: SealedMessage): Promise<boolean> {
    const roster = await this.options.bus.roster(roomKey);
    if (!roster.some((entry) => entry.userKey === userKey && entry.away)) return false;
    this.held.noteGone(userKey, roomKey, { keep: true });
    return this.held.hold(userKey, sealed, roomKey);
  }

  /** A sealed message routed here from another relay. */
  private deliverSealed(userKey: string, sealed: SealedMessage, roomKey: string | undefined): void {
    const target = this.online.get(userKey);
    if (target && (roomKey === undefined || target.room?.key === roomKey)) target.send(sealed);
    else this.held.hold(userKey, sealed, roomKey);
  }

  /** The user's live connection here or elsewhere; E_NOT_IN_ROOM when offline, E_NO_SUCH_USER when there is no such account. */
  private async onlineUser(name: string): Promise<{ userName: string; userKey: string }> {
    const userKey = nameKey(name);
    const local = this.online.get(userKey);
    if (local) return local;
    const account = await this.options.store.getAccount(name);
    if (account && (await this.options.bus.locate(userKey))) return { userName: account.name, userKey };
    if (account) throw new ChatError('E_NOT_IN_ROOM', `${name} is not online`);
    throw new ChatError('E_NO_SUCH_USER', `there is no user ${name}`);
  }

  /** Ends every relay pipe and room-file transfer (shutdown). */
  closePipes(): void {
    this.side.close();
    for (const { timer } of this.away.values()) clearTimeout(timer);
    this.away.clear();
  }

  private async history(connection: RelayConnection, message: ClientMessageOf<'history'>): Promise<void> {
    const room = this.currentRoom(connection);
    const limit = Math.min(message.limit ?? this.options.limits.historyOnJoin, this.options.limits.historyMaxPage);
    const page = await this.options.store.lastMessages(room.key, limit, message.before);
    connection.send({ t: 'history', re: message.id, room: room.name, messages: page.messages.map(toWire), hasMore: page.hasMore });
  }
}
