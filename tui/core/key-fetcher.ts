import { ChatError, asChatError } from '../../shared/errors.js';
import { MAX_KEYS_PER_REQUEST } from '../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { nameKey } from '../../shared/names.js';
import { expectReply } from './replies.js';

/** What the key fetcher may touch of the client: requests and ids. */
export interface KeyFetcherHost {
  request<T>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T): Promise<T>;
  nextId(prefix?: string): string;
}

/** A user's public bundle as the relay served it (checked by the caller, key-pins.ts). */
export interface FetchedKeys {
  /** The relay's spelling of the name. */
  user: string;
  keys: unknown;
}

interface Waiting {
  user: string;
  callers: Array<{ resolve(value: FetchedKeys): void; reject(error: ChatError): void }>;
}

/**
 * Key lookups, coalesced: every user asked for within one turn of the event loop (a room's
 * members on /join, whispers arriving from several new contacts in one read) goes in one
 * `key-batch` request (up to MAX_KEYS_PER_REQUEST names each) instead of a round trip each.
 * Each caller still gets its own user's answer or error, the codes `keys` would give
 * (E_NO_SUCH_USER, E_NO_KEY, E_CLOSED, E_TIMEOUT...). A relay that does not know `key-batch`
 * answers E_PROTOCOL; from then on this client asks with `keys`, one user at a time.
 */
export class KeyFetcher {
  private waiting = new Map<string, Waiting>();
  private scheduled = false;
  private batchUnsupported = false;

  constructor(private readonly host: KeyFetcherHost) {}

  fetch(user: string): Promise<FetchedKeys> {
    return new Promise((resolve, reject) => {
      const key = nameKey(user);
      let entry = this.waiting.get(key);
      if (!entry) this.waiting.set(key, (entry = { user, callers: [] }));
      entry.callers.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate, not a microtask: lookups started by the other frames of the same read join in.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const entries = [...this.waiting.values()];
    this.waiting = new Map();
    if (this.batchUnsupported) {
      for (const entry of entries) void this.single(entry);
      return;
    }
    for (let i = 0; i < entries.length; i += MAX_KEYS_PER_REQUEST) void this.batch(entries.slice(i, i + MAX_KEYS_PER_REQUEST));
  }

  private async batch(entries: Waiting[]): Promise<void> {
    let reply: RelayMessage & { t: 'key-batch' };
    try {
      reply = await this.host.request({ t: 'key-batch', id: this.host.nextId('k'), users: entries.map((e) => e.user) }, (m) => expectReply(m, 'key-batch'));
    } catch (error) {
      const e = asChatError(error);
      if (e.code === 'E_PROTOCOL' && !this.batchUnsupported) {
        // An older relay: the same lookups one by one.
        this.batchUnsupported = true;
        for (const entry of entries) void this.single(entry);
        return;
      }
      for (const entry of entries) settle(entry, e);
      return;
    }
    const found = new Map(reply.found.map((f) => [nameKey(f.user), f] as const));
    const missing = new Map(reply.missing.map((m) => [nameKey(m.user), m] as const));
    for (const entry of entries) {
      const key = nameKey(entry.user);
      const hit = found.get(key);
      const miss = missing.get(key);
      if (hit) settle(entry, { user: hit.user, keys: hit.keys });
      else if (miss?.code === 'E_NO_KEY') settle(entry, new ChatError('E_NO_KEY', `${miss.user} has not published encryption keys yet`, { user: miss.user }));
      else if (miss) settle(entry, new ChatError('E_NO_SUCH_USER', `there is no user ${entry.user}`));
      else settle(entry, new ChatError('E_PROTOCOL', `the relay did not answer for ${entry.user}'s keys`));
    }
  }

  private async single(entry: Waiting): Promise<void> {
    try {
      settle(entry, await this.host.request({ t: 'keys', id: this.host.nextId('k'), user: entry.user }, (m) => {
        const reply = expectReply(m, 'keys');
        return { user: reply.user, keys: reply.keys };
      }));
    } catch (error) {
      settle(entry, asChatError(error));
    }
  }
}

function settle(entry: Waiting, outcome: FetchedKeys | ChatError): void {
  for (const caller of entry.callers) {
    if (outcome instanceof ChatError) caller.reject(outcome);
    else caller.resolve(outcome);
  }
}
