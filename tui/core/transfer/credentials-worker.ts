/**
 * Makes one transfer's certificate in a short-lived worker thread (credentials.ts): selfsigned
 * and its ASN.1 stack cost about 17 MB of memory once loaded, which a thread gives back when it
 * exits and the client's own heap would keep for the rest of the session.
 */
import { parentPort } from 'node:worker_threads';
import { generate } from 'selfsigned';

export interface CredentialsRequest {
  notBeforeMs: number;
  notAfterMs: number;
}

export type CredentialsReply = { ok: true; key: string; cert: string } | { ok: false; message: string };

const port = parentPort;
if (port === null) throw new Error('credentials-worker.js runs only as a worker thread');

port.once('message', (request: CredentialsRequest) => {
  generate([{ name: 'commonName', value: 'securechat transfer' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(request.notBeforeMs),
    notAfterDate: new Date(request.notAfterMs),
  }).then(
    (pems) => port.postMessage({ ok: true, key: pems.private, cert: pems.cert } satisfies CredentialsReply),
    (error: unknown) => port.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) } satisfies CredentialsReply),
  );
});
