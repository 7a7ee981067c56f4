import { GLOBAL_ROOM, nameKey } from '../shared/names.js';
import type { RelayStore, StoredMessage } from './store.js';

/** Whoever can be in a room: the relay's connections, or a test double in unit tests. */
export interface RoomMember {
  readonly userName: string;
  readonly userKey: string;
  /** Queues an already-encoded frame for this member. */
  deliver(frame: Buffer): void;
}

/**
 * A live room: its members and a ring of its newest committed messages, so joining is a
 * synchronous snapshot (no message can fall between the history read and the membership).
 */
export class Room {
  readonly key: string;
  private readonly memberMap = new Map<string, RoomMember>();
  /**
   * Users whose connection dropped a moment ago, by key (their display name): still listed,
   * sent nothing, announced as gone only when their grace ends without a resume.
   */
  private readonly awayMap = new Map<string, string>();
  /** Connections on their way in (between the first await of entering and membership): the room stays live for them. */
  entering = 0;
  private readonly recentMessages: StoredMessage[];

  constructor(readonly name: string, recent: StoredMessage[], private readonly recentCapacity: number) {
    this.key = nameKey(name);
    this.recentMessages = recent.slice(-recentCapacity);
  }

  get isGlobal(): boolean {
    return this.key === GLOBAL_ROOM;
  }

  /** The newest committed messages, oldest first. */
  get recent(): readonly StoredMessage[] {
    return this.recentMessages;
  }

  /** True when the store holds messages older than `seq` (sequence ids start at 1). */
  static hasOlderThan(seq: number | undefined): boolean {
    return seq !== undefined && seq > 1;
  }

  remember(message: StoredMessage): void {
    this.recentMessages.push(message);
    if (this.recentMessages.length > this.recentCapacity) this.recentMessages.shift();
  }

  /** The member for each user key. */
  get members(): ReadonlyMap<string, RoomMember> {
    return this.memberMap;
  }

  /** Users away for a moment: key -> display name. */
  get away(): ReadonlyMap<string, string> {
    return this.awayMap;
  }

  /** Makes `member` the room's member for its user (an older connection of theirs is replaced). */
  admit(member: RoomMember): void {
    this.memberMap.set(member.userKey, member);
  }

  /** Takes `member` out; false when it was not the member for its user (replaced meanwhile). */
  release(member: RoomMember): boolean {
    if (this.memberMap.get(member.userKey) !== member) return false;
    this.memberMap.delete(member.userKey);
    return true;
  }

  /** Lists a user whose connection dropped as away (sent nothing) until `back` or the grace ends. */
  markAway(userKey: string, userName: string): void {
    this.awayMap.set(userKey, userName);
  }

  /** The user is no longer listed as away (back, or their grace ended). */
  back(userKey: string): void {
    this.awayMap.delete(userKey);
  }

  /** Members plus users away for a moment. */
  get size(): number {
    let size = this.memberMap.size;
    for (const key of this.awayMap.keys()) if (!this.memberMap.has(key)) size += 1;
    return size + this.entering;
  }

  /** Sends one encoded frame to every member except `exceptKey`. */
  broadcast(frame: Buffer, exceptKey?: string): void {
    for (const [key, member] of this.memberMap) {
      if (key !== exceptKey) member.deliver(frame);
    }
  }
}

/**
 * Every live room. The global room always exists; chatrooms exist while they have members
 * and end with their last member, while their log (and sequence numbering) stays in the store.
 */
export class RoomRegistry {
  private readonly live = new Map<string, Room>();
  private readonly opening = new Map<string, Promise<Room>>();
  private globalRoom: Room | undefined;

  constructor(private readonly store: RelayStore, private readonly recentCapacity: number) {}

  async init(): Promise<void> {
    this.globalRoom = await this.load(GLOBAL_ROOM);
    this.live.set(GLOBAL_ROOM, this.globalRoom);
  }

  get global(): Room {
    if (!this.globalRoom) throw new Error('RoomRegistry.init() was not awaited');
    return this.globalRoom;
  }

  get(name: string): Room | undefined {
    return this.live.get(nameKey(name));
  }

  /** The live room of that name, or a new live one loaded with its log's newest messages. */
  open(name: string): Promise<Room> {
    const key = nameKey(name);
    const room = this.live.get(key);
    if (room) return Promise.resolve(room);
    let pending = this.opening.get(key);
    if (!pending) {
      pending = this.load(name).then(
        (loaded) => {
          this.opening.delete(key);
          this.live.set(key, loaded);
          return loaded;
        },
        (error: unknown) => {
          this.opening.delete(key);
          throw error;
        },
      );
      this.opening.set(key, pending);
    }
    return pending;
  }

  /** Makes sure a room being entered is live (it may have ended while it was being opened). */
  keepLive(room: Room): Room {
    const live = this.live.get(room.key);
    if (live) return live;
    this.live.set(room.key, room);
    return room;
  }

  /** Ends a chatroom that has no members left (nor anyone away for a moment); true if it ended now. */
  endIfEmpty(room: Room): boolean {
    if (room.isGlobal || room.size > 0 || this.live.get(room.key) !== room) return false;
    this.live.delete(room.key);
    return true;
  }

  private async load(name: string): Promise<Room> {
    const { messages } = await this.store.lastMessages(nameKey(name), this.recentCapacity);
    return new Room(name, messages, this.recentCapacity);
  }
}
