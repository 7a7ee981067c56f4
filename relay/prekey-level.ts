/**
 * Prekeys in the LevelStore: sublevel `prekeys`, key `userKey '!' device`, value
 * `{keys, signedPrekey, oneTime: [{id, key}, ...]}` (oldest one-time prekey first). One process
 * owns the database, so a chain of promises makes each put and claim atomic: a claim reads
 * every device of the user and writes them back in one batch before the next operation starts.
 */
import type { Level } from 'level';
import type { OneTimePrekey } from '../shared/crypto/prekeys.js';
import { PREKEY_LIMITS } from '../shared/limits.js';
import { nameKey } from '../shared/names.js';
import { checkUpload, toClaimed, tooManyPrekeys, type ClaimedPrekeys, type DeviceRecord, type PrekeyUpload } from './prekey-records.js';

type Stored = DeviceRecord & { oneTime: OneTimePrekey[] };

export class LevelPrekeys {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly db;

  constructor(root: Level<string, unknown>) {
    this.db = root.sublevel<string, Stored>('prekeys', { valueEncoding: 'json' });
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work, work);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async devices(userKey: string): Promise<Array<[string, Stored]>> {
    const out: Array<[string, Stored]> = [];
    for await (const [key, value] of this.db.iterator({ gt: `${userKey}!`, lt: `${userKey}"` })) out.push([key, value]);
    return out;
  }

  async put(user: string, upload: PrekeyUpload): Promise<number> {
    checkUpload(user, upload);
    const userKey = nameKey(user);
    return this.serialize(async () => {
      const devices = await this.devices(userKey);
      const key = `${userKey}!${upload.device}`;
      const existing = devices.find(([k]) => k === key)?.[1];
      if (!existing && devices.length >= PREKEY_LIMITS.maxDevicesPerUser) throw tooManyPrekeys('devices');
      const oneTime = existing ? [...existing.oneTime] : [];
      const known = new Set(oneTime.map((k) => k.id));
      const fresh = upload.oneTime.filter((k) => !known.has(k.id));
      if (oneTime.length + fresh.length > PREKEY_LIMITS.maxStoredOneTime) throw tooManyPrekeys('one-time');
      oneTime.push(...fresh.map(({ id, key: k }) => ({ id, key: k })));
      await this.db.put(key, { keys: upload.keys, signedPrekey: upload.signedPrekey, oneTime } satisfies Stored);
      return oneTime.length;
    });
  }

  claim(user: string): Promise<ClaimedPrekeys[]> {
    const userKey = nameKey(user);
    return this.serialize(async () => {
      const devices = await this.devices(userKey);
      const batch = this.db.batch();
      const claimed = devices.map(([key, record]) => {
        const [first, ...rest] = record.oneTime;
        if (first) batch.put(key, { ...record, oneTime: rest });
        return toClaimed(key.slice(userKey.length + 1), record, first, rest.length);
      });
      await batch.write();
      return claimed;
    });
  }

  removeUser(user: string): Promise<void> {
    const userKey = nameKey(user);
    return this.serialize(async () => {
      const batch = this.db.batch();
      for (const [key] of await this.devices(userKey)) batch.del(key);
      await batch.write();
    });
  }
}
