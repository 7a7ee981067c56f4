import sodium from 'libsodium-wrappers-sumo';
import { z } from 'zod';
import { ChatError } from '../errors.js';
import { VERIFIED_BUNDLE_CACHE_ENTRIES } from '../limits.js';
import { isValidName, nameKey } from '../names.js';
import { domainMessage, fromBase64Strict, randomBytes, toBase64, utf8Bytes } from './bytes.js';
import { CONTEXT } from './contexts.js';
import * as native from './native-sodium.js';

/**
 * Long-term identity of one user on one device: an Ed25519 key pair to sign (bundle, login
 * proofs) and a separate X25519 key pair to encrypt whispers (`crypto_box`). Two key pairs
 * rather than one converted key, so no key is ever used by two algorithms.
 */
export interface Identity {
  /** Ed25519 public key, 32 bytes. */
  readonly signPublicKey: Uint8Array;
  /** Ed25519 secret key in libsodium's 64-byte form (seed followed by public key). */
  readonly signSecretKey: Uint8Array;
  /** X25519 public key, 32 bytes. */
  readonly boxPublicKey: Uint8Array;
  /** X25519 secret key, 32 bytes. */
  readonly boxSecretKey: Uint8Array;
}

/**
 * What a user publishes (registration uploads it, the relay serves it): both public keys and an
 * Ed25519 signature, by `sign`, over the user's name and `box` under context
 * `securechat/v1/bundle`. All fields are standard padded base64.
 */
export interface PublicKeyBundle {
  /**
   * 1: an identity of a client before forward-secret sessions; 2: the same keys, signed under
   * another context by a client that publishes prekeys (whispers to it never use the v1
   * envelope: docs/crypto.md "Refusing the v1 downgrade").
   */
  v: 1 | 2;
  /** Ed25519 public key, 32 bytes (44 base64 characters). */
  sign: string;
  /** X25519 public key, 32 bytes (44 base64 characters). */
  box: string;
  /** Ed25519 signature, 64 bytes (88 base64 characters). */
  sig: string;
}

/** A bundle that passed `verifyPublicBundle`, with its keys decoded. */
export interface VerifiedBundle {
  readonly bundle: PublicKeyBundle;
  /** Ed25519 public key, 32 bytes. */
  readonly sign: Uint8Array;
  /** X25519 public key, 32 bytes: pass it to `sealWhisper` / `openWhisper`. */
  readonly box: Uint8Array;
}

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Relays should send this many random bytes as a login challenge. */
export const LOGIN_CHALLENGE_BYTES = 32;
/** Challenges shorter than this are refused (too easy to repeat); longer than the max too. */
export const LOGIN_CHALLENGE_MIN_BYTES = 16;
export const LOGIN_CHALLENGE_MAX_BYTES = 1024;

/**
 * Shape-only schema of a bundle for wire schemas (`shared/messages.ts` may embed it). It checks
 * lengths; `verifyPublicBundle` still has to check the base64, the keys and the signature.
 */
export const PublicKeyBundleSchema = z.object({
  v: z.union([z.literal(1), z.literal(2)]),
  sign: z.string().length(44),
  box: z.string().length(44),
  sig: z.string().length(88),
});

/** Resolves once libsodium is initialised; every async function here awaits it itself. */
export async function cryptoReady(): Promise<void> {
  await sodium.ready;
}

/** Makes a fresh identity from libsodium's CSPRNG. */
export async function generateIdentity(): Promise<Identity> {
  await sodium.ready;
  const sign = sodium.crypto_sign_keypair();
  const box = sodium.crypto_box_keypair();
  return {
    signPublicKey: sign.publicKey,
    signSecretKey: sign.privateKey,
    boxPublicKey: box.publicKey,
    boxSecretKey: box.privateKey,
  };
}

/**
 * Rebuilds an identity from its two secret keys (as stored in the identity file), deriving the
 * public keys. Throws `E_BAD_KEYS` if the lengths are wrong or the Ed25519 secret key's embedded
 * public key does not match its seed (a damaged file).
 */
export async function identityFromSecrets(signSecretKey: Uint8Array, boxSecretKey: Uint8Array): Promise<Identity> {
  await sodium.ready;
  if (signSecretKey.length !== sodium.crypto_sign_SECRETKEYBYTES || boxSecretKey.length !== sodium.crypto_box_SECRETKEYBYTES) {
    throw new ChatError('E_BAD_KEYS', 'secret keys have the wrong length');
  }
  const seed = sodium.crypto_sign_ed25519_sk_to_seed(signSecretKey);
  const rebuilt = sodium.crypto_sign_seed_keypair(seed);
  if (!sodium.memcmp(rebuilt.privateKey, signSecretKey)) {
    throw new ChatError('E_BAD_KEYS', 'the signing secret key is inconsistent');
  }
  return {
    signPublicKey: rebuilt.publicKey,
    signSecretKey: rebuilt.privateKey,
    boxPublicKey: sodium.crypto_scalarmult_base(boxSecretKey),
    boxSecretKey: Uint8Array.from(boxSecretKey),
  };
}

function bundleMessage(version: 1 | 2, userName: string, signKey: Uint8Array, boxKey: Uint8Array): Uint8Array {
  return domainMessage(version === 2 ? CONTEXT.bundleV2 : CONTEXT.bundle, utf8Bytes(nameKey(userName)), signKey, boxKey);
}

/**
 * The public bundle of `identity` for `userName` (case does not matter: the name is signed as
 * its `nameKey`); `version` 2 when this client publishes prekeys. Throws `E_BAD_NAME` for an
 * invalid name.
 */
export async function publicBundle(identity: Identity, userName: string, version: 1 | 2 = 1): Promise<PublicKeyBundle> {
  await sodium.ready;
  requireName(userName);
  const sig = sodium.crypto_sign_detached(bundleMessage(version, userName, identity.signPublicKey, identity.boxPublicKey), identity.signSecretKey);
  return { v: version, sign: toBase64(identity.signPublicKey), box: toBase64(identity.boxPublicKey), sig: toBase64(sig) };
}

/** Made once: zod builds a new schema on every `.strict()` (a first contact paid it several times). */
const STRICT_BUNDLE = PublicKeyBundleSchema.strict();

/**
 * Checks a bundle that came from the network: exact shape, canonical base64, key lengths, a
 * valid Ed25519 point, an X25519 key that is not of small order, and the signature over
 * `userName` and the box key. Returns the decoded keys; throws `E_BAD_KEYS` on any failure.
 */
export async function verifyPublicBundle(userName: string, bundle: unknown): Promise<VerifiedBundle> {
  await sodium.ready;
  if (!isValidName(userName)) throw new ChatError('E_BAD_KEYS', 'the bundle is for an invalid user name');
  const parsed = STRICT_BUNDLE.safeParse(bundle);
  if (!parsed.success) throw new ChatError('E_BAD_KEYS', 'the public key bundle is malformed');
  const cacheKey = `${nameKey(userName)} ${parsed.data.v} ${parsed.data.sign} ${parsed.data.box} ${parsed.data.sig}`;
  const known = verifiedBundles.get(cacheKey);
  if (known) return { bundle: { ...known.bundle }, sign: Uint8Array.from(known.sign), box: Uint8Array.from(known.box) };
  const verified = checkBundle(userName, parsed.data);
  if (verifiedBundles.size >= VERIFIED_BUNDLE_CACHE_ENTRIES) verifiedBundles.delete(verifiedBundles.keys().next().value as string);
  verifiedBundles.set(cacheKey, { bundle: { ...verified.bundle }, sign: Uint8Array.from(verified.sign), box: Uint8Array.from(verified.box) });
  return verified;
}

/**
 * Bundles this process has verified, by user and exact text (Map order: oldest first). The
 * checks are a pure function of the name and the bundle, so a hit is the answer a new check
 * would give. Why: one process often holds many clients (bots; the benchmarks' load
 * generator, where every client re-checked each newcomer's bundle in the login bench's burst,
 * ~1,250 checks of ~0.6 ms in libsodium's WebAssembly, half of that process's CPU), and a
 * client meets the same bundle again on every connection.
 */
const verifiedBundles = new Map<string, VerifiedBundle>();

function checkBundle(userName: string, parsed: PublicKeyBundle): VerifiedBundle {
  const sign = fromBase64Strict(parsed.sign, PUBLIC_KEY_BYTES);
  const box = fromBase64Strict(parsed.box, PUBLIC_KEY_BYTES);
  const sig = fromBase64Strict(parsed.sig, SIGNATURE_BYTES);
  if (!sign || !box || !sig) throw new ChatError('E_BAD_KEYS', 'the public key bundle has bad base64');
  // Native libsodium (native-sodium.ts): a first contact checks a bundle on the whisper's path.
  if (!native.isValidEd25519Point(sign)) {
    throw new ChatError('E_BAD_KEYS', 'the signing key is not a valid Ed25519 key');
  }
  if (!isUsableBoxKey(box)) throw new ChatError('E_BAD_KEYS', 'the encryption key is a weak X25519 key');
  if (!native.verifyDetached(sig, bundleMessage(parsed.v, userName, sign, box), sign)) {
    throw new ChatError('E_BAD_KEYS', 'the public key bundle signature does not match this user');
  }
  return { bundle: { ...parsed }, sign, box };
}

/**
 * An X25519 public key of small order makes every shared secret all zeros; libsodium refuses
 * such a result, so one scalar multiplication with a random scalar tells them apart.
 */
export function isUsableBoxKey(box: Uint8Array): boolean {
  try {
    native.scalarmult(native.randomBytes(native.X25519_BYTES), box);
    return true;
  } catch {
    return false;
  }
}

function loginMessage(userName: string, challenge: Uint8Array): Uint8Array {
  return domainMessage(CONTEXT.login, utf8Bytes(nameKey(userName)), challenge);
}

function isChallenge(challenge: unknown): challenge is Uint8Array {
  return challenge instanceof Uint8Array
    && challenge.length >= LOGIN_CHALLENGE_MIN_BYTES
    && challenge.length <= LOGIN_CHALLENGE_MAX_BYTES;
}

/** A fresh random login challenge for a relay to send (`LOGIN_CHALLENGE_BYTES` bytes). */
export async function createLoginChallenge(): Promise<Uint8Array> {
  await sodium.ready;
  return randomBytes(LOGIN_CHALLENGE_BYTES);
}

/**
 * Proves possession of the signing key: an Ed25519 signature (base64, 64 bytes) over the
 * relay's challenge and the user name under context `securechat/v1/login`. Throws `E_USAGE` for
 * a challenge outside 16-1024 bytes and `E_BAD_NAME` for an invalid name.
 */
export async function signLoginChallenge(identity: Identity, userName: string, challenge: Uint8Array): Promise<string> {
  await sodium.ready;
  requireName(userName);
  if (!isChallenge(challenge)) throw new ChatError('E_USAGE', 'a login challenge is 16-1024 bytes');
  // Native libsodium (native-sodium.ts), as every login and resume signs one: the same Ed25519.
  return toBase64(native.signDetached(loginMessage(userName, challenge), identity.signSecretKey));
}

/**
 * Relay side of the login proof. `bundle` is the user's stored bundle (re-checked here),
 * `signature` the base64 the client sent. Returns true only for a valid signature by the
 * bundle's signing key over this challenge and user name; never throws on bad input.
 */
export async function verifyLoginChallenge(
  bundle: unknown,
  userName: string,
  challenge: Uint8Array,
  signature: unknown,
  options: { bundleAlreadyVerified?: boolean } = {},
): Promise<boolean> {
  await sodium.ready;
  if (!isChallenge(challenge)) return false;
  const sig = fromBase64Strict(signature, SIGNATURE_BYTES);
  if (!sig) return false;
  let signKey: Uint8Array;
  if (options.bundleAlreadyVerified) {
    // The caller checked this bundle when it was stored (e.g. the relay's account record):
    // only the signing key's length is checked here, saving an Ed25519 verification per login.
    const key = fromBase64Strict((bundle as PublicKeyBundle | undefined)?.sign, PUBLIC_KEY_BYTES);
    if (!key) return false;
    signKey = key;
  } else {
    try {
      signKey = (await verifyPublicBundle(userName, bundle)).sign;
    } catch {
      return false;
    }
  }
  return native.verifyDetached(sig, loginMessage(userName, challenge), signKey);
}

/** True when two bundles carry the same two public keys (the signature is not compared). */
export function sameKeys(a: PublicKeyBundle, b: PublicKeyBundle): boolean {
  return a.sign === b.sign && a.box === b.box;
}

function requireName(userName: string): void {
  if (!isValidName(userName)) throw new ChatError('E_BAD_NAME');
}
