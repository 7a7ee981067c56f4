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
