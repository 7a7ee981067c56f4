import { ACTION_PREFIX } from '../core/commands.js';
import { GLOBAL_ROOM, nameKey } from '../../shared/names.js';
import type { ChatEvent, ChatMessage, RoomInfo } from '../core/events.js';
import { safeLine, stripControls } from '../sanitize.js';
import { FileActivity } from './file-activity.js';

/**
 * Everything the TUI shows, as plain data, updated from client events (`apply`) and local
 * actions. No blessed, no sockets, no timers: the renderer draws from this, and tests drive it
 * directly. Every string that came from the network is sanitized on the way in, so nothing
 * stored here can act on the terminal.
 */

export type LineKind = 'message' | 'system' | 'error' | 'whisper' | 'presence';

export interface ViewLine {
  /** Unique and increasing within one ViewModel (scroll anchors point at it). */
  id: number;
  /** Milliseconds since the epoch. */
  time: number;
  kind: LineKind;
  /** The sender (message, received whisper) or, for an own whisper, the recipient. Sanitized. */
  nick?: string;
  /** Sanitized; may hold `\n` (a multi-line message). */
  text: string;
  own?: boolean;
  /** A mention of our nick, or a whisper to us. */
  highlight?: boolean;
  /** Room sequence id (room messages). */
  seq?: number;
  /** Room messages: an action (`/me waves`, shown `* nick waves`); `text` is then the action alone. */
  action?: boolean;
  /** Whispers: the other user's key was verified with /trust (all whispers are end-to-end encrypted). */
  verified?: boolean;
}

/**
 * A warning that must not scroll away: a contact's key changed. Shown in a bar above the
 * status bar until `/trust USER` (or Esc hides it). Sanitized.
 */
export interface Advisory {
  /** nameKey of the user it is about. */
  key: string;
  user: string;
  oldFingerprint: string;
  newFingerprint: string;
}

/** The top visible screen line of a room: the `offset`-th wrapped line of line `lineId`. */
export interface ScrollAnchor {
  lineId: number;
  offset: number;
}

export interface RoomBuffer {
  /** As the relay spells it, sanitized. */
  name: string;
  key: string;
  /** Oldest first; at most maxLinesPerRoom. */
  lines: ViewLine[];
  /** Sequence ids shown, so history that overlaps is not shown twice. */
  seqs: Set<number>;
  /** Messages that arrived while this room was not shown at its newest line. */
  unread: number;
  /** Of those, mentions and whispers. */
  highlights: number;
  /** Older messages exist on the relay (/history fetches them). */
  hasMore: boolean;
  /** null: follow the newest line. */
  anchor: ScrollAnchor | null;
}

export type ConnectionPhase = 'connecting' | 'online' | 'reconnecting' | 'offline';

export interface ConnectionStatus {
  phase: ConnectionPhase;
  server: string;
  user: string;
  fingerprint: string | null;
  rttMs: number | null;
  /** When the next reconnect attempt starts, ms since the epoch (while reconnecting). */
  reconnectAt?: number;
  attempt?: number;
  /** Why the connection was lost (sanitized). */
  reason?: string;
}

/** An own room message sent but not yet stored by the relay. */
export interface PendingLine {
  id: number;
  time: number;
  text: string;
}

export interface RoomEntry {
  name: string;
  key: string;
  current: boolean;
  /** Messages and whispers that came while this window was not shown at its newest line. */
  unread: number;
  /** Of those, mentions of your name and whispers: the hotlist's highlight. */
  highlights: number;
}

export interface ViewModelOptions {
  server: string;
  user: string;
  /** Lines kept per room; older ones are dropped. Default 2000. */
  maxLinesPerRoom?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
}

/** What the view should do besides redrawing. */
export interface ApplyEffects {
  /** Ring the terminal bell (a whisper to us, or a mention). */
  bell: boolean;
}

const NAME_CHAR = /[a-z0-9_]/;

/**
 * Whether `text` mentions `nick` as a word (any case): `hi alice`, `alice: look`, `@alice.`,
 * but not `malice` or `alice_bot`.
 */
export function mentions(text: string, nick: string): boolean {
  if (nick === '') return false;
  const haystack = text.toLowerCase();
  const needle = nick.toLowerCase();
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + 1)) {
    const before = haystack[i - 1];
    const after = haystack[i + needle.length];
    const afterNext = haystack[i + needle.length + 1];
    const boundaryBefore = before === undefined || !(NAME_CHAR.test(before) || before === '.' || before === '-');
    // A name may contain . and -, but `alice.` at the end of a sentence still mentions alice.
    const boundaryAfter =
      after === undefined || (!NAME_CHAR.test(after) && !((after === '.' || after === '-') && afterNext !== undefined && NAME_CHAR.test(afterNext)));
    if (boundaryBefore && boundaryAfter) return true;
  }
  return false;
}

function sortNames(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => {
    const x = nameKey(a);
    const y = nameKey(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

export class ViewModel {
  readonly rooms = new Map<string, RoomBuffer>();
  /** Rooms from the last /chatrooms answer, by key. */
  readonly listedRooms = new Map<string, { name: string; members: number }>();
  currentKey: string = GLOBAL_ROOM;
  /** Users of the current room, sanitized, sorted. */
  users: string[] = [];
  /** Away texts of the current room's users (/away), by name key; sanitized. */
  away = new Map<string, string>();
  status: ConnectionStatus;
  pending: PendingLine[] = [];
  /** Key changes waiting for /trust, oldest first (the bar shows the newest). */
  advisories: Advisory[] = [];
  /** File transfers and room files: their lines, status-bar items and ids (file-activity.ts). */
  readonly files: FileActivity;

  private nextLineId = 1;
  private readonly maxLines: number;
  private readonly now: () => number;

  constructor(options: ViewModelOptions) {
    this.maxLines = options.maxLinesPerRoom ?? 2000;
    this.now = options.now ?? Date.now;
    this.status = { phase: 'connecting', server: safeLine(options.server), user: safeLine(options.user), fingerprint: null, rttMs: null };
    this.bufferFor(GLOBAL_ROOM);
    this.files = new FileActivity({
      now: () => this.now(),
      user: () => this.status.user,
      current: () => this.current,
      system: (text) => this.system(text),
      error: (code, message) => this.error(code, message),
      line: (line) => void this.append(this.current, line),
    });
  }

  get current(): RoomBuffer {
    return this.bufferFor(this.currentKey);
  }

  get user(): string {
    return this.status.user;
  }

  /** The buffer for a room (made on first use). `room` is the raw name. */
  bufferFor(room: string): RoomBuffer {
    const name = safeLine(room);
    const key = nameKey(name);
    let buffer = this.rooms.get(key);
    if (!buffer) {
      buffer = { name, key, lines: [], seqs: new Set(), unread: 0, highlights: 0, hasMore: false, anchor: null };
      this.rooms.set(key, buffer);
    }
    return buffer;
  }

  // ---- lines ----------------------------------------------------------------------------

  private makeLine(line: Omit<ViewLine, 'id'>): ViewLine {
    return { ...line, id: this.nextLineId++ };
  }

  private append(buffer: RoomBuffer, line: Omit<ViewLine, 'id'>): ViewLine {
    const made = this.makeLine(line);
    buffer.lines.push(made);
    if (made.seq !== undefined) buffer.seqs.add(made.seq);
    this.trim(buffer);
    // Someone reading older lines (or another room) has not seen it yet.
    const isNews = made.kind === 'message' || made.kind === 'whisper';
    if (isNews && !made.own && (buffer.key !== this.currentKey || buffer.anchor !== null)) {
      buffer.unread += 1;
      if (made.highlight) buffer.highlights += 1;
    }
    return made;
  }

  private trim(buffer: RoomBuffer): void {
    const excess = buffer.lines.length - this.maxLines;
    if (excess <= 0) return;
    const dropped = buffer.lines.splice(0, excess);
    for (const line of dropped) if (line.seq !== undefined) buffer.seqs.delete(line.seq);
    // Older messages are on the relay again (/history), even if it said otherwise before.
    buffer.hasMore = true;
    if (buffer.anchor && !buffer.lines.some((l) => l.id === buffer.anchor?.lineId)) {
      buffer.anchor = buffer.lines.length > 0 ? { lineId: buffer.lines[0].id, offset: 0 } : null;
    }
  }

  /** A line for the user from the TUI itself (help, notices) in the current room. Local text, not sanitized again. */
  system(text: string): void {
    this.append(this.current, { time: this.now(), kind: 'system', text });
  }

  /** An error as a readable line: `message`, from the network so sanitized; `command` names what failed. */
  error(code: string, message: string, command?: string): void {
    const what = command !== undefined ? `/${safeLine(command)}: ` : '';
    const text = `${what}${safeLine(message)} (${safeLine(code)})`;
    this.append(this.current, { time: this.now(), kind: 'error', text });
  }

  /** Empties the current room's buffer (/clear); the relay still has its log. */
  clearCurrent(): void {
    const buffer = this.current;
    buffer.lines = [];
    buffer.seqs.clear();
    buffer.anchor = null;
    buffer.unread = 0;
    buffer.highlights = 0;
    buffer.hasMore = true;
  }

  /** Esc: hides the advisory shown (the newest); the key change itself still waits for /trust. */
  dismissAdvisory(): boolean {
    return this.advisories.pop() !== undefined;
  }

  /** Sets where the current room is scrolled to; null follows the newest line and marks it read. */
  setAnchor(anchor: ScrollAnchor | null): void {
    const buffer = this.current;
    buffer.anchor = anchor;
    if (anchor === null) {
      buffer.unread = 0;
      buffer.highlights = 0;
    }
  }

  addPending(text: string): number {
    const id = this.nextLineId++;
    this.pending.push({ id, time: this.now(), text: stripControls(text, { multiline: true }) });
    return id;
  }

  removePending(id: number): void {
    this.pending = this.pending.filter((p) => p.id !== id);
  }

  /** The model's clock (epoch ms): what "today" is for the view. */
  currentTime(): number {
    return this.now();
  }

  // ---- rooms and users --------------------------------------------------------------------

  /** The rooms list: the global room, the current room, listed and visited rooms, by name. */
  roomList(): RoomEntry[] {
    const keys = new Set<string>([GLOBAL_ROOM, this.currentKey, ...this.rooms.keys(), ...this.listedRooms.keys()]);
    const entries: RoomEntry[] = [];
    for (const key of keys) {
      const buffer = this.rooms.get(key);
      const listed = this.listedRooms.get(key);
      entries.push({
        name: buffer?.name ?? listed?.name ?? key,
        key,
        current: key === this.currentKey,
        unread: buffer?.unread ?? 0,
        highlights: buffer?.highlights ?? 0,
      });
    }
    const global = entries.filter((e) => e.key === GLOBAL_ROOM);
    const rest = entries.filter((e) => e.key !== GLOBAL_ROOM).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return [...global, ...rest];
  }

  private setUsers(users: readonly string[]): void {
    this.users = sortNames(new Set(users.map(safeLine)));
  }

  private setAway(away: Record<string, string> | undefined): void {
    this.away = new Map(Object.entries(away ?? {}).map(([user, text]) => [nameKey(safeLine(user)), safeLine(text)]));
  }

  /** `alice, bob (away: lunch)`: names with their away text. Sanitized names in. */
  private namesWithAway(names: readonly string[]): string {
    return sortNames(names)
      .map((name) => {
        const text = this.away.get(nameKey(name));
        return text === undefined ? name : `${name} (away: ${text})`;
      })
      .join(', ');
  }

  // ---- client events ----------------------------------------------------------------------

  private messageLine(m: ChatMessage): Omit<ViewLine, 'id'> {
    const own = m.own === true || nameKey(m.from) === nameKey(this.status.user);
    const raw = stripControls(m.text, { multiline: true });
    const action = raw.startsWith(ACTION_PREFIX) && raw.length > ACTION_PREFIX.length;
    const text = action ? raw.slice(ACTION_PREFIX.length) : raw;
    return {
      time: m.time,
      kind: 'message',
      nick: safeLine(m.from),
      text,
      action: action || undefined,
      seq: m.seq,
      own: own || undefined,
      highlight: !own && mentions(text, this.status.user) ? true : undefined,
    };
  }

  private addMessages(buffer: RoomBuffer, messages: readonly ChatMessage[], where: 'append' | 'prepend'): number {
    const fresh = messages.filter((m) => !buffer.seqs.has(m.seq)).map((m) => this.messageLine(m));
    if (where === 'append') {
      for (const line of fresh) this.append(buffer, line);
    } else {
      const made = fresh.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0)).map((l) => this.makeLine(l));
      buffer.lines.unshift(...made);
      for (const line of made) if (line.seq !== undefined) buffer.seqs.add(line.seq);
      // Keep the newest lines when older history pushes past the bound.
      if (buffer.lines.length > this.maxLines) {
        const dropped = buffer.lines.splice(this.maxLines);
        for (const line of dropped) if (line.seq !== undefined) buffer.seqs.delete(line.seq);
      }
    }
    return fresh.length;
  }

  /** Updates the view from one client event. */
  apply(event: ChatEvent): ApplyEffects {
    const effects: ApplyEffects = { bell: false };
    if (this.files.apply(event, effects)) return effects;
    const now = this.now();
    switch (event.type) {
      case 'connected': {
        const again = this.status.fingerprint !== null;
        this.status = {
          phase: 'online',
          server: safeLine(event.server),
          user: safeLine(event.user),
          fingerprint: safeLine(event.fingerprint),
          rttMs: this.status.rttMs,
        };
        const via = event.proxy !== undefined ? ` through the proxy ${safeLine(event.proxy)}` : '';
        this.system(
          again
            ? `reconnected to ${this.status.server}${via}${event.resumed ? ' (session resumed)' : ''}`
            : `connected to ${this.status.server}${via} as ${this.status.user}; /help lists the commands`,
        );
        if (!again && event.proxy !== undefined) this.system('file transfers go through the relay only (a proxy is set: a direct connection would reveal your address)');
        break;
      }
      case 'joined': {
        const buffer = this.bufferFor(event.room);
        const previous = this.currentKey;
        this.currentKey = buffer.key;
        this.setUsers(event.users);
        this.setAway(event.away);
        buffer.hasMore = event.hasMore;
        if (event.rejoined) {
          this.system(`back in ${buffer.name}`);
        } else {
          if (previous !== buffer.key) buffer.anchor = null;
          this.addMessages(buffer, event.history, 'append');
          const n = this.users.length;
          this.system(`you are in ${buffer.name} (${n} ${n === 1 ? 'user' : 'users'})${event.hasMore ? '; /history shows older messages' : ''}`);
        }
        buffer.unread = buffer.anchor === null ? 0 : buffer.unread;
        break;
      }
      case 'left':
        break;
      case 'message': {
        const buffer = this.bufferFor(event.room);
        if (buffer.seqs.has(event.seq)) break;
        const line = this.append(buffer, this.messageLine(event));
        if (line.highlight) effects.bell = true;
        break;
      }
      case 'presence': {
        const buffer = this.bufferFor(event.room);
        const user = safeLine(event.user);
        if (buffer.key === this.currentKey) {
          const others = this.users.filter((u) => nameKey(u) !== nameKey(user));
          this.setUsers(event.event === 'join' ? [...others, user] : others);
          this.away.delete(nameKey(user));
        }
        this.append(buffer, { time: now, kind: 'presence', nick: user, text: event.event === 'join' ? `${user} joined` : `${user} left` });
        break;
      }
      case 'whisper': {
        const own = event.own === true;
        const line = this.append(this.current, {
          time: event.time,
          kind: 'whisper',
          nick: safeLine(own ? event.to : event.from),
          text: stripControls(event.text, { multiline: true }),
          own: own || undefined,
          highlight: own ? undefined : true,
          verified: event.verified === true || undefined,
        });
        if (line.highlight) effects.bell = true;
        break;
      }
      case 'key-changed': {
        const user = safeLine(event.user);
        const advisory: Advisory = { key: nameKey(user), user, oldFingerprint: safeLine(event.oldFingerprint), newFingerprint: safeLine(event.newFingerprint) };
        this.advisories = [...this.advisories.filter((a) => a.key !== advisory.key), advisory];
        this.append(this.current, { time: now, kind: 'error', text: `KEY CHANGED: ${safeLine(event.message)} (E_KEY_CHANGED)` });
        effects.bell = true;
        break;
      }
      case 'verify': {
        const user = safeLine(event.user);
        const groups = safeLine(event.safetyNumber).split(' ');
        const number = (digits: string[]) => [digits.slice(0, 6).join(' '), digits.slice(6).join(' ')].filter((row) => row !== '');
        const lines = [
          `safety number of you and ${user} (${event.verified ? 'verified' : 'not verified'}):`,
          ...number(groups).map((row) => `    ${row}`),
          `  ${user}'s key: ${safeLine(event.fingerprint)}`,
          `  your key: ${safeLine(event.ownFingerprint)}`,
        ];
        if (event.pendingSafetyNumber !== undefined) {
          lines.push(`  ${user}'s key CHANGED to ${safeLine(event.pendingFingerprint ?? '?')}; with the new key the number is:`);
          lines.push(...number(safeLine(event.pendingSafetyNumber).split(' ')).map((row) => `    ${row}`));
          lines.push(`  compare it with ${user} (in person or by phone); only if it matches: /trust ${user}`);
        } else if (!event.verified) {
          lines.push(`  compare it with ${user} (in person or by phone); if it matches: /trust ${user}`);
        }
        this.append(this.current, { time: now, kind: 'system', text: lines.join('\n') });
        break;
      }
      case 'trusted': {
        const user = safeLine(event.user);
        this.advisories = this.advisories.filter((a) => a.key !== nameKey(user));
        this.system(
          event.accepted
            ? `accepted ${user}'s new key ${safeLine(event.fingerprint)}; it is verified now and whispers flow again`
            : `${user}'s key ${safeLine(event.fingerprint)} is verified`,
        );
        break;
      }
      case 'session-reset':
        this.system(safeLine(event.message));
        break;
      case 'users': {
        const names = event.users.map(safeLine);
        if (nameKey(safeLine(event.room)) === this.currentKey) {
          this.setUsers(names);
          this.setAway(event.away);
        }
        this.system(`users in ${safeLine(event.room)}: ${this.namesWithAway(names) || '(none)'}`);
        break;
      }
      case 'away': {
        const buffer = this.bufferFor(event.room);
        if (buffer.key !== this.currentKey) break;
        const user = safeLine(event.user);
        const own = nameKey(user) === nameKey(this.status.user);
        if (event.text === undefined) this.away.delete(nameKey(user));
        else this.away.set(nameKey(user), safeLine(event.text));
        // Others' changes show in the users pane and /users only: as in IRC, going away is not
        // announced to the room (a busy room would fill with it).
        if (own) this.append(buffer, { time: now, kind: 'system', text: event.text === undefined ? 'you are back' : `you are away: ${safeLine(event.text)}` });
        break;
      }
      case 'ignored': {
        const user = event.user !== undefined ? safeLine(event.user) : '';
        const all = event.users.map(safeLine);
        const listed = all.length === 0 ? 'you ignore nobody' : `ignoring: ${all.join(', ')}`;
        const lines: Record<typeof event.change, string> = {
          added: `ignoring ${user}: their room messages and whispers are hidden from now on; /unignore ${user} shows them again`,
          already: `${user} is ignored already; /unignore ${user} shows them again`,
          removed: `no longer ignoring ${user}`,
          'not-listed': `${user} is not ignored; ${listed}`,
          list: all.length === 0 ? 'you ignore nobody; /ignore USER hides their messages' : listed,
        };
        this.system(lines[event.change]);
        break;
      }
      case 'rooms': {
        this.listedRooms.clear();
        for (const room of event.rooms as RoomInfo[]) {
          const name = safeLine(room.name);
          this.listedRooms.set(nameKey(name), { name, members: room.members });
        }
        const listed = [...this.listedRooms.values()].sort((a, b) => (nameKey(a.name) < nameKey(b.name) ? -1 : 1));
        this.system(listed.length === 0 ? 'no chatrooms yet; /create NAME starts one' : `chatrooms: ${listed.map((r) => `${r.name} (${r.members})`).join(', ')}`);
        break;
      }
      case 'history': {
        const buffer = this.bufferFor(event.room);
        buffer.hasMore = event.hasMore;
        const added = this.addMessages(buffer, event.messages, 'prepend');
        this.system(added === 0 ? 'no older messages' : `${added} older ${added === 1 ? 'message' : 'messages'} above${event.hasMore ? '; /history for more' : ''}`);
        break;
      }
      case 'ack':
        break;
      case 'error':
        this.error(event.code, event.message, event.command);
        break;
      case 'disconnected':
        this.status = {
          ...this.status,
          phase: event.willReconnect ? 'reconnecting' : 'offline',
          reason: safeLine(event.message),
          reconnectAt: undefined,
        };
        this.system(
          event.willReconnect
            ? `connection lost: ${safeLine(event.message)}; reconnecting (what you type is kept)`
            : `disconnected: ${safeLine(event.message)} (${safeLine(event.code)}); /quit to leave`,
        );
        break;
      case 'reconnecting':
        this.status = {
          ...this.status,
          phase: 'reconnecting',
          reconnectAt: now + event.delayMs,
          attempt: event.attempt,
          reason: event.message !== undefined ? safeLine(event.message) : this.status.reason,
        };
        if (event.attempt > 1) this.system(`reconnect attempt ${event.attempt - 1} failed: ${safeLine(event.message ?? event.code ?? 'unknown')}`);
        break;
      case 'trust-new':
        this.system(
          `trusted ${safeLine(event.server)} for the first time: ${safeLine(event.fingerprint)}` +
            (event.recorded ? ` (remembered in ${safeLine(event.file ?? 'known_relays')})` : ' (could not be remembered)'),
        );
        break;
      case 'rtt':
        this.status = { ...this.status, rttMs: event.ms };
        break;
      case 'bye':
        if (event.code === 'E_REPLACED') this.system('you logged in from somewhere else, so this session ended here; /reconnect takes it back (the other one is then logged out)');
        else this.system(`the relay says: ${safeLine(event.message)}`);
        break;
      default: {
        // Event types added to the core later (whisper crypto, transfers): one that carries a
        // message for people is shown; others (progress ticks...) wait for a view of their own.
        const unknown = event as { type?: unknown; message?: unknown };
        if (typeof unknown.message === 'string') this.system(`${safeLine(String(unknown.type))}: ${safeLine(unknown.message)}`);
        break;
      }
    }
    return effects;
  }
}
