/**
 * The prekey part of the durable-store contract (relay/store.ts "prekeys"), run by
 * test/integration/relay/store-contract.test.ts against every backend.
 */
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { toBase64 } from '../../shared/crypto/bytes.js';
import type { PublicKeyBundle } from '../../shared/crypto/identity.js';
import { PREKEY_LIMITS } from '../../shared/limits.js';
import type { PrekeyUpload } from '../../relay/prekey-records.js';
import type { RelayStore } from '../../relay/store.js';
import type { StoreBackend } from './store-backends.js';
import { rejectsWith } from './errors.js';

/** A 44-character base64 "key" that names its number (the store does not look inside). */
const fakeKey = (n: number): string => toBase64(new Uint8Array(32).fill(n % 256).map((b, i) => (i < 4 ? (n >> (8 * i)) & 0xff : b)));
const keys = (n: number): PublicKeyBundle => ({ v: 1, sign: fakeKey(n), box: fakeKey(n + 1), sig: toBase64(new Uint8Array(64).fill(n % 256)) });

export function upload(device: string, ids: number[], spkId = 1, identity = 7): PrekeyUpload {
  return {
    device,
    keys: keys(identity),
    signedPrekey: { id: spkId, key: fakeKey(1000 + spkId), sig: toBase64(new Uint8Array(64).fill(spkId)) },
    oneTime: ids.map((id) => ({ id, key: fakeKey(id) })),
  };
}

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

export function definePrekeyContract(
  spec: Test,
  backend: StoreBackend,
  withStore: (body: (store: RelayStore) => Promise<void>) => Promise<void>,
): void {
  spec('prekeys: put and claim; each one-time prekey handed out once, oldest first; counts; case-insensitive user', () =>
    withStore(async (store) => {
      assert.equal(await store.claimPrekeys('alice'), []);
      assert.is(await store.putPrekeys('Alice', upload('laptop', [1, 2, 3])), 3);
      assert.is(await store.putPrekeys('alice', upload('phone', [])), 0);
      const first = await store.claimPrekeys('ALICE');
      assert.equal(first.map((c) => c.bundle.device), ['laptop', 'phone']);
      assert.equal(first[0].bundle, { device: 'laptop', keys: keys(7), signedPrekey: upload('x', []).signedPrekey, oneTime: { id: 1, key: fakeKey(1) } });
      assert.is(first[0].remaining, 2);
      assert.is(first[1].bundle.oneTime, undefined, 'a device without one-time prekeys is listed without one');
      assert.is(first[1].remaining, 0);
      assert.equal((await store.claimPrekeys('alice'))[0].bundle.oneTime?.id, 2);
      assert.equal((await store.claimPrekeys('alice'))[0].bundle.oneTime?.id, 3);
      const empty = await store.claimPrekeys('alice');
      assert.is(empty[0].bundle.oneTime, undefined);
      assert.is(empty[0].bundle.signedPrekey.id, 1, 'the signed prekey stays');
      assert.equal(await store.claimPrekeys('bob'), []);
    }),
  );

  spec('prekeys: a new upload replaces the signed prekey and identity, adds one-time prekeys, skips ids it holds', () =>
    withStore(async (store) => {
      await store.putPrekeys('alice', upload('d1', [1, 2]));
      assert.is(await store.putPrekeys('alice', upload('d1', [2, 3, 4], 9, 8)), 4);
      const [claimed] = await store.claimPrekeys('alice');
      assert.is(claimed.bundle.signedPrekey.id, 9);
      assert.equal(claimed.bundle.keys, keys(8));
      assert.equal(claimed.bundle.oneTime, { id: 1, key: fakeKey(1) });
      assert.is(claimed.remaining, 3);
    }),
  );

  spec('prekeys: bounds (one-time prekeys per device, devices per user) refuse the whole upload', () =>
    withStore(async (store) => {
      const max = PREKEY_LIMITS.maxStoredOneTime;
      const per = PREKEY_LIMITS.maxOneTimePerUpload;
      let next = 1;
      while (next + per - 1 <= max) {
        await store.putPrekeys('alice', upload('d1', range(next, per)));
        next += per;
      }
      const error = await rejectsWith(store.putPrekeys('alice', upload('d1', [next], 5)), 'E_TOO_MANY_PREKEYS');
      assert.is(error.details.limit, 'one-time');
      assert.is((await store.claimPrekeys('alice'))[0].bundle.signedPrekey.id, 1, 'nothing of a refused upload is stored');
      assert.is(await store.putPrekeys('alice', upload('d1', [2, 3])), max - 1, 'ids already held are not counted (id 1 was claimed)');
      for (let d = 2; d <= PREKEY_LIMITS.maxDevicesPerUser; d++) await store.putPrekeys('alice', upload(`d${d}`, []));
      const devices = await rejectsWith(store.putPrekeys('alice', upload('one-too-many', [])), 'E_TOO_MANY_PREKEYS');
      assert.is(devices.details.limit, 'devices');
      await store.putPrekeys('alice', upload('d2', [1])); // a known device may still upload
      await rejectsWith(store.putPrekeys('alice', upload('bad device', [])), 'E_INTERNAL');
      await rejectsWith(store.putPrekeys('alice', upload('d1', [3, 3])), 'E_INTERNAL');
      await rejectsWith(store.putPrekeys('no:name', upload('d1', [])), 'E_INTERNAL');
    }),
  );

  spec('prekeys: concurrent claims never share a one-time prekey', () =>
    withStore(async (store) => {
      await store.putPrekeys('alice', upload('d1', range(1, 30)));
      await store.putPrekeys('alice', upload('d2', range(101, 10)));
      const claims = await Promise.all(Array.from({ length: 45 }, () => store.claimPrekeys('alice')));
      for (const device of ['d1', 'd2']) {
        const ids = claims.flatMap((c) => c.filter((x) => x.bundle.device === device).map((x) => x.bundle.oneTime?.id)).filter((id) => id !== undefined);
        assert.is(new Set(ids).size, ids.length, `${device}: no id twice`);
        assert.is(ids.length, device === 'd1' ? 30 : 10, `${device}: every one handed out`);
      }
    }),
  );

  spec('prekeys: durable across a reopen; removePrekeys forgets every device', async () => {
    let store = await backend.open();
    try {
      await store.putPrekeys('alice', upload('d1', [1, 2]));
      await store.putPrekeys('bob', upload('d1', [5]));
      await store.claimPrekeys('alice');
      await store.close();
      store = await backend.open();
      const [claimed] = await store.claimPrekeys('alice');
      assert.is(claimed.bundle.oneTime?.id, 2);
      await store.removePrekeys('ALICE');
      assert.equal(await store.claimPrekeys('alice'), []);
      assert.is((await store.claimPrekeys('bob'))[0].bundle.oneTime?.id, 5, 'other users keep theirs');
    } finally {
      await store.close();
    }
  });
}
