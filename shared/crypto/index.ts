/**
 * End-to-end crypto for whispers (issue 4): identities and signed public bundles, login proofs,
 * whisper envelopes with replay protection, safety numbers. Pure: no sockets, no files.
 * libsodium constructions only; see docs/crypto.md.
 */
export * from './identity.js';
export * from './envelope.js';
export * from './safety-number.js';
export { CONTEXT } from './contexts.js';
export { toBase64, fromBase64Strict } from './bytes.js';
// Sessions with forward secrecy (issue 16): X3DH + Double Ratchet. Not used by whispers yet.
export {
  DEVICE_ID, PrekeyBundleSchema, SignedPrekeySchema, OneTimePrekeySchema, generateKeyPair, keyPairFromSecret, signPrekey,
  verifySignedPrekey, verifyPrekeyBundle, type KeyPair, type PrekeyBundle, type SignedPrekey, type OneTimePrekey, type VerifiedPrekeyBundle,
} from './prekeys.js';
export { type LocalDevice, type PrekeySecrets } from './x3dh.js';
export { Session, parseBody, type ParsedBody, type SessionJson } from './session.js';
