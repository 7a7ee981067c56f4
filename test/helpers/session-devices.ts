/**
 * Test devices for the session modules: fixed identities and prekeys (from seed bytes), a
 * prekey store like a device's own, and the receive routing a client will do (existing session,
 * or X3DH for a new prefix). The "relay" here is the test handing bundles and bodies around.
 */
import sodium from 'libsodium-wrappers-sumo';
import { toBase64 } from '../../shared/crypto/bytes.js';
import { identityFromSecrets, publicBundle, type Identity } from '../../shared/crypto/identity.js';
import { keyPairFromSecret, signPrekey, verifyPrekeyBundle, type KeyPair, type PrekeyBundle } from '../../shared/crypto/prekeys.js';
import { parseBody, Session } from '../../shared/crypto/session.js';
import type { LocalDevice, PrekeySecrets } from '../../shared/crypto/x3dh.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** 32 bytes derived from a label: fixed keys without a table of hex. */
export function fixedBytes(label: string): Uint8Array {
  return sodium.crypto_generichash(32, utf8.encode(`securechat test key ${label}`), null);
}

export async function fixedIdentity(label: string): Promise<Identity> {
  await sodium.ready;
  const sign = sodium.crypto_sign_seed_keypair(fixedBytes(`${label}/sign`));
  return identityFromSecrets(sign.privateKey, fixedBytes(`${label}/box`));
}

export class TestDevice implements PrekeySecrets {
  readonly signed = new Map<number, KeyPair>();
  readonly oneTime = new Map<number, KeyPair>();
  /** One-time prekeys not yet handed out by the "relay". */
  readonly published: number[] = [];
  readonly seenEphemerals = new Set<string>();
  readonly sessions = new Map<string, Session>();
  /** Identity keys this device trusts per user (pins); a user not here is trusted on first use. */
  readonly pins = new Map<string, string>();
  currentSigned = 1;

  private constructor(readonly me: LocalDevice) {}

  static async create(user: string, device = 'd1', oneTimeCount = 10): Promise<TestDevice> {
    const identity = await fixedIdentity(`${user}/${device}`);
    const d = new TestDevice({ user, device, identity });
    d.signed.set(1, keyPairFromSecret(fixedBytes(`${user}/${device}/spk1`)));
    for (let id = 100; id < 100 + oneTimeCount; id++) {
      d.oneTime.set(id, keyPairFromSecret(fixedBytes(`${user}/${device}/opk${id}`)));
      d.published.push(id);
    }
    return d;
  }

  get key(): string {
    return `${this.me.user}/${this.me.device}`;
  }

  signedPrekey(id: number): KeyPair | undefined {
    return this.signed.get(id);
  }

  oneTimePrekey(id: number): KeyPair | undefined {
    return this.oneTime.get(id);
  }

  /** What the relay serves: the signed prekey and the next one-time prekey, handed out once. */
  async bundle(options: { oneTime?: boolean } = {}): Promise<PrekeyBundle> {
    const spk = this.signed.get(this.currentSigned) as KeyPair;
    const signedPrekey = await signPrekey(this.me.identity, this.me.user, this.me.device, this.currentSigned, spk.publicKey);
    const keys = await publicBundle(this.me.identity, this.me.user);
    const id = options.oneTime === false ? undefined : this.published.shift();
    const opk = id === undefined ? undefined : this.oneTime.get(id);
    return { device: this.me.device, keys, signedPrekey, ...(opk && id !== undefined ? { oneTime: { id, key: toBase64(opk.publicKey) } } : {}) };
  }

  async startSession(peer: TestDevice, bundle?: PrekeyBundle): Promise<Session> {
    const verified = await verifyPrekeyBundle(peer.me.user, bundle ?? (await peer.bundle()));
    const session = await Session.initiate(this.me, verified);
    this.sessions.set(peer.key, session);
    return session;
  }

  /** Seals `message` to `peer`, starting a session first when there is none. */
  async send(peer: TestDevice, message: string): Promise<string> {
    const session = this.sessions.get(peer.key) ?? (await this.startSession(peer));
    return session.seal(utf8.encode(message));
  }

  /** The client's receive rule: the session the body belongs to, or X3DH as Bob for a new prefix. */
  async receive(fromUser: string, body: string): Promise<string> {
    const parsed = parseBody(body);
    const key = `${fromUser}/${parsed.fromDevice}`;
    const existing = this.sessions.get(key);
    if (existing && existing.ownsPrefix(parsed)) return text.decode(existing.open(parsed));
    const accepted = await Session.accept(this.me, this, fromUser, parsed, {
      trusted: (sign, box) => {
        const pin = this.pins.get(key);
        return pin === undefined || pin === toBase64(sign) + toBase64(box);
      },
      seenEphemeral: (ek) => this.seenEphemerals.has(toBase64(ek)),
    });
    if (accepted.usedOneTimePrekeyId !== undefined) this.oneTime.delete(accepted.usedOneTimePrekeyId);
    this.seenEphemerals.add(toBase64(accepted.session.ephemeral));
    this.sessions.set(key, accepted.session);
    return text.decode(accepted.plaintext);
  }
}
