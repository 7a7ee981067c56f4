import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { FrameDecoder, FrameKind, decodeControlPayload, encodeControl } from '../../shared/codec.js';
import { generateIdentity, publicBundle, signLoginChallenge, type Identity, type PublicKeyBundle } from '../../shared/crypto/identity.js';
import { boundChallenge } from '../../shared/login-proof.js';
import { parseRelayMessage, type ClientMessage, type RelayMessage } from '../../shared/messages.js';
import { nameKey } from '../../shared/names.js';

/**
 * One identity per user name for the whole test process, so a test that registers and later
 * logs in again (as one device would) keeps its keys. Pass an identity to act as another device.
 */
const identities = new Map<string, Identity>();

export async function identityOf(user: string): Promise<Identity> {
  let identity = identities.get(nameKey(user));
  if (!identity) identities.set(nameKey(user), (identity = await generateIdentity()));
  return identity;
}

/**
 * A raw protocol client for relay tests: speaks frames directly, so tests can also send
 * garbage. (Product code uses the client core in tui/core.)
 */
/** The error code of a relay message, or undefined when it is not an error. */
export function errorCodeOf(message: { t: string; code?: string }): string | undefined {
  return message.t === 'error' ? message.code : undefined;
}

/** What a relay answer amounts to: its error code, else its type (`session`, `joined`...). */
export function outcome(reply: RelayMessage): string {
  return reply.t === 'error' ? reply.code : reply.t;
}

export class WireClient {
  readonly received: RelayMessage[] = [];
  closed = false;
  private waiters: Array<{ match: (m: RelayMessage) => boolean; resolve: (m: RelayMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  private closeWaiters: Array<() => void> = [];
  private nextId = 1;

  private constructor(readonly socket: TLSSocket) {
    const decoder = new FrameDecoder(1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (frame.kind !== FrameKind.control) continue;
        const parsed = parseRelayMessage(decodeControlPayload(frame.payload));
        if (!parsed.ok) throw new Error(`relay sent an invalid message: ${parsed.error}`);
        this.received.push(parsed.value);
        for (const waiter of [...this.waiters]) {
          if (waiter.match(parsed.value)) {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            clearTimeout(waiter.timer);
            waiter.resolve(parsed.value);
          }
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      for (const waiter of this.waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error('connection closed while waiting'));
      }
      this.waiters = [];
      for (const done of this.closeWaiters) done();
    });
  }

  /** `localAddress`: the source address to connect from (any 127.x.y.z reaches a relay on 127.0.0.1). */
  static open(
    port: number,
    options: { minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; localAddress?: string } = {},
  ): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      // tls.connect hands localAddress to net.connect; its type does not list it.
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options } as ConnectionOptions);
      socket.once('secureConnect', () => resolve(new WireClient(socket)));
      socket.once('error', reject);
    });
  }

  /** The welcome's challenge (after `hello`), for login proofs on this connection. */
  challenge: string | undefined;
  /** The identity this connection logged in with (set by `session` and `credentials`). */
  identity: Identity | undefined;

  /** Says hello and waits for the welcome (remembering its challenge). */
  async hello(): Promise<Extract<RelayMessage, { t: 'welcome' }>> {
    const welcome = this.next('welcome');
    this.send({ t: 'hello', v: 1 });
    const message = await welcome;
    this.challenge = message.challenge;
    return message;
  }

  /**
   * `keys` and `proof` for register/login as `user` on this connection (after `hello`): the
   * identity's signed bundle and its signature over the welcome's challenge bound to this TLS
   * session. Default identity: the process-wide one of `user` (identityOf).
   */
  async credentials(user: string, identity?: Identity): Promise<{ keys: PublicKeyBundle; proof: string }> {
    if (this.challenge === undefined) throw new Error('say hello first');
    const id = identity ?? (await identityOf(user));
    this.identity = id;
    return { keys: await publicBundle(id, user), proof: await signLoginChallenge(id, user, boundChallenge(this.challenge, this.socket)) };
  }

  /** A resume proof for `user` on this connection (after `hello`). */
  async resumeProof(user: string, identity?: Identity): Promise<string> {
    return (await this.credentials(user, identity)).proof;
  }

  /** Opens, says hello and logs in (registering first when asked) with keys and a login proof. */
  static async session(port: number, user: string, password = 'correct horse', register = true, identity?: Identity): Promise<WireClient> {
    const client = await WireClient.open(port);
    await client.hello();
    const joined = client.next('joined');
    joined.catch(() => {});
    const credentials = await client.credentials(user, identity);
    const reply = await client.request({ t: register ? 'register' : 'login', id: client.id(), user, password, ...credentials });
    if (reply.t !== 'session') throw new Error(`login failed: ${JSON.stringify(reply)}`);
    await joined;
    return client;
  }

  id(): string {
    return `r${this.nextId++}`;
  }

  /** Sends register or login as `user` with keys and a login proof; resolves with the answer (an error included). */
  async passwordAttempt(t: 'register' | 'login', user: string, password: string): Promise<RelayMessage> {
    return this.request({ t, id: this.id(), user, password, ...(await this.credentials(user)) });
  }

  send(message: ClientMessage): void {
    this.socket.write(encodeControl(message));
  }

  /** Sends a request and waits for the answer naming it (any type, errors included). */
  request(message: ClientMessage & { id: string }): Promise<RelayMessage> {
    const answer = this.waitFor((m) => 're' in m && m.re === message.id);
    this.send(message);
    return answer;
  }

  /** The next message of a type that arrives from now on. */
  next<T extends RelayMessage['t']>(type: T, timeoutMs = 5_000): Promise<Extract<RelayMessage, { t: T }>> {
    return this.waitFor((m) => m.t === type, timeoutMs) as Promise<Extract<RelayMessage, { t: T }>>;
  }

  waitFor(match: (m: RelayMessage) => boolean, timeoutMs = 5_000): Promise<RelayMessage> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('connection is closed'));
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error('timed out waiting for a message'));
      }, timeoutMs);
      this.waiters.push({ match, resolve, reject, timer });
    });
  }

  whenClosed(): Promise<void> {
    return this.closed ? Promise.resolve() : new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  close(): void {
    this.socket.destroy();
  }
}
