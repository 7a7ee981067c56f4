/**
 * Who a connection is: the hello/welcome handshake, registration, password login and resume
 * by token, each checked the same way (account rules, the login limiter, the proof that the
 * client holds the signing key of the keys it uploads, the audit log). Each check resolves
 * with the account's name or throws a ChatError; making that name the connection's session
 * (replacing an older one, rooms, held messages) is the host's job (host.ts authenticate).
 */
import { randomBytes } from 'node:crypto';
import { checkLoginPassword, validateRegistration } from '../shared/account-rules.js';
import { sameKeys, verifyLoginChallenge, verifyPublicBundle, type PublicKeyBundle } from '../shared/crypto/identity.js';
import { ChatError } from '../shared/errors.js';
import type { Limits } from '../shared/limits.js';
import { PROTOCOL_VERSION, type ClientMessageOf } from '../shared/messages.js';
import { nameKey, validateUserName } from '../shared/names.js';
import type { ClusterBus } from './bus.js';
import type { RelayConnection } from './connection.js';
import { addressKey, type LoginLimiter } from './login-limiter.js';
import type { PasswordHasher } from './passwords.js';
import type { RelayStore } from './store.js';

export interface AccountsOptions {
  store: RelayStore;
  bus: ClusterBus;
  hasher: PasswordHasher;
  limiter: LoginLimiter;
  limits: Limits;
  registration: 'open' | 'closed';
  serverName: string;
}

function sameBundle(a: PublicKeyBundle | undefined, b: PublicKeyBundle): boolean {
  return a !== undefined && a.sign === b.sign && a.box === b.box && a.sig === b.sig;
}

export class Accounts {
  constructor(private readonly options: AccountsOptions) {}

  /** Answers `hello` with the login challenge (or closes a client of another protocol version). */
  welcome(connection: RelayConnection, message: ClientMessageOf<'hello'>): void {
    if (message.v !== PROTOCOL_VERSION) {
      connection.sendError('E_VERSION', `this relay speaks protocol version ${PROTOCOL_VERSION}, not ${message.v}; update securechat`);
      connection.close('E_VERSION', `protocol version ${message.v} is not supported`);
      return;
    }
    connection.advance('hello-ok');
    connection.challenge = randomBytes(32).toString('base64');
    connection.send({
      t: 'welcome',
      v: PROTOCOL_VERSION,
      server: this.options.serverName,
      registration: this.options.registration,
      challenge: connection.challenge,
      observed: connection.address.replace(/^::ffff:/, ''),
    });
  }

  /** Creates the account; resolves with its name. */
  async register(connection: RelayConnection, message: ClientMessageOf<'register'>): Promise<string> {
    const { limits, store, hasher } = this.options;
    if (this.options.registration === 'closed') throw new ChatError('E_REGISTRATION_CLOSED', 'this relay does not accept new accounts; ask its operator');
    const name = validateRegistration(message.user, message.password, limits);
    await this.checkLoginRate(connection);
    if (await store.getAccount(name)) throw new ChatError('E_USER_EXISTS', `the name ${name} is taken; if it is yours, log in instead (leave out --register, or untick "create a new account")`);
    await this.checkKeyProof(connection, name, message.keys, message.proof);
    const hash = await hasher.hash(message.password);
    await store.createAccount(name, hash, message.keys);
    await this.options.limiter.recordSuccess(connection.address, nameKey(name));
    store.audit({ event: 'register', user: name, address: connection.address });
    return name;
  }

  /** Checks name and password (and takes the keys the client uploads); resolves with the account's name. */
  async login(connection: RelayConnection, message: ClientMessageOf<'login'>): Promise<string> {
    const { store, hasher, limiter, limits } = this.options;
    checkLoginPassword(message.password, limits);
    const userKey = nameKey(message.user);
    await this.checkLoginRate(connection, userKey);
    const account = await store.getAccount(message.user);
    const valid = account ? !account.disabled && (await hasher.verify(account.passwordHash, message.password)) : await hasher.verifyDummy(message.password);
    if (!account || !valid) {
      await limiter.recordFailure(connection.address, userKey);
      store.audit({ event: 'login-failed', user: message.user.slice(0, 64), address: connection.address });
      throw new ChatError('E_AUTH', 'wrong user name or password');
    }
    await this.checkKeyProof(connection, account.name, message.keys, message.proof);
    if (!sameBundle(account.keys, message.keys)) {
      // A new device (or reinstalled client): contacts will see the key change and must re-verify.
      // The same keys signed again (a client that now publishes prekeys signs version 2) are no change.
      await store.setKeys(account.name, message.keys);
      if (account.keys && !sameKeys(account.keys, message.keys)) store.audit({ event: 'keys-changed', user: account.name, address: connection.address });
    }
    await limiter.recordSuccess(connection.address, userKey);
    store.audit({ event: 'login', user: account.name, address: connection.address });
    return account.name;
  }

  /** Checks a resume token (and the key proof); resolves with the account's name. */
  async resume(connection: RelayConnection, message: ClientMessageOf<'resume'>): Promise<string> {
    const { store, limiter, limits, bus } = this.options;
    // No login delay and no failure count: a token is 256 random bits, so a delay would
    // protect nothing and only let others lock the owner out (relay/login-limiter.ts, rule 5).
    // Resumes are bounded per address, not per user: failed resumes from elsewhere must not lock the owner out.
    const waitMs = await bus.take(`resume:${addressKey(connection.address)}`, limits.resumesPerMinute / 60, limits.resumeBurst);
    if (waitMs > 0) throw new ChatError('E_RATE', `too many resumes; try again in ${Math.ceil(waitMs / 1000)} s`, { retryAfterMs: waitMs });
    const account = await store.getAccount(message.user);
    const proofOk = !account?.keys || (message.proof !== undefined && (await this.proofValid(connection, account.name, account.keys, message.proof)));
    if (!account || account.disabled || !proofOk || !(await store.checkToken(account.name, message.token))) {
      store.audit({ event: 'resume-failed', user: message.user.slice(0, 64), address: connection.address });
      throw new ChatError('E_BAD_TOKEN', 'the session expired; log in again');
    }
    await limiter.rememberAddress(connection.address, nameKey(account.name));
    store.audit({ event: 'resume', user: account.name, address: connection.address });
    return account.name;
  }

  /** Answers `keys`: a user's published public keys. */
  async publicKeys(connection: RelayConnection, message: ClientMessageOf<'keys'>): Promise<void> {
    const account = await this.options.store.getAccount(message.user);
    if (!account) throw new ChatError('E_NO_SUCH_USER', `there is no user ${message.user.slice(0, 64)}`);
    if (!account.keys) throw new ChatError('E_NO_KEY', `${account.name} has not published encryption keys yet`);
    connection.send({ t: 'keys', re: message.id, user: account.name, keys: account.keys });
  }

  /**
   * `key-batch`: the keys of up to MAX_KEYS_PER_REQUEST users in one answer (the schema bounds
   * the list). One invalid name refuses the whole request (`E_BAD_NAME`), as `keys` would;
   * names asked twice (in any case) are answered once; users without an account or without
   * keys are listed under `missing` with the code `keys` would have answered.
   */
  async publicKeysBatch(connection: RelayConnection, message: ClientMessageOf<'key-batch'>): Promise<void> {
    const wanted = new Map<string, string>();
    for (const user of message.users) {
      validateUserName(user);
      if (!wanted.has(nameKey(user))) wanted.set(nameKey(user), user);
    }
    const accounts = await this.options.store.getAccounts([...wanted.values()]);
    const found: Array<{ user: string; keys: PublicKeyBundle }> = [];
    const missing: Array<{ user: string; code: 'E_NO_SUCH_USER' | 'E_NO_KEY' }> = [];
    [...wanted.values()].forEach((user, i) => {
      const account = accounts[i];
      if (!account) missing.push({ user, code: 'E_NO_SUCH_USER' });
      else if (!account.keys) missing.push({ user: account.name, code: 'E_NO_KEY' });
      else found.push({ user: account.name, keys: account.keys });
    });
    connection.send({ t: 'key-batch', re: message.id, found, missing });
  }

  /** Checks uploaded public keys and the proof that the client holds their signing key. */
  private async checkKeyProof(connection: RelayConnection, userName: string, keys: PublicKeyBundle, proof: string): Promise<void> {
    await verifyPublicBundle(userName, keys);
    if (!(await this.proofValid(connection, userName, keys, proof))) {
      throw new ChatError('E_AUTH', 'the login proof does not match the uploaded keys');
    }
  }

  private async proofValid(connection: RelayConnection, userName: string, keys: PublicKeyBundle, proof: string): Promise<boolean> {
    if (!connection.challenge) return false;
    // Every bundle reaching here was verified: just now (checkKeyProof) or before it was stored.
    return verifyLoginChallenge(keys, userName, connection.loginChallenge(), proof, { bundleAlreadyVerified: true });
  }

  /** Login delays (relay/login-limiter.ts): with `userKey` a password login, without it a registration. */
  private async checkLoginRate(connection: RelayConnection, userKey?: string): Promise<void> {
    const { limiter } = this.options;
    const verdict = userKey === undefined ? await limiter.checkAddress(connection.address) : await limiter.check(connection.address, userKey);
    if (!verdict.allowed) {
      this.options.store.audit({ event: 'rate-limited', user: userKey, address: connection.address });
      throw new ChatError('E_RATE', `too many failed logins; try again in ${Math.ceil(verdict.retryAfterMs / 1000)} s`, {
        retryAfterMs: verdict.retryAfterMs,
      });
    }
  }
}
