/**
 * What the durable store keeps of a device's prekeys (public material only), shared by both
 * backends (relay/prekey-level.ts, relay/prekey-redis.ts) and the rules they both keep
 * (docs/crypto.md "Prekeys on the relay").
 */
import type { PublicKeyBundle } from '../shared/crypto/identity.js';
import { DEVICE_ID, type OneTimePrekey, type PrekeyBundle, type SignedPrekey } from '../shared/crypto/prekeys.js';
import { ChatError } from '../shared/errors.js';
import { PREKEY_LIMITS } from '../shared/limits.js';
import { isValidName } from '../shared/names.js';

/** One upload: the device's identity keys as checked at upload, its signed prekey, new one-time prekeys. */
export interface PrekeyUpload {
  device: string;
  keys: PublicKeyBundle;
  signedPrekey: SignedPrekey;
  oneTime: OneTimePrekey[];
}

/** One device's bundle as a claim took it, and how many one-time prekeys it has left. */
export interface ClaimedPrekeys {
  bundle: PrekeyBundle;
  remaining: number;
}

/** The stored part besides the one-time prekeys. */
export interface DeviceRecord {
  keys: PublicKeyBundle;
  signedPrekey: SignedPrekey;
}

/**
 * A second line behind the relay's checks (`E_INTERNAL`): names and device ids become store
 * keys, so they must be what the wire allows; one-time prekey ids within an upload are unique.
 */
export function checkUpload(user: string, upload: PrekeyUpload): void {
  const ids = new Set(upload.oneTime.map((k) => k.id));
  const fine = isValidName(user) && DEVICE_ID.test(upload.device) && ids.size === upload.oneTime.length
    && upload.oneTime.length <= PREKEY_LIMITS.maxOneTimePerUpload;
  if (!fine) throw new ChatError('E_INTERNAL', `cannot store prekeys for ${JSON.stringify(user)} / ${JSON.stringify(upload.device)}`);
}

export function tooManyPrekeys(what: 'devices' | 'one-time'): ChatError {
  return what === 'devices'
    ? new ChatError('E_TOO_MANY_PREKEYS', `a user may publish prekeys for at most ${PREKEY_LIMITS.maxDevicesPerUser} devices`, { limit: 'devices' })
    : new ChatError('E_TOO_MANY_PREKEYS', `the relay keeps at most ${PREKEY_LIMITS.maxStoredOneTime} one-time prekeys per device`, { limit: 'one-time' });
}

export function toClaimed(device: string, record: DeviceRecord, oneTime: OneTimePrekey | undefined, remaining: number): ClaimedPrekeys {
  return { bundle: { device, keys: record.keys, signedPrekey: record.signedPrekey, ...(oneTime ? { oneTime } : {}) }, remaining };
}
