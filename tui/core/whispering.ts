import { ChatError, asChatError } from '../../shared/errors.js';
import type { Limits } from '../../shared/limits.js';
import type { ClientMessage, RelayMessage } from '../../shared/messages.js';
import { nameKey, validateUserName } from '../../shared/names.js';
import type { EventHub } from './event-hub.js';
import type { ChatEventOf } from './events.js';
import type { KdfLimits } from './identity-file.js';
import type { ClientState } from './lifecycle.js';
import { WhisperCrypto, type SealedWhisper } from './whispers.js';
import { expectReply } from './replies.js';
import { KeyFetcher } from './key-fetcher.js';
import type { PrekeyUpload } from './prekey-file.js';
import { sameRoom } from './room-tracker.js';

/** What whispering may touch of the client: requests (paced ones too), ids, its state and events. */
export interface WhisperingHost {
  readonly events: EventHub;
  request<T>(message: ClientMessage & { id: string }, apply: (reply: RelayMessage) => T): Promise<T>;
  /** `lane`: the recipient's nameKey; only sends to the same recipient wait for this one to be sealed. */
  pacedRequest<T>(build: () => Promise<ClientMessage & { id: string }>, apply: (reply: RelayMessage) => T, lane: string): Promise<T>;
  nextId(prefix?: string): string;
  user(): string;
  state(): ClientState;
  canSend(): boolean;
  /** The current room and its users (whose keys are fetched ahead of use). */
  room(): string | null;
  roomUsers(): readonly string[];
}

export interface WhisperingOptions {
  /** This user's data folder (identity keys, key pins, replay state). */
  dir: string;
  passphrase?: string;
  kdf?: KdfLimits;
  limits: Limits;
  /** Keys of a room's members are fetched on entering it and as they join, in rooms up to this size. */
  keyPrefetchMaxUsers: number;
  /** Joins are gathered for 0.5-1.5 × this before their keys are fetched (CLIENT_DEFAULTS.keyPrefetchJoinDelayMs). */
  keyPrefetchJoinDelayMs: number;
}

/**
 * The client's end-to-end layer on the chat connection: opens the whisper keys once
 * (WhisperCrypto, whispers.ts), sends whispers and sealed transfer signals through the paced
 * queue, and runs /verify and /trust.
 */
export class Whispering {
  private cryptoValue: WhisperCrypto | null = null;
  /** Key lookups of one event-loop turn go to the relay as one request. */
  private readonly keys: KeyFetcher;
  /** Members who joined since the last gathered prefetch (bounded by keyPrefetchMaxUsers). */
  private readonly joinedLately = new Set<string>();
  private joinTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly host: WhisperingHost,
    private readonly options: WhisperingOptions,
  ) {
    this.keys = new KeyFetcher(host);
    // The members' keys are fetched and pinned before anyone whispers, so a first whisper (sent
    // or received) does not wait for a lookup, a signature check and a pin write. Listening to
    // the events covers every way into a room (login, resume, /join, /create, /leave, moved).
    host.events.on('joined', (event) => this.prefetch(event.users));
    host.events.on('presence', (event) => {
      if (event.event === 'join' && sameRoom(event.room, host.room())) this.prefetchSoon(event.user);
    });
  }

  /** A member joined: their keys go with those of the others who join in the next moment. */
  private prefetchSoon(user: string): void {
    if (this.joinedLately.size >= this.options.keyPrefetchMaxUsers) return;
    this.joinedLately.add(user);
    if (this.joinTimer) return;
    // Jittered, so the members of a room do not all ask in the same instant.
    const delayMs = this.options.keyPrefetchJoinDelayMs * (0.5 + Math.random());
    this.joinTimer = setTimeout(() => {
      this.joinTimer = null;
      const users = [...this.joinedLately];
      this.joinedLately.clear();
      this.prefetch(users);
    }, delayMs);
    this.joinTimer.unref();
  }

  private prefetch(users: readonly string[]): void {
    if (this.host.roomUsers().length > this.options.keyPrefetchMaxUsers) return;
    this.cryptoValue?.prefetch(users);
  }

  /** The whisper layer (identity, key pins), or null before the first connect. */
  get crypto(): WhisperCrypto | null {
    return this.cryptoValue;
  }

  /** Opens the whisper layer once per client: identity keys, key pins, replay state. */
  async open(): Promise<WhisperCrypto> {
    if (this.cryptoValue) return this.cryptoValue;
    const { host, options } = this;
    this.cryptoValue = await WhisperCrypto.open({
      dir: options.dir,
      user: host.user(),
      passphrase: options.passphrase,
      kdf: options.kdf,
      fetchKeys: (user) => this.keys.fetch(user),
      canFetch: () => host.canSend(),
      emit: (event) => host.events.emit(event),
      emitError: (error) => host.events.emitError(error),
      maxTextBytes: options.limits.maxMessageBytes,
      maxBodyChars: options.limits.maxWhisperBodyBytes,
      state: { onError: (error) => host.events.emitError(asChatError(error)) },
      sendSealed: (to, body) =>
        host.pacedRequest(
          async () => ({ t: 'signal', id: host.nextId('s'), to, body }),
          (reply) => {
            expectReply(reply, 'ok');
          },
          nameKey(to),
        ),
      relay: {
        claim: (user) =>
          host.request({ t: 'prekey-claim', id: host.nextId('p'), user }, (reply) => {
            const bundle = expectReply(reply, 'prekey-bundle');
            return { user: bundle.user, devices: bundle.devices };
          }),
      },
    });
    return this.cryptoValue;
  }

  /** The whisper layer while connected (or reconnecting); E_CLOSED otherwise. */
  online(): WhisperCrypto {
    const state = this.host.state();
    if (!this.cryptoValue || state === 'idle' || state === 'closed') throw new ChatError('E_CLOSED', 'not connected to the relay');
    return this.cryptoValue;
  }

  /** Writes the whisper counter and replay guards (batched during use) before going away. */
  async save(): Promise<void> {
    try {
      await this.cryptoValue?.flush();
    } catch (error) {
      this.host.events.emitError(asChatError(error));
    }
  }

  /** See ChatClient.whisper. */
  async whisper(to: string, text: string): Promise<void> {
    const { host } = this;
    const maxBytes = this.options.limits.maxMessageBytes;
    validateUserName(to);
    if (nameKey(to) === nameKey(host.user())) throw new ChatError('E_SELF', 'you cannot whisper to yourself');
    if (text.trim().length === 0) throw new ChatError('E_USAGE', 'nothing to whisper');
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) throw new ChatError('E_TOO_LARGE', `a whisper may be at most ${maxBytes} bytes (this one is ${bytes})`);
    const crypto = this.online();
    const id = host.nextId('w');
    let sealed: SealedWhisper | undefined;
    // Whispers count against the same flood limit on the relay: they wait for the pacer too.
    await host.pacedRequest(
      async () => {
        sealed = await crypto.seal(to, text);
        return { t: 'whisper', id, to, body: sealed.body };
      },
      (reply) => {
        expectReply(reply, 'ok');
        host.events.emit({ type: 'whisper', from: host.user(), to: sealed!.to, text, time: Date.now(), id, own: true, verified: sealed!.verified });
      },
      nameKey(to),
    );
  }

  /** Seals a transfer signal for `to` with the whisper keys and hands it to the relay. */
  async sendSignal(to: string, message: object): Promise<void> {
    const crypto = this.online();
    const id = this.host.nextId('s');
    await this.host.pacedRequest(
      async () => ({ t: 'signal', id, to, body: (await crypto.sealSignal(to, message)).body }),
      (reply) => expectReply(reply, 'ok'),
      nameKey(to),
    );
  }

  /** The relay's `prekeys-low`: this device uploads more one-time prekeys (failures are error events). */
  prekeysLow(device: string, remaining: number): void {
    const crypto = this.cryptoValue;
    if (!crypto || !this.host.canSend()) return;
    const send = async (upload: PrekeyUpload & { device: string }) =>
      this.host.request({ t: 'prekeys', id: this.host.nextId('p'), ...upload }, (reply) => expectReply(reply, 'prekeys-stored').remaining);
    crypto.prekeysLow(device, remaining, send).catch((error: unknown) => this.host.events.emitError(asChatError(error)));
  }

  /** See ChatClient.verify. */
  async verify(user: string): Promise<ChatEventOf<'verify'>> {
    validateUserName(user);
    const event = await this.online().verify(user);
    this.host.events.emit(event);
    return event;
  }

  /** See ChatClient.trust. */
  async trust(user: string): Promise<ChatEventOf<'trusted'>> {
    validateUserName(user);
    const crypto = this.online();
    const event = await crypto.trust(user);
    this.host.events.emit(event);
    crypto.releaseHeld(user);
    return event;
  }
}
