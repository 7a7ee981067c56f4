/**
 * The relay's prekey service (docs/crypto.md "Prekeys on the relay"): a device publishes its
 * signed prekey and one-time prekeys, others claim a user's bundles (one one-time prekey per
 * device, handed out once by the store), and an owner whose device runs low is told to top up.
 * Public keys only; the relay checks what it can (the signature by the keys this connection
 * logged in with) and the clients check everything again (shared/crypto/prekeys.ts).
 */
import { fromBase64Strict } from '../shared/crypto/bytes.js';
import { verifySignedPrekey } from '../shared/crypto/prekeys.js';
import { ChatError } from '../shared/errors.js';
import { PREKEY_LIMITS, type Limits } from '../shared/limits.js';
import type { ClientMessageOf, RelayMessage } from '../shared/messages.js';
import { nameKey, validateUserName } from '../shared/names.js';
import type { ClusterBus } from './bus.js';
import type { RelayConnection } from './connection.js';
import type { RelayStore } from './store.js';

export interface PrekeyHost {
  store: RelayStore;
  bus: ClusterBus;
  limits: Limits;
  /** Sends to `userKey`'s connection on this relay, if it has one here. */
  notifyOwner(userKey: string, message: RelayMessage): void;
}

export class Prekeys {
  constructor(private readonly host: PrekeyHost) {}

  /** `prekeys`: checks the signed prekey against the account's keys (this login's), stores, answers how many are left. */
  async upload(connection: RelayConnection, message: ClientMessageOf<'prekeys'>): Promise<void> {
    const account = await this.host.store.getAccount(connection.userName);
    if (!account?.keys) throw new ChatError('E_NO_KEY', 'log in with identity keys before publishing prekeys');
    const signKey = fromBase64Strict(account.keys.sign, 32);
    if (!signKey) throw new ChatError('E_INTERNAL', 'stored identity keys are damaged');
    await verifySignedPrekey(signKey, account.name, message.device, message.signedPrekey);
    const ids = new Set<number>();
    for (const k of message.oneTime) {
      if (ids.has(k.id) || !fromBase64Strict(k.key, 32)) throw new ChatError('E_BAD_PREKEY', 'one-time prekeys need distinct ids and 32-byte keys');
      ids.add(k.id);
    }
    const remaining = await this.host.store.putPrekeys(account.name, {
      device: message.device,
      keys: account.keys,
      signedPrekey: message.signedPrekey,
      oneTime: message.oneTime,
    });
    connection.send({ t: 'prekeys-stored', re: message.id, device: message.device, remaining });
  }

  /** `prekey-claim`: every device's bundle of `user`; rate-limited per claimer; tells the owner when one runs low. */
  async claim(connection: RelayConnection, message: ClientMessageOf<'prekey-claim'>): Promise<void> {
    validateUserName(message.user);
    const { store, bus, limits } = this.host;
    const waitMs = await bus.take(`prekey-claim:${connection.userKey}`, limits.prekeyClaimsPerMinute / 60, limits.prekeyClaimBurst);
    if (waitMs > 0) throw new ChatError('E_RATE', `too many prekey claims; try again in ${Math.ceil(waitMs / 1000)} s`, { retryAfterMs: waitMs });
    const account = await store.getAccount(message.user);
    if (!account) throw new ChatError('E_NO_SUCH_USER', `there is no user ${message.user.slice(0, 64)}`);
    const claimed = await store.claimPrekeys(account.name);
    if (claimed.length === 0) throw new ChatError('E_NO_PREKEYS', `${account.name} has published no prekeys yet`);
    connection.send({ t: 'prekey-bundle', re: message.id, user: account.name, devices: claimed.map((c) => c.bundle) });
    for (const { bundle, remaining } of claimed) {
      if (remaining < PREKEY_LIMITS.oneTimeLowWater) this.host.notifyOwner(nameKey(account.name), { t: 'prekeys-low', device: bundle.device, remaining });
    }
  }
}
