import type { TLSSocket } from 'node:tls';
import { ChatError } from './errors.js';

/** RFC 8446 exporter label for the login proof (domain-separated from any other use). */
const EXPORTER_LABEL = 'EXPORTER-securechat-login-v1';
const EXPORTER_BYTES = 32;
const CHALLENGE_BYTES = 32;

/**
 * The bytes a login proof signs: the relay's random challenge joined with a value exported from
 * this very TLS session, so a proof cannot be replayed on another connection or forwarded by a
 * man in the middle to a different relay (its TLS session would export a different value).
 */
export function boundChallenge(challengeBase64: string, socket: TLSSocket): Uint8Array {
  const challenge = Buffer.from(challengeBase64, 'base64');
  if (challenge.length !== CHALLENGE_BYTES || challenge.toString('base64') !== challengeBase64) {
    throw new ChatError('E_PROTOCOL', 'the login challenge is malformed');
  }
  const exporter = socket.exportKeyingMaterial(EXPORTER_BYTES, EXPORTER_LABEL, Buffer.alloc(0));
  return Buffer.concat([challenge, exporter]);
}

export const LOGIN_CHALLENGE_BYTES = CHALLENGE_BYTES;
