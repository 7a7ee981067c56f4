import type { RelayMessageOf } from '../shared/messages.js';

type Sealed = RelayMessageOf<'whisper'> | RelayMessageOf<'signal'>;

interface Gone {
  roomKey: string | undefined;
  at: number;
  held: Array<{ message: Sealed; expiresAt: number }>;
}

/** Users remembered at once; the oldest is forgotten first. */
const MAX_GONE_USERS = 10_000;

/**
 * End-to-end sealed messages (whispers, transfer signals) for a user whose connection just
 * dropped, kept briefly so a reconnecting client loses nothing. Only ciphertext is held, in
 * memory, bounded in count per user, in users, and in time; a relay restart forgets it.
 */
export class HeldMessages {
  private readonly gone = new Map<string, Gone>();

  constructor(
    private readonly holdMs: number,
    private readonly perUser: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user's connection was lost (not an /exit): hold for them for a while. */
  noteGone(userKey: string, roomKey: string | undefined, options: { keep?: boolean } = {}): void {
    // `keep`: already noted (a second whisper for a member away on another relay) keeps what is held.
    if (options.keep && this.recent(userKey)?.roomKey === roomKey) return;
    this.gone.delete(userKey);
    if (this.gone.size >= MAX_GONE_USERS) this.gone.delete(this.gone.keys().next().value!);
    this.gone.set(userKey, { roomKey, at: this.now(), held: [] });
  }

  /** Holds a message if the user dropped recently (from `roomKey`, when given) and has room; false otherwise. */
  hold(userKey: string, message: Sealed, roomKey?: string): boolean {
    const entry = this.recent(userKey);
    if (!entry || (roomKey !== undefined && entry.roomKey !== roomKey)) return false;
    if (entry.held.length >= this.perUser) return false;
    entry.held.push({ message, expiresAt: this.now() + this.holdMs });
    return true;
  }

  /** What was held for a returning user (still fresh), oldest first; forgets the user. */
  release(userKey: string): Sealed[] {
    const entry = this.gone.get(userKey);
    this.gone.delete(userKey);
    const now = this.now();
    return entry ? entry.held.filter((held) => held.expiresAt >= now).map((held) => held.message) : [];
  }

  private recent(userKey: string): Gone | undefined {
    const entry = this.gone.get(userKey);
    if (entry && this.now() - entry.at > this.holdMs) {
      this.gone.delete(userKey);
      return undefined;
    }
    return entry;
  }
}
