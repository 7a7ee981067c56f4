import { ChatError } from '../../shared/errors.js';
import { isValidName, nameKey } from '../../shared/names.js';
import type { PublicKeyBundle } from '../../shared/crypto/identity.js';
import { keyFingerprint } from '../../shared/crypto/safety-number.js';
import type { ChatEvent } from './events.js';
import type { KeyPins } from './key-pins.js';

/**
 * The contacts' keys as this connection has looked at them (split out of whispers.ts): fetched
 * from the relay at most once per connection per user (again when that user logs in anew, or a
 * whisper from them fails to authenticate), checked against the pin, a change announced once
 * (`key-changed`) and kept pending until `/trust`. The pins themselves are key-pins.ts.
 */
export interface ContactKeysOptions {
  /** Asks the relay for `user`'s public keys; resolves with the relay's spelling of the name and the bundle. */
  fetchKeys(user: string): Promise<{ user: string; keys: unknown }>;
  /** Whether `fetchKeys` can work now (the client is online). */
  canFetch(): boolean;
  emit(event: ChatEvent): void;
}

export type RefreshResult = { user: string; status: 'new' | 'same' | 'changed' };

export class ContactKeys {
  /** Users whose keys were fetched on this connection, with when (ms since the epoch). */
  private readonly fetched = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<RefreshResult>>();
  /** Key changes announced on this connection (`nameKey:newFingerprint`), so one change is one event. */
  private readonly announced = new Set<string>();

  constructor(
    private readonly pins: KeyPins,
    private readonly options: ContactKeysOptions,
  ) {}

  /** A new connection: keys are fetched afresh (the relay may have new ones), changes announced again. */
  newConnection(): void {
    this.fetched.clear();
    this.announced.clear();
  }

  /** `user` logged in anew: fetch their keys again before the next use. */
  forget(user: string): void {
    this.fetched.delete(nameKey(user));
  }

  /** When `user`'s keys were last fetched on this connection (ms since the epoch). */
  fetchedAt(user: string): number | undefined {
    return this.fetched.get(nameKey(user));
  }

  /**
   * Fetches, checks and pins, in the background, the keys of those of `users` (a room's
   * members) that have no pin yet, exactly as a first whisper would: the costly part of a first
   * contact (a lookup, a signature check, a durable pin write) is then done before anyone
   * whispers. Users already pinned are left to be looked at on first use on this connection,
   * as before (so a reconnect or a /join costs the relay nothing for known contacts). Failures
   * are left for the first real use to report. Does nothing offline.
   */
  prefetch(users: readonly string[], self: string): void {
    if (!this.options.canFetch()) return;
    const me = nameKey(self);
    for (const user of users) {
      if (!isValidName(user)) continue;
      const key = nameKey(user);
      if (key === me || this.pins.has(user) || this.fetched.has(key) || this.inflight.has(key)) continue;
      this.refresh(user).catch(() => {});
    }
  }

  /** Announces every key change still waiting for /trust (after the first connect). */
  async announcePending(): Promise<void> {
    for (const user of this.pins.users()) {
      const record = this.pins.get(user);
      if (record?.pending) await this.announce(record.user, record.bundle, record.pending.bundle);
    }
  }

  /** Fetches `user`'s keys from the relay and checks them against the pin (one fetch at a time per user). */
  refresh(user: string): Promise<RefreshResult> {
    const key = nameKey(user);
    let running = this.inflight.get(key);
    if (!running) {
      running = this.fetchAndObserve(user).finally(() => this.inflight.delete(key));
      this.inflight.set(key, running);
    }
    return running;
  }

  private async fetchAndObserve(user: string): Promise<RefreshResult> {
    const reply = await this.options.fetchKeys(user);
    if (nameKey(reply.user) !== nameKey(user)) throw new ChatError('E_PROTOCOL', 'the relay answered with the keys of another user');
    // Verifies the signature over this user's name: E_BAD_KEYS, and nothing recorded, if it fails.
    const result = await this.pins.observe(reply.user, reply.keys);
    this.fetched.set(nameKey(user), Date.now());
    if (result.status === 'changed') await this.announce(this.pins.get(user)?.user ?? reply.user, result.previous, result.pending);
    return { user: reply.user, status: result.status };
  }

  private async announce(user: string, previous: PublicKeyBundle, pending: PublicKeyBundle): Promise<void> {
    const oldFingerprint = await keyFingerprint(previous);
    const newFingerprint = await keyFingerprint(pending);
    const tag = `${nameKey(user)}:${newFingerprint}`;
    if (this.announced.has(tag)) return;
    this.announced.add(tag);
    const wasVerified = this.pins.get(user)?.verified === true;
    this.options.emit({
      type: 'key-changed',
      user,
      oldFingerprint,
      newFingerprint,
      message:
        `the relay now serves a different key for ${user} (was ${oldFingerprint}${wasVerified ? ', verified' : ''}; now ${newFingerprint}). ` +
        `A new device, or someone in the middle: whispers to and from ${user} wait until you compare safety numbers (/verify ${user}) and accept the new key (/trust ${user}).`,
    });
  }

  /** Makes sure `user`'s keys were looked at on this connection (or, offline, that a pin exists). */
  async ensureKnown(user: string): Promise<void> {
    if (this.fetched.has(nameKey(user))) return;
    if (this.options.canFetch()) {
      await this.refresh(user);
      return;
    }
    if (!this.pins.has(user)) throw new ChatError('E_CLOSED', `not connected, and no key of ${user} is known yet`);
  }

  async keyChangedError(user: string, extra: Record<string, unknown> = {}): Promise<ChatError> {
    const record = this.pins.get(user);
    const details: Record<string, unknown> = { user: record?.user ?? user, ...extra };
    if (record) details.oldFingerprint = await keyFingerprint(record.bundle);
    if (record?.pending) details.newFingerprint = await keyFingerprint(record.pending.bundle);
    const name = record?.user ?? user;
    return new ChatError('E_KEY_CHANGED', `${name}'s key changed and is not trusted yet; compare with /verify ${name}, accept with /trust ${name}`, details);
  }
}
