import { nameKey } from '../../shared/names.js';
import type { IncomingWhisper } from './whispers.js';

/** Whispers sealed with a changed key, kept (not shown) until `/trust`: per sender, and in all. */
const MAX_HELD_PER_SENDER = 32;
const MAX_HELD_TOTAL = 256;

/**
 * Whispers sealed with a sender's new key, held back until the user accepts that key with
 * /trust, then given back in arrival order. Bounded: past the caps the oldest go first.
 */
export class HeldWhispers {
  private readonly held = new Map<string, IncomingWhisper[]>();
  private total = 0;

  /** Keeps `message` until `release(message.from)`. */
  hold(message: IncomingWhisper): void {
    const key = nameKey(message.from);
    let list = this.held.get(key);
    if (!list) this.held.set(key, (list = []));
    list.push(message);
    this.total += 1;
    if (list.length > MAX_HELD_PER_SENDER) {
      list.shift();
      this.total -= 1;
    }
    while (this.total > MAX_HELD_TOTAL) {
      const [oldestKey, oldest] = this.held.entries().next().value as [string, IncomingWhisper[]];
      oldest.shift();
      this.total -= 1;
      if (oldest.length === 0) this.held.delete(oldestKey);
    }
  }

  /** The whispers held from `user`, oldest first; they are no longer held. */
  release(user: string): IncomingWhisper[] {
    const held = this.held.get(nameKey(user)) ?? [];
    this.held.delete(nameKey(user));
    this.total -= held.length;
    return held;
  }
}
