import { randomBytes } from 'node:crypto';
import { encodeControl } from '../shared/codec.js';
import { verifyLoginChallenge, verifyPublicBundle, type PublicKeyBundle } from '../shared/crypto/identity.js';
import { checkLoginPassword, validateRegistration } from '../shared/account-rules.js';
import { ChatError } from '../shared/errors.js';
import type { Limits } from '../shared/limits.js';
import { PROTOCOL_VERSION, type ClientMessage, type ClientMessageOf, type RoomMessage } from '../shared/messages.js';
import { GLOBAL_ROOM, nameKey, validateRoomName, validateUserName } from '../shared/names.js';
import type { RelayConnection } from './connection.js';
import type { LoginLimiter } from './login-limiter.js';
import { MessageLog } from './message-log.js';
import type { PasswordHasher } from './passwords.js';
import { HeldMessages } from './held-messages.js';
import { PipeBroker } from './pipe-broker.js';
import { RoomFiles } from './room-files.js';
import { TokenBucket } from '../shared/token-bucket.js';
import { Room, RoomRegistry } from './rooms.js';
import type { RelayStore, StoredMessage } from './store.js';

type Delivered = { room: string; seq: number; time: number };

export interface HostOptions {
  store: RelayStore;
  hasher: PasswordHasher;
  limiter: LoginLimiter;
  limits: Limits;
  registration: 'open' | 'closed';
  serverName: string;
  log: (line: string) => void;
}

function sameBundle(a: PublicKeyBundle | undefined, b: PublicKeyBundle): boolean {
  return a !== undefined && a.sign === b.sign && a.box === b.box && a.sig === b.sig;
}

function toWire(message: StoredMessage): RoomMessage {
  return { room: message.room, seq: message.seq, from: message.from, text: message.text, time: message.time, id: message.id };
}

/**
 * The chat itself: accounts and sessions, the global room and chatrooms, routing. It knows
 * connections only as senders of validated requests; sockets live in RelayConnection.
 */
export class ChatHost {
  readonly rooms: RoomRegistry;
  private readonly log: MessageLog;
  /** The logged-in connection of each user (one per account; a new login replaces the old). */
  private readonly online = new Map<string, RelayConnection>();
  /** Recently seen `say` ids per user, for idempotent retries without a LevelDB read. */
  private readonly recentIds = new Map<string, Map<string, Promise<Delivered>>>();
  private readonly floodBuckets = new WeakMap<RelayConnection, TokenBucket>();
  private readonly pipes: PipeBroker;
  private readonly held: HeldMessages;
  /** Users whose connection dropped, still listed in their room until they resume or the grace ends. */
  private readonly away = new Map<string, { room: Room; timer: NodeJS.Timeout }>();
  readonly files: RoomFiles;

  constructor(private readonly options: HostOptions) {
    this.rooms = new RoomRegistry(options.store, options.limits.historyOnJoin);
    this.log = new MessageLog(options.store, (messages) => this.onCommitted(messages));
    this.pipes = new PipeBroker(options.limits, options.log);
    this.held = new HeldMessages(options.limits.sealedHoldMs, options.limits.sealedHoldPerUser);
    this.files = new RoomFiles(options.store, options.limits, options.log);
  }

  async init(): Promise<void> {
    await this.rooms.init();
  }

  /** Waits for every accepted message to be stored. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  get onlineCount(): number {
    return this.online.size;
  }

  handle(connection: RelayConnection, message: ClientMessage): void | Promise<void> {
    switch (message.t) {
      case 'hello':
        return this.hello(connection, message);
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
        return this.publicKeys(connection, message);
      case 'signal':
        return this.forwardSealed(connection, message, 'signal');
      case 'pipe-ticket':
        return this.pipeTicket(connection, message);
      case 'pipe':
        return this.joinPipe(connection, message);
      case 'file-upload':
      case 'files':
      case 'file-download':
        return this.roomFileRequest(connection, message);
      case 'file-put':
      case 'file-get':
        return this.roomFileTransfer(connection, message);
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
    else this.leaveCurrentRoom(connection);
    if (current) {
      this.online.delete(connection.userKey);
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
    const room = this.detachFromRoom(connection);
    if (!room) return;
    const { userKey, userName } = connection;
    this.comeBack(userKey);
    room.away.set(userKey, userName);
    const timer = setTimeout(() => {
      if (this.away.get(userKey)?.timer !== timer) return;
      this.away.delete(userKey);
      this.announceLeave(room, userKey, userName);
    }, this.options.limits.presenceGraceMs);
    timer.unref();
    this.away.set(userKey, { room, timer });
  }

  /** Ends a user's grace: returns the room they were away from (no longer listed there), if any. */
  private comeBack(userKey: string): Room | undefined {
    const entry = this.away.get(userKey);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.away.delete(userKey);
    entry.room.away.delete(userKey);
    return entry.room;
  }

  /** Tells a room a user left (unless they are in it again) and ends it if that emptied it. */
  private announceLeave(room: Room, userKey: string, userName: string): void {
    room.away.delete(userKey);
    if (room.members.has(userKey)) return;
    room.broadcast(encodeControl({ t: 'presence', room: room.name, user: userName, event: 'leave' }));
    if (this.rooms.endIfEmpty(room)) this.options.log(`room ${room.name} ended`);
  }

  // ---- session ---------------------------------------------------------------------------

  private hello(connection: RelayConnection, message: ClientMessageOf<'hello'>): void {
    if (message.v !== PROTOCOL_VERSION) {
      connection.sendError('E_VERSION', `this relay speaks protocol version ${PROTOCOL_VERSION}, not ${message.v}; update securechat`);
      connection.close('E_VERSION', `protocol version ${message.v} is not supported`);
      return;
    }
    connection.advance('hello-ok');
    connection.challenge = randomBytes(32).toString('base64');
    connection.send({
      t: 'welcome',
      v: PROTOCOL_VERSION,
      server: this.options.serverName,
      registration: this.options.registration,
      challenge: connection.challenge,
      observed: connection.address.replace(/^::ffff:/, ''),
    });
  }

  private async register(connection: RelayConnection, message: ClientMessageOf<'register'>): Promise<void> {
    const { limits, store, hasher } = this.options;
    await this.authenticate(connection, async () => {
      if (this.options.registration === 'closed') throw new ChatError('E_REGISTRATION_CLOSED', 'this relay does not accept new accounts; ask its operator');
      const name = validateRegistration(message.user, message.password, limits);
      this.checkLoginRate(connection);
      if (await store.getAccount(name)) throw new ChatError('E_USER_EXISTS', `the name ${name} is taken`);
      await this.checkKeyProof(connection, name, message.keys, message.proof);
      const hash = await hasher.hash(message.password);
      await store.createAccount(name, hash, message.keys);
      this.options.limiter.recordSuccess(connection.address, nameKey(name), Date.now());
      store.audit({ event: 'register', user: name, address: connection.address });
      return name;
    }, message.id);
  }

  private async login(connection: RelayConnection, message: ClientMessageOf<'login'>): Promise<void> {
    const { store, hasher, limiter, limits } = this.options;
    await this.authenticate(connection, async () => {
      checkLoginPassword(message.password, limits);
      const userKey = nameKey(message.user);
      this.checkLoginRate(connection, userKey);
      const account = await store.getAccount(message.user);
      const valid = account
        ? !account.disabled && (await hasher.verify(account.passwordHash, message.password))
        : await hasher.verifyDummy(message.password);
      if (!account || !valid) {
        limiter.recordFailure(connection.address, userKey, Date.now());
        store.audit({ event: 'login-failed', user: message.user.slice(0, 64), address: connection.address });
        throw new ChatError('E_AUTH', 'wrong user name or password');
      }
      await this.checkKeyProof(connection, account.name, message.keys, message.proof);
      if (!sameBundle(account.keys, message.keys)) {
        // A new device (or reinstalled client): contacts will see the key change and must re-verify.
        await store.setKeys(account.name, message.keys);
        if (account.keys) store.audit({ event: 'keys-changed', user: account.name, address: connection.address });
      }
      limiter.recordSuccess(connection.address, userKey, Date.now());
      store.audit({ event: 'login', user: account.name, address: connection.address });
      return account.name;
    }, message.id);
  }

  private async resume(connection: RelayConnection, message: ClientMessageOf<'resume'>): Promise<void> {
    const { store, limiter } = this.options;
    let room: Room | undefined;
    await this.authenticate(
      connection,
      async () => {
        // No login delay and no failure count: a token is 256 random bits, so a delay would
        // protect nothing and only let others lock the owner out (relay/login-limiter.ts, rule 5).
        const account = await store.getAccount(message.user);
        const proofOk = !account?.keys || (message.proof !== undefined && (await this.proofValid(connection, account.name, account.keys, message.proof)));
        if (!account || account.disabled || !proofOk || !(await store.checkToken(account.name, message.token))) {
          store.audit({ event: 'resume-failed', user: message.user.slice(0, 64), address: connection.address });
          throw new ChatError('E_BAD_TOKEN', 'the session expired; log in again');
        }
        limiter.rememberAddress(connection.address, nameKey(account.name), Date.now());
        store.audit({ event: 'resume', user: account.name, address: connection.address });
        if (message.room && nameKey(message.room) !== GLOBAL_ROOM) {
          // The room may have ended while this user was away; a returning member re-opens it.
          room = await this.rooms.open(validateRoomName(message.room));
        }
        return account.name;
      },
      message.id,
      message.token,
    );
    if (connection.state !== 'ready') return;
    await this.enterRoom(connection, room ?? this.rooms.global, undefined, message.since, true);
    this.deliverHeld(connection);
  }

  /** Checks uploaded public keys and the proof that the client holds their signing key. */
  private async checkKeyProof(connection: RelayConnection, userName: string, keys: PublicKeyBundle, proof: string): Promise<void> {
    await verifyPublicBundle(userName, keys);
    if (!(await this.proofValid(connection, userName, keys, proof))) {
      throw new ChatError('E_AUTH', 'the login proof does not match the uploaded keys');
    }
  }

  private async proofValid(connection: RelayConnection, userName: string, keys: PublicKeyBundle, proof: string): Promise<boolean> {
    if (!connection.challenge) return false;
    // Every bundle reaching here was verified: just now (checkKeyProof) or before it was stored.
    return verifyLoginChallenge(keys, userName, connection.loginChallenge(), proof, { bundleAlreadyVerified: true });
  }

  private async publicKeys(connection: RelayConnection, message: ClientMessageOf<'keys'>): Promise<void> {
    const account = await this.options.store.getAccount(message.user);
    if (!account) throw new ChatError('E_NO_SUCH_USER', `there is no user ${message.user.slice(0, 64)}`);
    if (!account.keys) throw new ChatError('E_NO_KEY', `${account.name} has not published encryption keys yet`);
    connection.send({ t: 'keys', re: message.id, user: account.name, keys: account.keys });
  }

  /** Login delays (relay/login-limiter.ts): with `userKey` a password login, without it a registration. */
  private checkLoginRate(connection: RelayConnection, userKey?: string): void {
    const { limiter } = this.options;
    const now = Date.now();
    const verdict = userKey === undefined ? limiter.checkAddress(connection.address, now) : limiter.check(connection.address, userKey, now);
    if (!verdict.allowed) {
      this.options.store.audit({ event: 'rate-limited', user: userKey, address: connection.address });
      throw new ChatError('E_RATE', `too many failed logins; try again in ${Math.ceil(verdict.retryAfterMs / 1000)} s`, {
        retryAfterMs: verdict.retryAfterMs,
      });
    }
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
      userName = await attempt();
    } catch (error) {
      connection.advance('auth-failed');
      throw error;
    }
    if (connection.isClosed) return;
    const userKey = nameKey(userName);
    const previous = this.online.get(userKey);
    if (previous && previous !== connection) {
      this.disconnected(previous, 'replaced');
      previous.close('E_REPLACED', 'you logged in from somewhere else');
    }
    connection.userName = userName;
    connection.userKey = userKey;
    connection.token = resumedToken ?? (await this.options.store.issueToken(userName, this.options.limits.resumeTokenTtlMs));
    if (connection.isClosed) return;
    this.online.set(userKey, connection);
    connection.advance('auth-ok');
    connection.send({ t: 'session', re, user: userName, token: connection.token, resumed: resumedToken !== undefined });
    this.options.log(`${resumedToken ? 'resumed' : 'login'}: ${userName} from ${connection.address}`);
    if (!resumedToken) await this.enterRoom(connection, this.rooms.global);
    this.deliverHeld(connection);
  }

  /** Sends what was held while this user's connection was down. */
  private deliverHeld(connection: RelayConnection): void {
    for (const message of this.held.release(connection.userKey)) connection.send(message);
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
    if (this.rooms.get(name)) throw new ChatError('E_ROOM_EXISTS', `the room ${name} exists; /join ${name}`);
    const room = await this.rooms.open(name);
    if (room.size > 0) throw new ChatError('E_ROOM_EXISTS', `the room ${name} exists; /join ${name}`);
    this.options.log(`room ${room.name} created by ${connection.userName}`);
    await this.enterRoom(connection, room, message.id);
  }

  private async join(connection: RelayConnection, message: ClientMessageOf<'join'>): Promise<void> {
    if (nameKey(message.room) === GLOBAL_ROOM && connection.room?.isGlobal) {
      throw new ChatError('E_ALREADY_IN_ROOM', 'you are in the global room');
    }
    this.requireGlobal(connection, '/join');
    const name = validateRoomName(message.room);
    const room = this.rooms.get(name);
    if (!room) throw new ChatError('E_NO_SUCH_ROOM', `no room named ${name}; /create ${name} to start it`);
    await this.enterRoom(connection, room, message.id, message.since);
  }

  private async leave(connection: RelayConnection, message: ClientMessageOf<'leave'>): Promise<void> {
    if (!connection.room || connection.room.isGlobal) throw new ChatError('E_IN_GLOBAL', 'you are in the global room; /exit quits');
    await this.enterRoom(connection, this.rooms.global, message.id);
  }

  private users(connection: RelayConnection, message: ClientMessageOf<'users'>): void {
    const room = this.currentRoom(connection);
    connection.send({ t: 'users', re: message.id, room: room.name, users: room.userNames() });
  }

  private listRooms(connection: RelayConnection, message: ClientMessageOf<'rooms'>): void {
    this.requireGlobal(connection, '/chatrooms');
    const rooms = this.rooms.chatrooms().map((room) => ({ name: room.name, members: room.size }));
    connection.send({ t: 'rooms', re: message.id, rooms });
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
    let missed: { messages: StoredMessage[]; hasMore: boolean } | undefined;
    if (since !== undefined && target.recent.length > 0 && target.recent[0].seq > since + 1) {
      missed = await this.options.store.messagesSince(target.key, since, this.options.limits.historyMaxPage);
      if (connection.isClosed) return;
    }
    // From here on everything is synchronous: no message can fall between history and membership.
    const room = this.rooms.keepLive(target);
    const recent = room.recent;
    let history: StoredMessage[];
    let hasMore: boolean;
    if (since === undefined) {
      history = [...recent];
      hasMore = Room.hasOlderThan(history[0]?.seq);
    } else if (!missed) {
      history = recent.filter((message) => message.seq > since);
      hasMore = false;
    } else {
      // Messages committed while the store was read are in the ring; join the two without overlap.
      const lastRead = missed.messages.at(-1)?.seq ?? since;
      const newer = recent.filter((message) => message.seq > lastRead);
      history = [...missed.messages, ...newer];
      hasMore = missed.hasMore || (newer.length > 0 && newer[0].seq > lastRead + 1);
    }
    this.leaveCurrentRoom(connection);
    const awayFrom = this.comeBack(connection.userKey);
    if (awayFrom && awayFrom !== room) this.announceLeave(awayFrom, connection.userKey, connection.userName);
    // A resume into the room they dropped from is the same session: nobody saw them leave, so
    // nobody hears them join. A fresh login is announced even there: it may be a new device
    // with new keys, and a join is what makes the others look at those keys again.
    if (!(resumed && awayFrom === room)) room.broadcast(encodeControl({ t: 'presence', room: room.name, user: connection.userName, event: 'join' }));
    room.members.set(connection.userKey, connection);
    connection.room = room;
    connection.send({ t: 'joined', re, room: room.name, users: room.userNames(), history: history.map(toWire), hasMore });
  }

  /** Takes a connection out of its room; returns the room if it was that room's member (not replaced meanwhile). */
  private detachFromRoom(connection: RelayConnection): Room | undefined {
    const room = connection.room;
    if (!room) return undefined;
    connection.room = undefined;
    if (room.members.get(connection.userKey) !== connection) return undefined;
    room.members.delete(connection.userKey);
    return room;
  }

  private leaveCurrentRoom(connection: RelayConnection): void {
    const room = this.detachFromRoom(connection);
    if (room) this.announceLeave(room, connection.userKey, connection.userName);
  }

  // ---- messages --------------------------------------------------------------------------

  private async say(connection: RelayConnection, message: ClientMessageOf<'say'>): Promise<void> {
    const { limits, store } = this.options;
    const room = this.currentRoom(connection);
    const seen = this.recentIdsOf(connection.userKey);
    const earlier = seen.get(message.id);
    if (earlier) {
      this.ackWhenStored(connection, message.id, earlier);
      return;
    }
    if (message.resent) {
      const stored = await store.findByClientId(connection.userName, message.id);
      if (stored) {
        const roomName = this.rooms.get(stored.roomKey)?.name ?? stored.roomKey;
        connection.send({ t: 'ack', re: message.id, room: roomName, seq: stored.seq, time: stored.time });
        return;
      }
    }
    if (Buffer.byteLength(message.text) > limits.maxMessageBytes) {
      throw new ChatError('E_TOO_LARGE', `messages are limited to ${limits.maxMessageBytes} bytes`);
    }
    if (message.text.trim().length === 0) throw new ChatError('E_USAGE', 'empty message');
    if (!this.floodBucket(connection).take(Date.now())) {
      throw new ChatError('E_FLOOD', `more than ${limits.messagesPerSecond} messages a second; slow down`, { retryAfterMs: 1000 });
    }
    const stored: StoredMessage = {
      room: room.name,
      roomKey: room.key,
      seq: this.rooms.nextSeq(room.key),
      from: connection.userName,
      text: message.text,
      time: Date.now(),
      id: message.id,
    };
    const delivered = this.log.append(stored).then(() => ({ room: stored.room, seq: stored.seq, time: stored.time }));
    seen.set(message.id, delivered);
    if (seen.size > limits.recentIdsPerUser) seen.delete(seen.keys().next().value!);
    delivered.catch(() => seen.delete(message.id));
    this.ackWhenStored(connection, message.id, delivered);
  }

  private ackWhenStored(connection: RelayConnection, re: string, delivered: Promise<Delivered>): void {
    delivered.then(
      ({ room, seq, time }) => connection.send({ t: 'ack', re, room, seq, time }),
      (error: unknown) => {
        this.options.log(`storing a message failed: ${(error as Error)?.message ?? String(error)}`);
        connection.sendError('E_INTERNAL', 'the relay could not store that message; send it again', re);
      },
    );
  }

  private onCommitted(messages: StoredMessage[]): void {
    for (const message of messages) {
      const room = this.rooms.get(message.room);
      if (!room) continue;
      room.remember(message);
      room.broadcast(encodeControl({ t: 'message', ...toWire(message) }), nameKey(message.from));
    }
  }

  private recentIdsOf(userKey: string): Map<string, Promise<Delivered>> {
    let seen = this.recentIds.get(userKey);
    if (!seen) {
      seen = new Map();
      this.recentIds.set(userKey, seen);
    }
    return seen;
  }

  private floodBucket(connection: RelayConnection): TokenBucket {
    let bucket = this.floodBuckets.get(connection);
    if (!bucket) {
      bucket = new TokenBucket(this.options.limits.messagesPerSecond, this.options.limits.messageBurst, Date.now());
      this.floodBuckets.set(connection, bucket);
    }
    return bucket;
  }

  /**
   * Routes an end-to-end sealed body to one user: a whisper (same room only) or a transfer
   * signal (any online user: a transfer outlives a room change). The body is opaque here; it
   * is neither logged nor stored.
   */
  private async forwardSealed(
    connection: RelayConnection,
    message: ClientMessageOf<'whisper'> | ClientMessageOf<'signal'>,
    kind: 'whisper' | 'signal',
  ): Promise<void> {
    const { limits } = this.options;
    const to = validateUserName(message.to);
    const targetKey = nameKey(to);
    if (targetKey === connection.userKey) throw new ChatError('E_SELF', `you cannot ${kind} to yourself`);
    if (Buffer.byteLength(message.body) > limits.maxWhisperBodyBytes) {
      throw new ChatError('E_TOO_LARGE', `a ${kind} is limited to ${limits.maxWhisperBodyBytes} bytes`);
    }
    if (!this.floodBucket(connection).take(Date.now())) {
      throw new ChatError('E_FLOOD', 'sending too fast; slow down', { retryAfterMs: 1000 });
    }
    const sealed = { t: kind, from: connection.userName, body: message.body, time: Date.now(), id: message.id };
    if (!this.online.has(targetKey)) {
      // A whisper only for someone who dropped from this room; a transfer signal from anywhere.
      const sameRoom = kind === 'whisper' ? connection.room?.key : undefined;
      if (this.held.hold(targetKey, sealed, sameRoom)) {
        connection.send({ t: 'ok', re: message.id, queued: true });
        return;
      }
    }
    const target = await this.onlineUser(to);
    if (kind === 'whisper' && target.room !== connection.room) throw new ChatError('E_NOT_IN_ROOM', `${target.userName} is not in your room`);
    target.send(sealed);
    connection.send({ t: 'ok', re: message.id });
  }

  /** The user's live connection; E_NOT_IN_ROOM when offline, E_NO_SUCH_USER when there is no such account. */
  private async onlineUser(name: string): Promise<RelayConnection> {
    const target = this.online.get(nameKey(name));
    if (target) return target;
    if (await this.options.store.getAccount(name)) throw new ChatError('E_NOT_IN_ROOM', `${name} is not online`);
    throw new ChatError('E_NO_SUCH_USER', `there is no user ${name}`);
  }

  // ---- relay pipes (file transfer fallback) ----------------------------------------------

  private async pipeTicket(connection: RelayConnection, message: ClientMessageOf<'pipe-ticket'>): Promise<void> {
    const peerName = validateUserName(message.peer);
    if (nameKey(peerName) === connection.userKey) throw new ChatError('E_SELF', 'a pipe needs another user');
    const peer = await this.onlineUser(peerName);
    const { ticket, expiresInMs } = this.pipes.issue(connection.userName, connection.userKey, peer.userName, peer.userKey, message.transfer);
    connection.send({ t: 'pipe-ticket', re: message.id, ticket, expiresInMs });
  }

  /** A fresh connection joins a pipe with its ticket; after `pipe-ready` it carries raw bytes. */
  private async joinPipe(connection: RelayConnection, message: ClientMessageOf<'pipe'>): Promise<void> {
    const ticket = this.pipes.redeem(message.ticket);
    connection.advance('auth-start');
    try {
      await this.pipes.rendezvous({
        ticket,
        alive: () => !connection.isClosed,
        handOver: () => {
          connection.send({ t: 'pipe-ready', re: message.id });
          return connection.detach();
        },
      });
    } catch (error) {
      connection.advance('auth-failed');
      throw error;
    }
  }

  // ---- room files (stored on the relay; bytes on side connections) ------------------------

  private roomFileRequest(connection: RelayConnection, message: ClientMessageOf<'file-upload' | 'files' | 'file-download'>): void {
    const room = this.currentRoom(connection);
    const who = { userName: connection.userName, userKey: connection.userKey, roomName: room.name, roomKey: room.key };
    if (message.t === 'files') {
      connection.send({ t: 'files', re: message.id, room: room.name, files: this.files.list(room.key) });
      return;
    }
    const { ticket, fileId } = message.t === 'file-upload' ? this.files.requestUpload(who, message) : this.files.requestDownload(who, message.fileId);
    connection.send({ t: 'file-ticket', re: message.id, ticket, fileId });
  }

  /** A fresh connection redeems a file ticket; after `file-ready` it carries the file's raw bytes. */
  private async roomFileTransfer(connection: RelayConnection, message: ClientMessageOf<'file-put' | 'file-get'>): Promise<void> {
    connection.advance('auth-start');
    try {
      if (message.t === 'file-put') {
        const ticket = this.files.redeem(message.ticket, 'put');
        connection.send({ t: 'file-ready', re: message.id });
        void this.files.receive(connection.detach(), ticket, message.id);
      } else {
        const ticket = this.files.redeem(message.ticket, 'get');
        // Checked before detaching, so a vanished file is an ordinary error frame.
        const file = await this.files.prepareDownload(ticket);
        if (connection.isClosed) return;
        void this.files.send(connection.detach(), file, message.id);
      }
    } catch (error) {
      if (!connection.isClosed) connection.advance('auth-failed');
      throw error;
    }
  }

  /** Ends every relay pipe (shutdown). */
  closePipes(): void {
    this.pipes.closeAll();
    this.files.close();
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
