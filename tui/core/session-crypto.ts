import sodium from 'libsodium-wrappers-sumo';
import { concatBytes, fromBase64Strict, toBase64, utf8Bytes } from '../../shared/crypto/bytes.js';
import type { Identity, PublicKeyBundle } from '../../shared/crypto/identity.js';
import { verifyPrekeyBundle, type VerifiedPrekeyBundle } from '../../shared/crypto/prekeys.js';
import { parseBody, Session, type ParsedBody } from '../../shared/crypto/session.js';
import type { LocalDevice } from '../../shared/crypto/x3dh.js';
import { ChatError } from '../../shared/errors.js';
import { PREKEY_LIMITS, SESSION_STORE_LIMITS } from '../../shared/limits.js';
import { nameKey } from '../../shared/names.js';
import { openDeviceFile } from './device-file.js';
import type { KdfLimits } from './identity-file.js';
import type { KeyPins } from './key-pins.js';
import { PrekeyFile, type PrekeyUpload } from './prekey-file.js';
import { SessionStore, type PeerSessions, type StoredSession } from './session-store.js';

/**
 * Whispers with forward secrecy (issue 16, docs/crypto.md "Sessions"): X3DH to start a session
 * with a contact's device, the Double Ratchet to run it, this device's prekeys published on the
 * relay. The pure protocol is shared/crypto/session.ts; this is its use by one client: which
 * session a body goes to, which identity is trusted (the pins), and what is on disk when.
 *
 * Plaintext of a session message: u8 kind (1 whisper, 2 transfer signal, 3 session reset) ||
 * UTF-8 text, so a relay cannot pass one off as another.
 */
export const KIND_WHISPER = 1;
export const KIND_SIGNAL = 2;
/** The first message of a session started because the peer's last body could not be opened here (`sealReset`). */
export const KIND_RESET = 3;

/** What the session layer asks of the relay. */
export interface SessionRelay {
  /** `prekey-claim`: each device's bundle (unchecked); the relay's `E_NO_PREKEYS` is thrown as is. */
  claim(user: string): Promise<{ user: string; devices: unknown[] }>;
}

/** Sends one `prekeys` upload for `device`; resolves with the one-time prekeys the relay now holds. */
export type PrekeyPublisher = (message: PrekeyUpload & { device: string }) => Promise<number>;

const authentication = (why: string) => new ChatError('E_DECRYPT', why, { reason: 'authentication' });

export class SessionCrypto {
  /** Contacts whose current identity has no prekeys on the relay (older clients), per connection. */
  private readonly noPrekeys = new Set<string>();
  private publishing: Promise<void> = Promise.resolve();
  /** One-time prekeys the relay said it holds for this device (its last answer in this run); -1 before the first. */
  private relayHolds = -1;
  private readonly starting = new Map<string, Promise<Session | null>>();
  /** When this device last started a session over with each contact device (`resetMinIntervalMs`), oldest first. */
  private readonly resets = new Map<string, number>();

  private constructor(
    readonly device: string,
    private readonly identity: Identity,
    private me: string,
    private readonly prekeys: PrekeyFile,
    private readonly store: SessionStore,
    private readonly pins: KeyPins,
    private readonly relay: SessionRelay,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Opens device.json, prekeys.json and sessions/ in `dir` (sealed when `passphrase` is given). */
  static async open(options: {
    dir: string; user: string; identity: Identity; passphrase?: { passphrase: string; kdf: KdfLimits }; pins: KeyPins; relay: SessionRelay; warnings: string[];
    /** A batched write of received state failed (it is tried again with the next change). */
    onError: (error: unknown) => void;
  }): Promise<SessionCrypto> {
    const deviceFile = await openDeviceFile(options.dir, options.passphrase);
    options.warnings.push(...deviceFile.warnings);
    const prekeys = await PrekeyFile.open(options.dir, deviceFile.box, options.warnings);
    const store = await SessionStore.open(options.dir, deviceFile.box, options.warnings);
    return new SessionCrypto(deviceFile.device, options.identity, options.user, prekeys, store, options.pins, options.relay, options.onError);
  }

  setUser(user: string): void {
    this.me = user;
  }

  private local(): LocalDevice {
    return { user: this.me, device: this.device, identity: this.identity };
  }

  /** A new connection: contacts may have published prekeys since. */
  newConnection(): void {
    this.noPrekeys.clear();
  }

  /** `user` logged in anew (maybe an upgraded client): look for prekeys again. */
  forget(user: string): void {
    this.noPrekeys.delete(nameKey(user));
  }

  // ---- prekeys ---------------------------------------------------------------------------

  /**
   * After each login or resume: the signed prekey (rotated when due) and the one-time prekeys
   * not yet confirmed, then, if the relay holds fewer than `oneTimeLowWater`, a top-up to
   * `maxStoredOneTime`. Uploads run one at a time.
   */
  publish(send: PrekeyPublisher): Promise<void> {
    return this.serial(async () => {
      // A resume in this run, nothing new: the relay holds what it confirmed (a reconnect storm
      // then costs it no signature check and no write per device). Claims made while we were
      // away are not counted here; the next claim while we are online sends `prekeys-low`.
      if (this.relayHolds >= PREKEY_LIMITS.oneTimeLowWater && !this.prekeys.uploadDue()) return;
      const remaining = await this.upload(send, 0);
      if (remaining < PREKEY_LIMITS.oneTimeLowWater) await this.upload(send, PREKEY_LIMITS.maxStoredOneTime - remaining);
    });
  }

  /** `prekeys-low` from the relay: tops this device up (another device's notice is ignored). */
  topUp(device: string, remaining: number, send: PrekeyPublisher): Promise<void> {
    if (device !== this.device) return Promise.resolve();
    this.relayHolds = remaining;
    return this.serial(async () => {
      await this.upload(send, PREKEY_LIMITS.maxStoredOneTime - remaining);
    });
  }

  private serial(job: () => Promise<void>): Promise<void> {
    const run = this.publishing.catch(() => {}).then(job);
    this.publishing = run;
    return run;
  }

  private async upload(send: PrekeyPublisher, more: number): Promise<number> {
    // On disk before it goes out: the relay never serves a prekey whose private half is not.
    const upload = await this.prekeys.prepareUpload(this.identity, this.me, this.device, Math.max(0, more));
    const remaining = await askAgainWhenRefused(() => send({ device: this.device, ...upload }));
    this.prekeys.published(upload.oneTime.map((k) => k.id));
    this.relayHolds = remaining;
    return remaining;
  }

  // ---- sending ---------------------------------------------------------------------------

  /**
   * Seals `text` for `to` in the session with its pinned identity's device, starting one (claim,
   * X3DH §3.3 checks, Session.initiate) when there is none; the body may leave when this
   * resolves (session-store.ts `commitSend`: its advanced state is written). Null when `to`'s
   * current identity has no prekeys (an older client): the caller then uses the v1 envelope.
   * The caller has checked the pin (no change pending).
   * Throws `E_BAD_PREKEY` when the relay serves a bundle that fails its checks, `E_DOWNGRADE`
   * when it serves none for a contact whose pinned bundle (version 2) says it publishes them.
   */
  async seal(to: string, kind: number, text: string): Promise<string | null> {
    const pinned = this.pins.get(to)?.bundle;
    if (!pinned) throw new ChatError('E_NO_KEY', `no key of ${to} is known`);
    const peer = await this.store.peer(to);
    let stored = this.usable(peer, pinned)[0];
    if (!stored) {
      if (this.noPrekeys.has(nameKey(to))) return null;
      const started = await this.start(to, pinned);
      if (!started) {
        if (pinned.v === 2) {
          throw new ChatError('E_DOWNGRADE', `the relay served no prekeys of ${to}, whose keys say ${to} publishes them; nothing was sent`, { user: to });
        }
        this.noPrekeys.add(nameKey(to));
        return null;
      }
      // Whispers that waited for the same start find it added by the first of them.
      stored = this.usable(peer, pinned).find((s) => s.session === started) ?? peer.add(started, { sign: pinned.sign, box: pinned.box });
    }
    const body = stored.session.seal(concatBytes(new Uint8Array([kind]), utf8Bytes(text)));
    // The body may leave once its record is written (and, past the chain's reservation, durable).
    await peer.commitSend(stored, stored.session.sendingChain() as { key: Uint8Array; next: number });
    return body;
  }

  /** Sessions with `pinned`'s identity, the preferred first (the one last received on: crossing starts converge). */
  private usable(peer: PeerSessions, pinned: PublicKeyBundle, device?: string): StoredSession[] {
    return peer.sessions
      .filter((s) => s.sign === pinned.sign && s.box === pinned.box && (device === undefined || s.session.peerDevice === device))
      .sort((a, b) => b.rank - a.rank);
  }

  /** One claim at a time per contact: whispers sealed at once share the session it starts. */
  private start(to: string, pinned: PublicKeyBundle): Promise<Session | null> {
    const key = nameKey(to);
    let running = this.starting.get(key);
    if (!running) {
      running = this.claimAndInitiate(to, pinned).finally(() => this.starting.delete(key));
      this.starting.set(key, running);
    }
    return running;
  }

  /**
   * Session reset: a body from `from`'s `device` that no session here can open (this device lost
   * that session, a power loss put it out of step, or it used a prekey this device does not have)
   * makes it start a new session with that device (a fresh claim and X3DH, as a first whisper) and
   * seal `note` in it as KIND_RESET. Its first message carries the X3DH prefix, so the peer accepts
   * the session, and as the one it last received on, sends on it from then on. Null when a reset
   * went to that device less than `resetMinIntervalMs` ago, or it has no prekeys now.
   */
  async sealReset(from: string, device: string, note: string, now = Date.now()): Promise<string | null> {
    const pinned = this.pins.get(from)?.bundle;
    if (!pinned) return null;
    const key = `${nameKey(from)} ${device}`;
    const last = this.resets.get(key);
    if (last !== undefined && now - last < SESSION_STORE_LIMITS.resetMinIntervalMs) return null;
    this.resets.delete(key);
    this.resets.set(key, now);
    for (const old of this.resets.keys()) {
      if (this.resets.size <= SESSION_STORE_LIMITS.maxPeers) break;
      this.resets.delete(old);
    }
    const session = await this.claimAndInitiate(from, pinned, device);
    if (!session) return null;
    const peer = await this.store.peer(from);
    const stored = peer.add(session, { sign: pinned.sign, box: pinned.box });
    const body = stored.session.seal(concatBytes(new Uint8Array([KIND_RESET]), utf8Bytes(note)));
    await peer.commitSend(stored, stored.session.sendingChain() as { key: Uint8Array; next: number });
    return body;
  }

  private async claimAndInitiate(to: string, pinned: PublicKeyBundle, device?: string): Promise<Session | null> {
    let reply;
    try {
      reply = await askAgainWhenRefused(() => this.relay.claim(to));
    } catch (error) {
      if (error instanceof ChatError && error.code === 'E_NO_PREKEYS') return null;
      throw error;
    }
    if (nameKey(reply.user) !== nameKey(to)) throw new ChatError('E_PROTOCOL', 'the relay answered with the prekeys of another user');
    const bundles: VerifiedPrekeyBundle[] = [];
    // X3DH §3.3: every bundle is checked; one that fails aborts (E_BAD_KEYS / E_BAD_PREKEY).
    // The pin was verified when it was made: a device listing the same identity bundle skips that check.
    const [sign, box] = [fromBase64Strict(pinned.sign, 32), fromBase64Strict(pinned.box, 32)];
    const pin = sign && box ? { bundle: pinned, sign, box } : undefined;
    for (const device of reply.devices) bundles.push(await verifyPrekeyBundle(reply.user, device, pin));
    // Devices still listed with an earlier identity of the user (a reinstall) are not this contact's now.
    const current = bundles.find((b) => toBase64(b.identity.sign) === pinned.sign && toBase64(b.identity.box) === pinned.box && (device === undefined || b.device === device));
    return current ? Session.initiate(this.local(), current) : null;
  }

  /** Writes the batched received state now (exit). */
  flush(): Promise<void> {
    return this.store.flush();
  }

  // ---- receiving -------------------------------------------------------------------------

  /**
   * Opens a session body from `from`: the session it belongs to (by its prefix's EK, else by
   * trying the sessions with that device, the preferred first), or a new one (X3DH §3.4) when
   * the prefix's identity is `from`'s pinned one. A new session is on disk before this
   * resolves; a message on an existing one within `receiveCommitMs` (session-store.ts). Throws
   * `E_DECRYPT` (reason `authentication` also for an identity that is not the pin: the caller
   * then looks for a key change and holds the whisper), `E_REPLAY`, `E_MISADDRESSED`.
   */
  async open(from: string, body: string): Promise<{ kind: number; text: string }> {
    const parsed = parseBody(body);
    if (parsed.toDevice !== this.device) throw new ChatError('E_MISADDRESSED', 'the message is for another device');
    const pinned = this.pins.get(from)?.bundle;
    if (!pinned) throw new ChatError('E_NO_KEY', `no key of ${from} is known yet`);
    const peer = await this.store.peer(from);
    const candidates = this.usable(peer, pinned, parsed.fromDevice);
    const prefix = parsed.prefix;
    if (prefix) {
      const own = candidates.find((s) => sodium.memcmp(s.session.ephemeral, prefix.ephemeral));
      return own ? this.openIn(peer, [own], parsed) : this.accept(peer, from, pinned, parsed);
    }
    return this.openIn(peer, candidates, parsed);
  }

  private async openIn(peer: PeerSessions, candidates: StoredSession[], parsed: ParsedBody): Promise<{ kind: number; text: string }> {
    let failure: ChatError | undefined;
    for (const stored of candidates) {
      try {
        const plaintext = stored.session.open(parsed);
        peer.prefer(stored);
        // Batched (SESSION_STORE_LIMITS.receiveCommitMs): see docs/crypto.md for what a crash then costs.
        peer.commitLater(SESSION_STORE_LIMITS.receiveCommitMs, this.onError);
        return decodePlaintext(plaintext);
      } catch (error) {
        if (!(error instanceof ChatError)) throw error;
        // A replay is named by the session it belongs to; otherwise the preferred session's error stands.
        if (!failure || error.code === 'E_REPLAY') failure = error;
      }
    }
    throw failure ?? authentication('no session with this device can open the message');
  }

  private async accept(peer: PeerSessions, from: string, pinned: PublicKeyBundle, parsed: ParsedBody): Promise<{ kind: number; text: string }> {
    let accepted;
    try {
      accepted = await Session.accept(this.local(), this.prekeys, from, parsed, {
        trusted: (sign, box) => toBase64(sign) === pinned.sign && toBase64(box) === pinned.box,
        seenEphemeral: (ek) => this.prekeys.seenEphemeral(ek),
      });
    } catch (error) {
      if (error instanceof ChatError && error.code === 'E_KEY_CHANGED') throw authentication('the session was started with identity keys that are not the pinned ones');
      throw error;
    }
    peer.add(accepted.session, { sign: pinned.sign, box: pinned.box });
    // The session first (a replay of this message meets it: its key already used), then, once
    // its record is durable, the one-time prekey deleted (prekeys.json): no crash, not even a
    // power loss, leaves the prekey deleted without the session. The whisper is shown once the
    // record is written, as a whisper on an existing session (docs/crypto.md: a power loss may
    // lose it, and a relay could replay it once). A failed write is reported like those commits.
    const committed = await peer.commit();
    committed.sync().then(() => this.prekeys.accepted(accepted.usedOneTimePrekeyId, accepted.session.ephemeral)).catch(this.onError);
    return decodePlaintext(accepted.plaintext);
  }
}

/**
 * A prekey request the relay refuses for load (`E_RATE`: the per-claimer claim limit; `E_FLOOD`:
 * the per-user request bucket) is asked again after its `retryAfterMs`, at most `claimRetries`
 * times while that wait is at most `claimRetryMaxWaitMs`: the whisper is late rather than
 * refused (never downgraded to v1 for it), and a login still publishes its prekeys.
 */
async function askAgainWhenRefused<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await request();
    } catch (error) {
      const refused = error instanceof ChatError && (error.code === 'E_RATE' || error.code === 'E_FLOOD');
      const waitMs = refused ? Number(error.details.retryAfterMs ?? 1000) : NaN;
      if (!(waitMs <= PREKEY_LIMITS.claimRetryMaxWaitMs) || attempt >= PREKEY_LIMITS.claimRetries) throw error;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

function decodePlaintext(plaintext: Uint8Array): { kind: number; text: string } {
  const kind = plaintext[0];
  if (kind !== KIND_WHISPER && kind !== KIND_SIGNAL && kind !== KIND_RESET) throw new ChatError('E_DECRYPT', 'unknown message kind', { reason: 'format' });
  try {
    return { kind, text: new TextDecoder('utf-8', { fatal: true }).decode(plaintext.subarray(1)) };
  } catch {
    throw new ChatError('E_DECRYPT', 'the text is not UTF-8', { reason: 'format' });
  }
}

/** The sending device a session body names (unchecked: for choosing whom to ask for a reset); null when it does not parse. */
export function bodySender(body: string): string | null {
  try {
    return parseBody(body).fromDevice;
  } catch {
    return null;
  }
}

/** True for a session body (version 2); false for the v1 envelope or anything else (left to its checks). */
export function isSessionBody(body: string): boolean {
  if (typeof body !== 'string' || body.length < 4) return false;
  return Buffer.from(body.slice(0, 4), 'base64')[0] === 2;
}
