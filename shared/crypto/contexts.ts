/**
 * Every context string in one place. Each purpose that signs or hashes gets its own, so a
 * signature or digest made for one purpose is never valid for another (domain separation).
 * Changing any of these breaks compatibility: bump the `v1` instead.
 */
export const CONTEXT = {
  /** Ed25519 signature binding a user name to that user's X25519 box key (the public bundle). */
  bundle: 'securechat/v1/bundle',
  /** Ed25519 signature over a relay's login challenge. */
  login: 'securechat/v1/login',
  /** BLAKE2b digest of one user's keys, half of a safety number. */
  safetyNumber: 'securechat/v1/safety-number',
  /** BLAKE2b digest of a bundle's keys, shown as a short fingerprint. */
  fingerprint: 'securechat/v1/fingerprint',
} as const;
