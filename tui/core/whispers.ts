import { ChatError, asChatError } from '../../shared/errors.js';
import { nameKey } from '../../shared/names.js';
import { openWhisper, sealWhisper } from '../../shared/crypto/envelope.js';
import { publicBundle, signLoginChallenge, type Identity, type PublicKeyBundle } from '../../shared/crypto/identity.js';
import { keyFingerprint, safetyNumber } from '../../shared/crypto/safety-number.js';
import type { ChatEvent, ChatEventOf } from './events.js';
import { HeldWhispers } from './held-whispers.js';
import { loadOrCreateIdentity, type KdfLimits } from './identity-file.js';
import { bodySender, isSessionBody, KIND_RESET, KIND_SIGNAL, KIND_WHISPER, SessionCrypto, type PrekeyPublisher, type SessionRelay } from './session-crypto.js';
import { KeyedQueue } from './keyed-queue.js';
import { ContactKeys } from './contact-keys.js';
import { KeyPins } from './key-pins.js';
import { WhisperState, type WhisperStateOptions } from './whisper-state.js';

/**
 * The client's end-to-end whisper layer: this device's identity, the contacts' pinned keys
 * (trust on first use), the sender counter and the per-sender replay guards, glued to the relay
 * through two callbacks (fetch a user's keys; emit an event). client.ts keeps the connection;
 * everything about keys and envelopes is here. See docs/crypto.md.
 *
 * The contacts' keys are looked at through contact-keys.ts (at most once per connection per
 * user, checked against the pin: a different key is never used until `/trust`); the sessions
 * through session-crypto.ts.
 */
export interface WhisperCryptoOptions {
  /** This user's private folder: identity.json, key-pins.json, whisper-state.json. */
  dir: string;
  /** This user's name (any spelling; names are compared by `nameKey`). */
  user: string;
  /** Unlocks (or protects, on first run) the identity file. */
  passphrase?: string;
  /** argon2id cost for a new protected identity file (tests use cheap limits). */
  kdf?: KdfLimits;
  /** Asks the relay for `user`'s public keys; resolves with the relay's spelling of the name and the bundle. */
  fetchKeys(user: string): Promise<{ user: string; keys: unknown }>;
  /** Whether `fetchKeys` can work now (the client is online). */
  canFetch(): boolean;
  /** Events for the client's listeners (`whisper`, `key-changed`). */
  emit(event: ChatEvent): void;
  /** Failures not tied to a command (a whisper that could not be opened). */
  emitError(error: ChatError): void;
  /** Longest whisper text, UTF-8 bytes. */
  maxTextBytes: number;
  /** Longest whisper body accepted, characters. */
  maxBodyChars: number;
  /** Batching and bounds of the persisted state (tests). */
  state?: WhisperStateOptions;
  /**
   * Prekey claims on the relay: with it, whispers and signals go in forward-secret sessions
   * (session-crypto.ts; the v1 envelope only to contacts without prekeys); without, v1 only.
   */
  relay?: SessionRelay;
  /** Hands a sealed session body to the relay as a `signal` to `to` (a session reset, `askReset`). */
  sendSealed?(to: string, body: string): Promise<void>;
}

/** A whisper as the relay delivered it: the body is still ciphertext. */
export interface IncomingWhisper {
  from: string;
  body: string;
  /** When the relay routed it, ms since the epoch. */
  time: number;
  id: string;
}

export interface SealedWhisper {
  /** The recipient as the relay spells it (when known). */
  to: string;
  /** Opaque base64 body for the wire. */
  body: string;
  /** The recipient's key was verified with /trust. */
  verified: boolean;
}

/**
 * Sealed "structured" messages (file-transfer signalling) travel in the same envelope as
 * whispers: same keys, pins, counter and replay guard. This prefix (a NUL can never start a
 * whisper a person typed, and is refused in whispers) keeps the two apart, so a relay cannot
 * pass a signal off as a whisper or a whisper off as a signal.
 */
export const SIGNAL_PREFIX = '\u0000securechat/v1/signal\u0000';
/** Longest sealed signal, UTF-8 bytes of the prefix and the JSON (an offer with a long name fits). */
export const MAX_SIGNAL_BYTES = 8 * 1024;

/** What a whisper or signal opened to (the v1 envelope's convention: a signal's text starts with SIGNAL_PREFIX). */
interface Opened {
  text: string;
  /** A session reset's note (KIND_RESET): neither a whisper nor a signal. */
  reset?: boolean;
}

/** What a session reset says (KIND_RESET's text): when the relay routed the body that could not be read. */
interface ResetNote {
  time: number;
}

/** A failed key lookup is not retried sooner than this after a fetch (a relay sending garbage must not make us ask per message). */
const REFETCH_MIN_INTERVAL_MS = 5_000;

function isAuthenticationFailure(error: unknown): boolean {
  return error instanceof ChatError && error.code === 'E_DECRYPT' && error.details.reason === 'authentication';
}

export class WhisperCrypto {
  /** Things the user should see after opening (a key file whose mode was tightened...). */
  readonly warnings: readonly string[];
  private me: string;
  private bundleCache: { key: string; bundle: PublicKeyBundle } | null = null;
  /** The contacts' keys as looked at on this connection (contact-keys.ts). */
  private readonly keys: ContactKeys;
  /** Per sender, the whispers (and signals) being opened, in arrival order. */
  private readonly bySender = new KeyedQueue();
  /** Whispers sealed with a changed key, until /trust. */
  private readonly held = new HeldWhispers();

  private constructor(
    private readonly options: WhisperCryptoOptions,
    readonly identity: Identity,
    /** Full path of the identity file. */
    readonly identityPath: string,
    /** True when this run made the keys (first run for this user on this device). */
    readonly identityCreated: boolean,
    readonly pins: KeyPins,
    readonly state: WhisperState,
    /** Forward-secret sessions (null: v1 envelope only). */
    readonly sessions: SessionCrypto | null,
    warnings: string[],
  ) {
    this.me = options.user;
    this.warnings = warnings;
    this.keys = new ContactKeys(pins, options);
  }

  /**
   * Loads (or on first run makes) the identity and opens the pins and the state in
   * `options.dir`. Throws `E_PASSPHRASE` (protected identity, wrong or missing passphrase) or
   * `E_CORRUPT_FILE` (a damaged file, left untouched).
   */
  static async open(options: WhisperCryptoOptions): Promise<WhisperCrypto> {
    const loaded = await loadOrCreateIdentity(options.dir, { passphrase: options.passphrase, kdf: options.kdf });
    const pins = await KeyPins.open(options.dir);
    const warnings = [...loaded.warnings, ...pins.warnings];
    const state = await WhisperState.open(options.dir, options.state);
    const passphrase = loaded.kdf && options.passphrase ? { passphrase: options.passphrase, kdf: loaded.kdf } : undefined;
    const sessions = options.relay
      ? await SessionCrypto.open({
          dir: options.dir, user: options.user, identity: loaded.identity, passphrase, pins, relay: options.relay, warnings,
          onError: options.state?.onError ?? (() => {}),
        })
      : null;
    return new WhisperCrypto(options, loaded.identity, loaded.path, loaded.created, pins, state, sessions, warnings);
  }

  /** This user's name as the relay spells it (after login). */
  setUser(user: string): void {
    this.me = user;
    this.sessions?.setUser(user);
  }

  /** After each login or resume: this device's prekeys to the relay (session-crypto.ts). */
  async publishPrekeys(send: PrekeyPublisher): Promise<void> {
    await this.sessions?.publish(send);
  }

  /** The relay's `prekeys-low`: uploads more one-time prekeys. */
  async prekeysLow(device: string, remaining: number, send: PrekeyPublisher): Promise<void> {
    await this.sessions?.topUp(device, remaining, send);
  }

  // ---- login -----------------------------------------------------------------------------

  /** This device's public bundle for this user (what register and login upload). */
  async ownBundle(): Promise<PublicKeyBundle> {
    const key = nameKey(this.me);
    // Version 2 says this client publishes prekeys: contacts then never use the v1 envelope to it.
    if (this.bundleCache?.key !== key) this.bundleCache = { key, bundle: await publicBundle(this.identity, this.me, this.sessions ? 2 : 1) };
    return { ...this.bundleCache.bundle };
  }

  /** The login proof: a signature over the relay's challenge bound to this TLS session. */
  loginProof(challenge: Uint8Array): Promise<string> {
    return signLoginChallenge(this.identity, this.me, challenge);
  }

  /** A new connection: keys are fetched afresh (the relay may have new ones), changes announced again. */
  newSession(): void {
    this.keys.newConnection();
    this.sessions?.newConnection();
  }

  /** `user` logged in anew (maybe from another device): fetch their keys again before the next use. */
  forget(user: string): void {
    this.keys.forget(user);
    this.sessions?.forget(user);
  }

  /** See ContactKeys.prefetch. */
  prefetch(users: readonly string[]): void {
    this.keys.prefetch(users, this.me);
  }

  /** Announces every key change still waiting for /trust (after the first connect). */
  announcePending(): Promise<void> {
    return this.keys.announcePending();
  }

  // ---- sending ---------------------------------------------------------------------------

  /**
   * Encrypts `text` for `to` with its pinned key. Fetches the keys first when not done on this
   * connection. Throws the relay's `E_NO_SUCH_USER` / `E_NO_KEY`, `E_KEY_CHANGED` (a changed key
   * waits for /trust; a `key-changed` event was emitted when it was first seen), `E_BAD_KEYS`,
   * `E_TOO_LARGE`.
   */
  async seal(to: string, text: string): Promise<SealedWhisper> {
    if (text.startsWith('\u0000')) throw new ChatError('E_USAGE', 'a whisper cannot start with a NUL character');
    return this.sealText(to, KIND_WHISPER, text, this.options.maxTextBytes);
  }

  /**
   * Seals a structured message (JSON) for `to` on the whisper path, marked as a signal.
   * Throws like {@link seal}; `E_TOO_LARGE` over MAX_SIGNAL_BYTES.
   */
  async sealSignal(to: string, value: unknown): Promise<SealedWhisper> {
    return this.sealText(to, KIND_SIGNAL, JSON.stringify(value), MAX_SIGNAL_BYTES - SIGNAL_PREFIX.length);
  }

  /**
   * Checks that `to` can be sealed for now (keys fetched and the pin not changed), without
   * sealing anything: `E_NO_SUCH_USER` / `E_NO_KEY` / `E_KEY_CHANGED` / `E_CLOSED` otherwise.
   */
  async checkRecipient(to: string): Promise<void> {
    await this.keys.ensureKnown(to);
    try {
      this.pins.encryptionKey(to);
    } catch (error) {
      if (error instanceof ChatError && error.code === 'E_KEY_CHANGED') throw await this.keys.keyChangedError(to);
      throw error;
    }
  }

  private async sealText(to: string, kind: number, text: string, maxTextBytes: number): Promise<SealedWhisper> {
    await this.keys.ensureKnown(to);
    let recipientBox: Uint8Array;
    try {
      recipientBox = this.pins.encryptionKey(to);
    } catch (error) {
      if (error instanceof ChatError && error.code === 'E_KEY_CHANGED') throw await this.keys.keyChangedError(to);
      throw error;
    }
    const bytes = Buffer.byteLength(text);
    if (bytes > maxTextBytes) throw new ChatError('E_TOO_LARGE', `at most ${maxTextBytes} bytes can be sealed (this is ${bytes})`);
    const body = (await this.sessions?.seal(to, kind, text)) ?? (await this.sealV1(to, recipientBox, kind === KIND_SIGNAL ? SIGNAL_PREFIX + text : text));
    // Either envelope marks the (batched) v1 state: whisper-state.json is kept from the first whisper on, as before sessions.
    this.state.changed();
    return { to: this.pins.displayName(to) ?? to, body, verified: this.pins.isVerified(to) };
  }

  /** The v1 envelope (crypto_box to the pinned key): to contacts without prekeys (older clients), or without a relay for claims. */
  private sealV1(to: string, recipientBox: Uint8Array, text: string): Promise<string> {
    const counter = this.state.counter.next();
    this.state.changed();
    return sealWhisper({ sender: this.identity, from: this.me, to, recipientBox, counter, time: Date.now(), text, maxTextBytes: MAX_SIGNAL_BYTES });
  }

  // ---- receiving -------------------------------------------------------------------------

  /**
   * Opens a whisper from the relay and emits it as a `whisper` event, or emits an `error`
   * (E_DECRYPT, E_REPLAY, E_MISADDRESSED, E_KEY_CHANGED, E_NO_KEY...) and shows nothing.
   * Whispers from one sender are handled in arrival order.
   */
  receive(message: IncomingWhisper): void {
    this.bySender.run(nameKey(message.from), () => this.deliver(message));
  }

  /**
   * Opens a sealed signal from the relay and hands its JSON value to `deliver`, in arrival
   * order with the sender's whispers (same replay guard). A signal that cannot be opened is
   * reported as an `error` (E_DECRYPT, E_REPLAY, E_KEY_CHANGED...) and dropped: unlike a
   * whisper it is not held for /trust (the transfer it belongs to would be stale by then).
   */
  receiveSignal(message: IncomingWhisper, deliver: (from: string, value: unknown) => void): void {
    this.bySender.run(nameKey(message.from), () => this.deliverSignal(message, deliver));
  }

  private async deliverSignal(message: IncomingWhisper, deliver: (from: string, value: unknown) => void): Promise<void> {
    let value: unknown;
    try {
      const opened = await this.openFrom(message, false);
      if (opened.reset) return this.told(message, opened.text);
      if (!opened.text.startsWith(SIGNAL_PREFIX)) throw new ChatError('E_DECRYPT', 'not a signal', { reason: 'kind' });
      try {
        value = JSON.parse(opened.text.slice(SIGNAL_PREFIX.length));
      } catch {
        throw new ChatError('E_PROTOCOL', 'a signal is not valid JSON');
      }
    } catch (error) {
      const e = asChatError(error);
      this.options.emitError(new ChatError(e.code, `a file transfer message from ${message.from} was dropped: ${e.message}`, { ...e.details, from: message.from, id: message.id }));
      this.askReset(message, e);
      return;
    }
    try {
      deliver(this.pins.displayName(message.from) ?? message.from, value);
    } catch (error) {
      this.options.emitError(asChatError(error));
    }
  }

  /** Resolves once every whisper received so far was shown or refused (tests, shutdown). */
  settled(): Promise<void> {
    return this.bySender.settled();
  }

  private async deliver(message: IncomingWhisper): Promise<void> {
    let opened: Opened | null;
    try {
      opened = await this.openFrom(message, true);
      // A sealed signal (or a reset's note) replayed as a whisper by the relay: never shown as text.
      if (opened.reset || opened.text.startsWith('\u0000')) throw new ChatError('E_DECRYPT', 'not a whisper', { reason: 'kind' });
    } catch (error) {
      const e = asChatError(error);
      const from = message.from;
      const text =
        e.code === 'E_KEY_CHANGED' && e.details.held === true
          ? `a whisper from ${from} is held back: it is sealed with ${from}'s new key, and is shown if you accept that key (/verify ${from}, then /trust ${from})`
          : `a whisper from ${from} was not shown: ${e.message}`;
      this.options.emitError(new ChatError(e.code, text, { ...e.details, from, id: message.id }));
      this.askReset(message, e);
      return;
    }
    if (!opened) return;
    this.options.emit({
      type: 'whisper',
      from: this.pins.displayName(message.from) ?? message.from,
      to: this.me,
      text: opened.text,
      time: message.time,
      id: message.id,
      verified: this.pins.isVerified(message.from),
    });
  }

  private async openFrom(message: IncomingWhisper, holdOnKeyChange: boolean): Promise<Opened> {
    let fresh = false;
    if (!this.pins.has(message.from)) {
      if (!this.options.canFetch()) throw new ChatError('E_NO_KEY', `no key of ${message.from} is known yet`);
      await this.keys.refresh(message.from);
      fresh = true;
    }
    try {
      return await this.openWithPin(message);
    } catch (error) {
      if (!isAuthenticationFailure(error)) throw error;
      // Not sealed with the pinned key: tampered, or sealed with a new key of the sender.
      if (this.pins.pending(message.from)) {
        if (holdOnKeyChange) this.held.hold(message);
        throw await this.keys.keyChangedError(message.from, { held: holdOnKeyChange });
      }
      const last = this.keys.fetchedAt(message.from);
      const recentlyFetched = last !== undefined && Date.now() - last < REFETCH_MIN_INTERVAL_MS;
      if (fresh || recentlyFetched || !this.options.canFetch()) throw error;
      const { status } = await this.keys.refresh(message.from);
      if (status === 'changed') {
        if (holdOnKeyChange) this.held.hold(message);
        throw await this.keys.keyChangedError(message.from, { held: holdOnKeyChange });
      }
      throw error;
    }
  }

  private async openWithPin(message: IncomingWhisper): Promise<Opened> {
    if (this.sessions && isSessionBody(message.body)) {
      const { kind, text } = await this.sessions.open(message.from, message.body);
      // The kind byte decides; a whisper's text never passes for a signal (nor is shown if it starts with NUL).
      if (kind === KIND_WHISPER && text.startsWith('\u0000')) throw new ChatError('E_DECRYPT', 'not a whisper', { reason: 'kind' });
      if (kind === KIND_RESET) return { text, reset: true };
      return { text: kind === KIND_SIGNAL ? SIGNAL_PREFIX + text : text };
    }
    const guard = this.state.guardFor(message.from);
    const opened = await openWhisper({
      recipient: this.identity,
      me: this.me,
      from: message.from,
      senderBox: this.pins.senderKey(message.from),
      body: message.body,
      guard,
      maxBodyChars: this.options.maxBodyChars,
    });
    this.state.changed();
    return opened;
  }

  // ---- session reset (session-crypto.ts sealReset) ---------------------------------------

  /**
   * A session body from a device of the sender's pinned identity that no session here opens
   * (reason `authentication` or `unknown-prekey`; not a replay, a misaddressed body or a key
   * change): asks that device, in a new session, to send on it from now on. Runs in the
   * background; at most one per device per `resetMinIntervalMs`.
   */
  private askReset(message: IncomingWhisper, error: ChatError): void {
    const { sessions } = this;
    const send = this.options.sendSealed;
    const reason = error.details.reason;
    if (!sessions || !send || error.code !== 'E_DECRYPT' || (reason !== 'authentication' && reason !== 'unknown-prekey')) return;
    if (!isSessionBody(message.body) || this.pins.pending(message.from)) return;
    const device = bodySender(message.body);
    if (!device) return;
    const note: ResetNote = { time: message.time };
    sessions
      .sealReset(message.from, device, JSON.stringify(note))
      .then(async (body) => {
        if (body === null) return;
        await send(message.from, body);
        const from = this.pins.displayName(message.from) ?? message.from;
        this.options.emit({
          type: 'session-reset',
          user: from,
          side: 'asked',
          time: message.time,
          message: `a message from ${from} could not be read here; a new session was started with ${from}'s device, so what ${from} sends from now on can be read`,
        });
      })
      .catch((e: unknown) => this.options.emitError(asChatError(e)));
  }

  /** A contact's device could not read what this device sent (its note says when): the new session it started is used from now on. */
  private told(message: IncomingWhisper, text: string): void {
    let time: number | undefined;
    try {
      const note = JSON.parse(text) as Partial<ResetNote> | null;
      if (Number.isSafeInteger(note?.time)) time = note?.time;
    } catch {
      // The note is a courtesy; the new session stands without it.
    }
    const from = this.pins.displayName(message.from) ?? message.from;
    const when = time === undefined ? '' : ` (sent about ${new Date(time).toISOString().slice(11, 19)} UTC)`;
    this.options.emit({
      type: 'session-reset',
      user: from,
      side: 'told',
      ...(time === undefined ? {} : { time }),
      message: `${from} could not read a whisper or file message of yours${when}; a new session is in place: send it again if it mattered`,
    });
  }

  // ---- /verify and /trust ----------------------------------------------------------------

  /**
   * The safety number of this user and `user`, both fingerprints, and whether `user` is
   * verified (with the pending key's number when a change waits). Throws `E_SELF`, the relay's
   * `E_NO_SUCH_USER` / `E_NO_KEY`.
   */
  async verify(user: string): Promise<ChatEventOf<'verify'>> {
    if (nameKey(user) === nameKey(this.me)) throw new ChatError('E_SELF', 'a safety number is between you and someone else');
    await this.keys.ensureKnown(user);
    const record = this.pins.get(user);
    if (!record) throw new ChatError('E_NO_KEY', `no key of ${user} is known`, { user });
    const mine = await this.ownBundle();
    const event: ChatEventOf<'verify'> = {
      type: 'verify',
      user: record.user,
      safetyNumber: await safetyNumber(this.me, mine, record.user, record.bundle),
      fingerprint: await keyFingerprint(record.bundle),
      ownFingerprint: await keyFingerprint(mine),
      verified: this.pins.isVerified(user),
    };
    if (record.pending) {
      event.pendingFingerprint = await keyFingerprint(record.pending.bundle);
      event.pendingSafetyNumber = await safetyNumber(this.me, mine, record.user, record.pending.bundle);
    }
    return event;
  }

  /**
   * `/trust USER`: accepts a changed key if one waits, and marks the key verified. Whispers held
   * back because of the change are opened by `releaseHeld`. Throws `E_SELF`, `E_NO_KEY`.
   */
  async trust(user: string): Promise<ChatEventOf<'trusted'>> {
    if (nameKey(user) === nameKey(this.me)) throw new ChatError('E_SELF', 'your own key needs no trust');
    if (!this.pins.has(user)) await this.keys.ensureKnown(user);
    const accepted = this.pins.pending(user) !== undefined;
    const record = await this.pins.trust(user);
    return { type: 'trusted', user: record.user, fingerprint: await keyFingerprint(record.bundle), accepted };
  }

  /** After /trust: opens the whispers from `user` held back because of a key change (in order). */
  releaseHeld(user: string): void {
    for (const message of this.held.release(user)) this.receive(message);
  }

  /** This device's short key fingerprint. */
  async ownFingerprint(): Promise<string> {
    return keyFingerprint(await this.ownBundle());
  }

  /** Writes the counter, replay guards and the sessions' received state now (on exit; also batched during use). */
  async flush(): Promise<void> {
    await Promise.all([this.state.flush(), this.sessions?.flush()]);
  }
}
