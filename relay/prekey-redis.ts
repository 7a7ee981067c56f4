/**
 * Prekeys in the RedisStore (`p` is the store's key prefix; device ids never contain `:`):
 *
 *   p pk:{userKey}:devices        hash  device -> {keys, signedPrekey} JSON
 *   p pk:{userKey}:otk:{device}   hash  one-time prekey id -> public key (base64)
 *   p pk:{userKey}:otq:{device}   list  one-time prekey ids, oldest first (the order they are handed out)
 *
 * Put and claim are one Lua script each, so two relays claiming for the same user never hand
 * out the same one-time prekey, and a put never exceeds the bounds. The scripts touch keys
 * they compute from the user's prefix (fine on one Redis, as the store's other scripts).
 */
import type { Redis } from 'ioredis';
import { PREKEY_LIMITS } from '../shared/limits.js';
import { nameKey } from '../shared/names.js';
import { checkUpload, toClaimed, tooManyPrekeys, type ClaimedPrekeys, type DeviceRecord, type PrekeyUpload } from './prekey-records.js';

/**
 * KEYS: 1 devices hash, 2 otk hash, 3 otq list. ARGV: 1 device, 2 record JSON, 3 max one-time
 * stored, 4 max devices, then id, key pairs. Returns the one-time prekeys now stored, -1 when
 * the device would be one too many, -2 when the one-time prekeys would be.
 */
export const PUT_PREKEYS = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
local fresh = 0
for i = 5, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then fresh = fresh + 1 end
end
if redis.call('HLEN', KEYS[2]) + fresh > tonumber(ARGV[3]) then return -2 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for i = 5, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then redis.call('RPUSH', KEYS[3], ARGV[i]) end
end
return redis.call('HLEN', KEYS[2])
`;

/**
 * KEYS: 1 devices hash. ARGV: 1 the user's key prefix (`p pk:{userKey}:`). For each device:
 * device, record JSON, the one-time prekey id taken ('' when none is left), its key, how many remain.
 */
export const CLAIM_PREKEYS = `
local devices = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #devices, 2 do
  local otk = ARGV[1] .. 'otk:' .. devices[i]
  local id = redis.call('LPOP', ARGV[1] .. 'otq:' .. devices[i])
  local key = false
  if id then
    key = redis.call('HGET', otk, id)
    redis.call('HDEL', otk, id)
  end
  table.insert(out, devices[i])
  table.insert(out, devices[i + 1])
  table.insert(out, id or '')
  table.insert(out, key or '')
  table.insert(out, redis.call('HLEN', otk))
end
return out
`;

/** KEYS: 1 devices hash. ARGV: 1 the user's key prefix. Deletes every device's prekeys. */
export const REMOVE_PREKEYS = `
local devices = redis.call('HKEYS', KEYS[1])
for _, device in ipairs(devices) do
  redis.call('DEL', ARGV[1] .. 'otk:' .. device, ARGV[1] .. 'otq:' .. device)
end
redis.call('DEL', KEYS[1])
return #devices
`;

interface PrekeyCommands {
  scPutPrekeys(devices: string, otk: string, otq: string, ...args: string[]): Promise<number>;
  scClaimPrekeys(devices: string, userPrefix: string): Promise<Array<string | number>>;
  scRemovePrekeys(devices: string, userPrefix: string): Promise<number>;
}

export class RedisPrekeys {
  private readonly redis: Redis & PrekeyCommands;

  constructor(redis: Redis, private readonly prefix: string) {
    redis.defineCommand('scPutPrekeys', { lua: PUT_PREKEYS, numberOfKeys: 3 });
    redis.defineCommand('scClaimPrekeys', { lua: CLAIM_PREKEYS, numberOfKeys: 1 });
    redis.defineCommand('scRemovePrekeys', { lua: REMOVE_PREKEYS, numberOfKeys: 1 });
    this.redis = redis as Redis & PrekeyCommands;
  }

  private userPrefix(user: string): string {
    return `${this.prefix}pk:${nameKey(user)}:`;
  }

  async put(user: string, upload: PrekeyUpload): Promise<number> {
    checkUpload(user, upload);
    const p = this.userPrefix(user);
    const record: DeviceRecord = { keys: upload.keys, signedPrekey: upload.signedPrekey };
    const pairs = upload.oneTime.flatMap((k) => [String(k.id), k.key]);
    const stored = await this.redis.scPutPrekeys(
      `${p}devices`, `${p}otk:${upload.device}`, `${p}otq:${upload.device}`,
      upload.device, JSON.stringify(record), String(PREKEY_LIMITS.maxStoredOneTime), String(PREKEY_LIMITS.maxDevicesPerUser), ...pairs,
    );
    if (stored === -1) throw tooManyPrekeys('devices');
    if (stored === -2) throw tooManyPrekeys('one-time');
    return stored;
  }

  async claim(user: string): Promise<ClaimedPrekeys[]> {
    const p = this.userPrefix(user);
    const flat = await this.redis.scClaimPrekeys(`${p}devices`, p);
    const out: ClaimedPrekeys[] = [];
    for (let i = 0; i + 4 < flat.length; i += 5) {
      const [device, json, id, key, remaining] = flat.slice(i, i + 5);
      const oneTime = id === '' ? undefined : { id: Number(id), key: String(key) };
      out.push(toClaimed(String(device), JSON.parse(String(json)) as DeviceRecord, oneTime, Number(remaining)));
    }
    return out.sort((a, b) => (a.bundle.device < b.bundle.device ? -1 : 1));
  }

  async removeUser(user: string): Promise<void> {
    const p = this.userPrefix(user);
    await this.redis.scRemovePrekeys(`${p}devices`, p);
  }
}
