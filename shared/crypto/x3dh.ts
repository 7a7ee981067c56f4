/**
 * X3DH key agreement (X3DH §3.3 sending, §3.4 receiving) on X25519 and HKDF-SHA-256, with the
 * associated data of docs/crypto.md. Pure: the caller fetched the bundle, keeps the prekey
 * secrets, and decides whose identity to trust (pins).
 */
import sodium from 'libsodium-wrappers-sumo';
import { ChatError } from '../errors.js';
import { nameKey } from '../names.js';
import { concatBytes, domainMessage, utf8Bytes } from './bytes.js';
import { CONTEXT } from './contexts.js';
import { hkdf, HASH_BYTES } from './hkdf.js';
import type { Identity } from './identity.js';
import { dh, encodeKey, generateKeyPair, type KeyPair, type VerifiedPrekeyBundle } from './prekeys.js';

/** One of our devices: who we are and the identity that device holds. */
export interface LocalDevice {
  readonly user: string;
  readonly device: string;
  readonly identity: Identity;
}

/** A party as the associated data names it. */
export interface SessionParty {
  readonly user: string;
  readonly device: string;
  /** Ed25519 identity key. */
  readonly sign: Uint8Array;
  /** X25519 identity key (IK). */
  readonly box: Uint8Array;
}

/** What an initial message carries besides its ratchet message (X3DH §3.3, last list). */
export interface X3dhPrefix {
  /** The initiator's identity keys (IK_A and its Ed25519 partner). */
  readonly sign: Uint8Array;
  readonly box: Uint8Array;
  /** EK_A. */
  readonly ephemeral: Uint8Array;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId?: number;
}

/** The responder's private prekeys, by id (X3DH §3.4: Bob loads them). */
export interface PrekeySecrets {
  signedPrekey(id: number): KeyPair | undefined;
  oneTimePrekey(id: number): KeyPair | undefined;
}

export interface X3dhOutput {
  /** SK, 32 bytes: the Double Ratchet's first root key (DR §5.1). */
  readonly sk: Uint8Array;
  /** AD (X3DH §3.3 with our additions). */
  readonly ad: Uint8Array;
}

/** X3DH §2.2 KDF: HKDF over F || KM with F = 32 bytes of 0xFF (X25519), a zero salt, our info. */
function kdf(km: Uint8Array): Uint8Array {
  const f = new Uint8Array(32).fill(0xff);
  return hkdf(new Uint8Array(HASH_BYTES), concatBytes(f, km), utf8Bytes(CONTEXT.x3dhInfo), 32);
}

/** AD = Encode(IK_A) || Encode(IK_B) with names, devices and Ed25519 keys (X3DH §3.3 allows it). */
export function associatedData(initiator: SessionParty, responder: SessionParty): Uint8Array {
  const party = (p: SessionParty) => [utf8Bytes(nameKey(p.user)), utf8Bytes(p.device), p.sign, encodeKey(p.box)];
  return domainMessage(CONTEXT.sessionAd, ...party(initiator), ...party(responder));
}

export function partyOf(device: LocalDevice): SessionParty {
  return { user: device.user, device: device.device, sign: device.identity.signPublicKey, box: device.identity.boxPublicKey };
}

/**
 * X3DH §3.3, Alice: DH1..DH4 with a fresh EK_A (or `ephemeral`, for fixed-key tests), SK and AD.
 * The bundle must have passed `verifyPrekeyBundle` (that is the signature check of §3.3).
 * EK_A's private key and the DH outputs are not kept.
 */
export async function x3dhInitiate(
  me: LocalDevice,
  bundle: VerifiedPrekeyBundle,
  ephemeral: KeyPair = generateKeyPair(),
): Promise<X3dhOutput & { prefix: X3dhPrefix }> {
  await sodium.ready;
  const ik = me.identity.boxSecretKey;
  const parts = [
    dh(ik, bundle.signedPrekey, 'E_BAD_PREKEY'),
    dh(ephemeral.privateKey, bundle.identity.box, 'E_BAD_KEYS'),
    dh(ephemeral.privateKey, bundle.signedPrekey, 'E_BAD_PREKEY'),
  ];
  if (bundle.oneTimePrekey) parts.push(dh(ephemeral.privateKey, bundle.oneTimePrekey, 'E_BAD_PREKEY'));
  const sk = kdf(concatBytes(...parts));
  for (const part of parts) sodium.memzero(part);
  const responder: SessionParty = { user: bundle.user, device: bundle.device, sign: bundle.identity.sign, box: bundle.identity.box };
  const prefix: X3dhPrefix = {
    sign: me.identity.signPublicKey,
    box: me.identity.boxPublicKey,
    ephemeral: ephemeral.publicKey,
    signedPrekeyId: bundle.signedPrekeyId,
    ...(bundle.oneTimePrekeyId === undefined ? {} : { oneTimePrekeyId: bundle.oneTimePrekeyId }),
  };
  return { sk, ad: associatedData(partyOf(me), responder), prefix };
}

/**
 * X3DH §3.4, Bob: loads the prekeys the prefix names (`E_DECRYPT` reason `unknown-prekey` when
 * either is gone: a reused or substituted one-time prekey ends here) and computes SK and AD.
 * The caller has checked that the prefix's identity is the one it trusts for `from`, decrypts
 * the ratchet message with SK and only then deletes the one-time prekey (§3.4).
 */
export async function x3dhRespond(
  me: LocalDevice,
  secrets: PrekeySecrets,
  from: { user: string; device: string },
  prefix: X3dhPrefix,
): Promise<X3dhOutput & { signedPrekey: KeyPair }> {
  await sodium.ready;
  const spk = secrets.signedPrekey(prefix.signedPrekeyId);
  const opk = prefix.oneTimePrekeyId === undefined ? undefined : secrets.oneTimePrekey(prefix.oneTimePrekeyId);
  if (!spk || (prefix.oneTimePrekeyId !== undefined && !opk)) {
    throw new ChatError('E_DECRYPT', 'the message uses a prekey this device does not have (used, expired or never issued)', {
      reason: 'unknown-prekey',
    });
  }
  const parts = [
    dh(spk.privateKey, prefix.box, 'E_DECRYPT'),
    dh(me.identity.boxSecretKey, prefix.ephemeral, 'E_DECRYPT'),
    dh(spk.privateKey, prefix.ephemeral, 'E_DECRYPT'),
  ];
  if (opk) parts.push(dh(opk.privateKey, prefix.ephemeral, 'E_DECRYPT'));
  const sk = kdf(concatBytes(...parts));
  for (const part of parts) sodium.memzero(part);
  const initiator: SessionParty = { user: from.user, device: from.device, sign: prefix.sign, box: prefix.box };
  return { sk, ad: associatedData(initiator, partyOf(me)), signedPrekey: spk };
}
