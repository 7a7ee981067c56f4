import type { Duplex } from 'node:stream';
import tls, { type TLSSocket } from 'node:tls';
import { ChatError } from '../../../shared/errors.js';
import type { TransferRole } from './state-machine.js';
import type { TransferCredentials } from './credentials.js';

export interface SecureChannelOptions {
  /** The sender is always the TLS server and the receiver the TLS client, whoever dialled. */
  role: TransferRole;
  credentials: TransferCredentials;
  /** The certificate fingerprint the peer sent through the end-to-end channel. */
  peerFingerprint: string;
  /** The handshake must finish within this many milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Runs mutual TLS 1.3 over any byte stream (a direct TCP socket or a relay pipe) and
 * resolves with the TLS socket only when the peer presented the certificate whose
 * fingerprint we expect. Nothing is written to or read from the stream's application layer
 * before that check, so a stranger can neither learn anything beyond our ephemeral,
 * anonymous certificate nor inject data. On any failure the stream is destroyed and the
 * promise rejects with a ChatError: E_PEER_AUTH (wrong or missing certificate), E_TLS,
 * E_HANDSHAKE_TIMEOUT, E_CLOSED or E_CANCELLED.
 */
export function openSecureChannel(stream: Duplex, options: SecureChannelOptions): Promise<TLSSocket> {
  const { credentials } = options;
  // The TLS socket reports the stream's failures as its own close; an 'error' on the raw
  // stream (some Duplex implementations emit AbortError when destroyed) must not crash us.
  stream.on('error', () => undefined);
  const versions = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' } as const;
  let socket: TLSSocket;
  if (options.role === 'sender') {
    const secureContext = tls.createSecureContext({ key: credentials.key, cert: credentials.cert, ...versions });
    // rejectUnauthorized is off because the certificate is self-signed; the fingerprint check
    // below is the authentication. requestCert makes the receiver present its certificate.
    socket = new tls.TLSSocket(stream, { isServer: true, secureContext, requestCert: true, rejectUnauthorized: false });
  } else {
    socket = tls.connect({
      socket: stream,
      key: credentials.key,
      cert: credentials.cert,
      ...versions,
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
  }

  return new Promise<TLSSocket>((resolve, reject) => {
    let settled = false;
    const settle = (error: ChatError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error === null) {
        resolve(socket);
      } else {
        socket.on('error', () => undefined); // late errors from tearing down are expected
        socket.destroy();
        stream.destroy();
        reject(error);
      }
    };
    const onSecure = (): void => {
      const peer = socket.getPeerX509Certificate();
      if (peer === undefined || peer.fingerprint256 !== options.peerFingerprint) {
        settle(new ChatError('E_PEER_AUTH'));
        return;
      }
      if (socket.getProtocol() !== 'TLSv1.3') {
        settle(new ChatError('E_TLS', 'the data connection did not negotiate TLS 1.3'));
        return;
      }
      // A late error after we handed the socket over is the session's business; until the
      // caller attaches its own handler, do not let it crash the process.
      socket.on('error', () => undefined);
      settle(null);
    };
    const onError = (error: Error): void => {
      settle(new ChatError('E_TLS', `data connection handshake failed: ${error.message}`));
    };
    const onClose = (): void => settle(new ChatError('E_CLOSED', 'the data connection closed during the handshake'));
    const onAbort = (): void => settle(new ChatError('E_CANCELLED'));
    const timer = setTimeout(() => settle(new ChatError('E_HANDSHAKE_TIMEOUT')), options.timeoutMs);

    if (options.signal?.aborted === true) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once(options.role === 'sender' ? 'secure' : 'secureConnect', onSecure);
    socket.on('error', onError);
    socket.once('close', onClose);
  });
}
