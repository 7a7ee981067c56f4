/**
 * Every context string in one place. Each purpose that signs or hashes gets its own, so a
 * signature or digest made for one purpose is never valid for another (domain separation).
 * Changing any of these breaks compatibility: bump the `v1` instead.
 */
export const CONTEXT = {
  /** Ed25519 signature binding a user name to that user's X25519 box key (the public bundle). */
  bundle: 'securechat/v1/bundle',
  /**
   * The same for a version 2 bundle: its signer runs forward-secret sessions (publishes
   * prekeys), so a relay that serves none for it is refused rather than trusted (no v1 envelope).
   */
  bundleV2: 'securechat/v2/bundle',
  /** Ed25519 signature over a relay's login challenge. */
  login: 'securechat/v1/login',
  /** BLAKE2b digest of one user's keys, half of a safety number. */
  safetyNumber: 'securechat/v1/safety-number',
  /** BLAKE2b digest of a bundle's keys, shown as a short fingerprint. */
  fingerprint: 'securechat/v1/fingerprint',
  /** Ed25519 signature by a device's identity over its signed prekey (X3DH §3.2). */
  signedPrekey: 'securechat/v2/signed-prekey',
  /** X3DH's associated data: both users, devices and identity keys (X3DH §3.3). */
  sessionAd: 'securechat/v2/session-ad',
  /** HKDF info of X3DH's KDF (X3DH §2.1 "info"). */
  x3dhInfo: 'securechat/v2/x3dh',
  /** HKDF info of the Double Ratchet's KDF_RK (DR §5.2). */
  ratchetRoot: 'securechat/v2/ratchet-root',
  /** HKDF info deriving the AEAD key and nonce from a message key (DR §5.2 ENCRYPT). */
  messageKeys: 'securechat/v2/message-keys',
} as const;
