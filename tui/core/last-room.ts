import path from 'node:path';
import { z } from 'zod';
import { asChatError } from '../../shared/errors.js';
import { GLOBAL_ROOM, nameKey } from '../../shared/names.js';
import type { EventHub } from './event-hub.js';
import { ensurePrivateDir, readPrivateFile, writePrivateFileAtomic } from './private-file.js';

/** The file in a user's data folder: the chatroom last entered on each relay. */
export const LAST_ROOMS_FILE_NAME = 'last-rooms.json';
/** Relays remembered (the most recently used ones); bounds the file. */
const MAX_RELAYS = 256;
const MAX_FILE_BYTES = 256 * 1024;

const LastRoomsFile = z.object({ version: z.literal(1), rooms: z.record(z.string().max(300), z.string().min(1).max(64)) });

/**
 * Where a user was, per relay, so that the next start of the client goes back there (as irssi's
 * autojoin does): the chatroom entered last, or nothing after /leave. In `last-rooms.json` of
 * the user's data folder, written atomically; a damaged or missing file is an empty record (it
 * is a convenience, never worth a failed start).
 */
export class LastRooms {
  private rooms = new Map<string, string>();
  private loaded = false;
  /** Writes one after the other, so the newest room is what stays on disk. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  /** `<userDataDir>/last-rooms.json`. */
  static inFolder(dir: string): LastRooms {
    return new LastRooms(path.join(dir, LAST_ROOMS_FILE_NAME));
  }

  /** The chatroom last entered on `relay` (host:port), if any. */
  async get(relay: string): Promise<string | undefined> {
    await this.load();
    return this.rooms.get(relay);
  }

  /** Now in `room` on `relay`: remembered (the global room forgets the relay's entry). */
  record(relay: string, room: string): Promise<void> {
    this.writing = this.writing.then(async () => {
      await this.load();
      const before = this.rooms.get(relay);
      // Re-inserted: the map keeps the most recently used relays last.
      this.rooms.delete(relay);
      if (nameKey(room) !== GLOBAL_ROOM) this.rooms.set(relay, room);
      if (before === this.rooms.get(relay)) return;
      while (this.rooms.size > MAX_RELAYS) this.rooms.delete(this.rooms.keys().next().value!);
      await ensurePrivateDir(path.dirname(this.file));
      await writePrivateFileAtomic(this.file, JSON.stringify({ version: 1, rooms: Object.fromEntries(this.rooms) }, null, 2) + '\n');
    });
    return this.writing;
  }

  /** Resolves once every room recorded so far is on disk (or failed to be written). */
  flush(): Promise<void> {
    return this.writing.catch(() => {});
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    try {
      const text = await readPrivateFile(this.file, MAX_FILE_BYTES, []);
      const parsed = text === undefined ? undefined : LastRoomsFile.safeParse(JSON.parse(text));
      if (parsed?.success) this.rooms = new Map(Object.entries(parsed.data.rooms));
    } catch {
      // Unreadable or not JSON: start from nothing; the next room entered writes a good file.
    }
  }
}

/** What going back to the last room may touch of the client. */
export interface RoomReturnHost {
  /** The relay, host:port: the key of the record. */
  server: string;
  events: EventHub;
  room(): string | null;
  join(room: string): Promise<unknown>;
  create(room: string): Promise<unknown>;
}

/**
 * The full-screen client's way back (ChatClient option `returnToLastRoom`): on its first
 * connect, into the chatroom of the last run on this relay; from then on, every room entered
 * is recorded as the one to come back to.
 */
export class RoomReturn {
  private returned = false;

  constructor(
    private readonly lastRooms: LastRooms,
    private readonly host: RoomReturnHost,
  ) {
    // Best effort: a folder that cannot be written costs the next start its room, nothing more.
    host.events.on('joined', (event) => {
      if (this.returned) void lastRooms.record(host.server, event.room).catch(() => {});
    });
  }

  /**
   * After the first connect only: back into the last run's chatroom. It may have ended since
   * (its last member left): then it is created again, which continues its log. A failure is an
   * `error` event, never a failed connect. (A reconnect needs none of this: the login walks back
   * into the room by itself.)
   */
  async afterConnect(): Promise<void> {
    if (this.returned) return;
    const { host } = this;
    try {
      const room = host.room();
      if (room === null || nameKey(room) !== GLOBAL_ROOM) return;
      const last = await this.lastRooms.get(host.server);
      if (last === undefined) return;
      await host.join(last).catch((error: unknown) => {
        if (asChatError(error).code === 'E_NO_SUCH_ROOM') return host.create(last);
        throw error;
      });
    } catch (error) {
      host.events.emitError(asChatError(error), 'join');
    } finally {
      // From here on each room entered is the one to come back to (the global room of the
      // login before this is not: it would forget the room this was about to return to).
      this.returned = true;
    }
  }

  /** Resolves once the rooms recorded so far are on disk (before the process may end). */
  flush(): Promise<void> {
    return this.lastRooms.flush();
  }
}
