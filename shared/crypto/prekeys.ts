/**
 * Prekeys of one device (X3DH §2.4, §3.2): X25519 key pairs, the signed prekey's Ed25519
 * signature by the device identity (deviation 1 in docs/crypto.md: no XEdDSA), and the prekey
 * bundle a relay serves, with the checks an initiator makes before using it (X3DH §3.3).
 * Pure; callers await `sodium.ready` (the async functions here do).
 */
import sodium from 'libsodium-wrappers-sumo';
import { z } from 'zod';
import { ChatError, type ErrorCode } from '../errors.js';
import { PREKEY_LIMITS } from '../limits.js';
import { isValidName, nameKey } from '../names.js';
import { concatBytes, domainMessage, fromBase64Strict, toBase64, utf8Bytes } from './bytes.js';
import { CONTEXT } from './contexts.js';
import { isUsableBoxKey, PublicKeyBundleSchema, verifyPublicBundle, type Identity, type VerifiedBundle } from './identity.js';
import { randomBytes, scalarmult, scalarmultBase, SIGNATURE_BYTES, signDetached, verifyDetached } from './native-sodium.js';

/** A device id: chosen by the device, unique among its user's devices. */
export const DEVICE_ID = new RegExp(`^[A-Za-z0-9_-]{1,${PREKEY_LIMITS.maxDeviceIdChars}}$`);
/** X3DH §2.2 Encode(PK): this curve-type byte, then the 32-byte little-endian u-coordinate. */
export const X25519_ENCODING_BYTE = 0x05;
export const MAX_PREKEY_ID = 0xffff_ffff;

export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/**
 * A fresh X25519 key pair (GENERATE_DH, DR §5.2): what `crypto_box_keypair` does (32 random
 * bytes, `crypto_scalarmult_base`), in native libsodium (native-sodium.ts) with the bytes
 * drawn in one call, not libsodium.js's four bytes at a time: a DH ratchet step makes one per
 * reply, and that drawing was 7 % of the bench whisper-mesh's client CPU.
 */
export function generateKeyPair(): KeyPair {
  const privateKey = randomBytes(32);
  return { publicKey: scalarmultBase(privateKey), privateKey };
}

/** Key pairs made ahead for DH ratchet steps (at most one; see `ratchetKeyPair`). */
const spare: KeyPair[] = [];
let refilling = false;

/**
 * GENERATE_DH for a DH ratchet step: a fresh pair made ahead, after the last step, once the
 * event loop had nothing else to do (typically while that step's state write was in flight), so
 * the scalar multiplication is not on the path of the next reply. The same pair as
 * `generateKeyPair` makes, held in memory only, used once.
 */
export function ratchetKeyPair(): KeyPair {
  const pair = spare.pop() ?? generateKeyPair();
  if (!refilling) {
    refilling = true;
    setImmediate(() => {
      refilling = false;
      if (spare.length === 0) spare.push(generateKeyPair());
    }).unref();
  }
  return pair;
}

/** The X25519 key pair of a given 32-byte secret (fixed keys in tests, state loaded from disk). */
export function keyPairFromSecret(privateKey: Uint8Array): KeyPair {
  return { publicKey: scalarmultBase(privateKey), privateKey: Uint8Array.from(privateKey) };
}

/**
 * X25519 DH. A peer key of small order gives an all-zero output, which libsodium refuses; it is
 * reported with `code` (the caller knows whose key it was).
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array, code: ErrorCode): Uint8Array {
  try {
    return scalarmult(privateKey, publicKey);
  } catch {
    throw new ChatError(code, 'a Diffie-Hellman key is weak (small order)', { reason: 'weak-key' });
  }
}

/** X3DH §2.2 Encode(PK). */
export function encodeKey(publicKey: Uint8Array): Uint8Array {
  return concatBytes(new Uint8Array([X25519_ENCODING_BYTE]), publicKey);
}

export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

const prekeyId = z.number().int().min(0).max(MAX_PREKEY_ID);
const key44 = z.string().length(44);
export const DeviceIdSchema = z.string().regex(DEVICE_ID);
export const SignedPrekeySchema = z.object({ id: prekeyId, key: key44, sig: z.string().length(88) });
export const OneTimePrekeySchema = z.object({ id: prekeyId, key: key44 });
/** What the relay serves for one device (shape only; `verifyPrekeyBundle` checks the rest). */
export const PrekeyBundleSchema = z.object({
  device: DeviceIdSchema,
  keys: PublicKeyBundleSchema,
  signedPrekey: SignedPrekeySchema,
  oneTime: OneTimePrekeySchema.optional(),
});
export type SignedPrekey = z.infer<typeof SignedPrekeySchema>;
export type OneTimePrekey = z.infer<typeof OneTimePrekeySchema>;
export type PrekeyBundle = z.infer<typeof PrekeyBundleSchema>;

/** A prekey bundle that passed every check, keys decoded. */
export interface VerifiedPrekeyBundle {
  readonly user: string;
  readonly device: string;
  readonly identity: VerifiedBundle;
  readonly signedPrekeyId: number;
  readonly signedPrekey: Uint8Array;
  readonly oneTimePrekeyId?: number;
  readonly oneTimePrekey?: Uint8Array;
}

function signedPrekeyMessage(user: string, device: string, id: number, key: Uint8Array): Uint8Array {
  return domainMessage(CONTEXT.signedPrekey, utf8Bytes(nameKey(user)), utf8Bytes(device), u32(id), encodeKey(key));
}

/** Made once: zod builds a new schema on every `.strict()`. */
const STRICT_SIGNED_PREKEY = SignedPrekeySchema.strict();
const STRICT_PREKEY_BUNDLE = PrekeyBundleSchema.strict();

function checkIds(user: string, device: string, id: number): void {
  if (!isValidName(user)) throw new ChatError('E_BAD_NAME');
  if (!DEVICE_ID.test(device) || !Number.isInteger(id) || id < 0 || id > MAX_PREKEY_ID) {
    throw new ChatError('E_USAGE', 'a device id is 1-32 of A-Z a-z 0-9 _ - and a prekey id a u32');
  }
}

/** X3DH §3.2 Sig(IK_B, Encode(SPK_B)), with our context, user and device (docs/crypto.md). */
export async function signPrekey(identity: Identity, user: string, device: string, id: number, publicKey: Uint8Array): Promise<SignedPrekey> {
  await sodium.ready;
  checkIds(user, device, id);
  const sig = signDetached(signedPrekeyMessage(user, device, id, publicKey), identity.signSecretKey);
  return { id, key: toBase64(publicKey), sig: toBase64(sig) };
}

/**
 * Checks a signed prekey against the device identity's Ed25519 key: shape, canonical base64, a
 * usable X25519 key, the signature over this user and device. Returns the key; `E_BAD_PREKEY`.
 */
export async function verifySignedPrekey(signKey: Uint8Array, user: string, device: string, signed: unknown): Promise<Uint8Array> {
  await sodium.ready;
  const parsed = STRICT_SIGNED_PREKEY.safeParse(signed);
  if (!parsed.success || !isValidName(user) || !DEVICE_ID.test(device)) throw new ChatError('E_BAD_PREKEY', 'the signed prekey is malformed');
  const key = usableKey(parsed.data.key);
  const sig = fromBase64Strict(parsed.data.sig, SIGNATURE_BYTES);
  if (!sig || !verifyDetached(sig, signedPrekeyMessage(user, device, parsed.data.id, key), signKey)) {
    throw new ChatError('E_BAD_PREKEY', "the signed prekey is not signed by this device's identity key");
  }
  return key;
}

function usableKey(text: string): Uint8Array {
  const key = fromBase64Strict(text, 32);
  if (!key || !isUsableBoxKey(key)) throw new ChatError('E_BAD_PREKEY', 'a prekey is not a usable X25519 key');
  return key;
}

/**
 * X3DH §3.3: what Alice checks before using Bob's bundle. The identity bundle for `user`
 * (`E_BAD_KEYS`), the signed prekey's signature (`E_BAD_PREKEY`: "Alice verifies the prekey
 * signature and aborts the protocol if verification fails"), and the one-time prekey's form
 * (it carries no signature, X3DH §4.7: a substituted one is harmless, see docs/crypto.md).
 */
export async function verifyPrekeyBundle(user: string, bundle: unknown, verified?: VerifiedBundle): Promise<VerifiedPrekeyBundle> {
  await sodium.ready;
  const parsed = STRICT_PREKEY_BUNDLE.safeParse(bundle);
  if (!parsed.success) throw new ChatError('E_BAD_PREKEY', 'the prekey bundle is malformed');
  const { device, keys, signedPrekey, oneTime } = parsed.data;
  // The same bytes as an identity bundle of this user verified before (the pin): not checked twice.
  const same = verified && keys.sign === verified.bundle.sign && keys.box === verified.bundle.box && keys.sig === verified.bundle.sig;
  const identity = same ? verified : await verifyPublicBundle(user, keys);
  const spk = await verifySignedPrekey(identity.sign, user, device, signedPrekey);
  const base = { user, device, identity, signedPrekeyId: signedPrekey.id, signedPrekey: spk };
  return oneTime ? { ...base, oneTimePrekeyId: oneTime.id, oneTimePrekey: usableKey(oneTime.key) } : base;
}
