/**
 * The Lua scripts of the shared login limiter (redis-login-limiter.ts). Each runs atomically in
 * Redis, so two relays counting failures of one address at once both count, and a success
 * clearing an account cannot interleave with a failure. Every script reads the clock from
 * Redis' TIME (ms): one clock for every relay.
 *
 * The scripts keep counters and answer with them; the decisions (how long to wait, whether an
 * address is still known) are LoginPolicy's, in TypeScript, the same code the in-memory limiter
 * runs. The one rule repeated here is counting (rule 1): a counter whose last failure is
 * `memory` ms old or more starts again from one (LoginPolicy.afterFailure).
 *
 * Keys (docs/storage.md, "Login limiter"): `P` is `<prefix>login:`.
 *   P fail:{member}     hash  n (failures), at (ms of the last failure)   PX failure memory
 *   P fails             zset  member -> at, every failure counter (the cap; oldest evicted)
 *   P known:{userKey}   zset  addressKey -> ms of the last success          PX known memory
 *   P known-pairs       zset  "userKey addressKey" -> that time (the cap in all)
 * A member is `a:{addressKey}` or `u:{userKey}`; a userKey is a valid name (no space), so the
 * first space of a pair separates the two. The scripts reach keys they compute from members
 * (eviction): fine on one Redis, not on Redis Cluster (as the bus scripts).
 */

/** One script; the number of keys varies (VIEW and REMEMBER take optional ones), so callers pass it. */
export interface LimiterScript {
  name: string;
  lua: string;
}

const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * The counters one decision reads. KEYS: address counter, then (a password login) the account
 * counter and the account's known addresses. ARGV: addressKey. Returns {now, address n, address
 * at, account n, account at, known at}, -1 where there is nothing.
 */
export const VIEW: LimiterScript = {
  name: 'view',
  lua: `${NOW}
local out = {now, -1, -1, -1, -1, -1}
local address = redis.call('HMGET', KEYS[1], 'n', 'at')
out[2] = tonumber(address[1]) or -1
out[3] = tonumber(address[2]) or -1
if KEYS[2] then
  local account = redis.call('HMGET', KEYS[2], 'n', 'at')
  out[4] = tonumber(account[1]) or -1
  out[5] = tonumber(account[2]) or -1
  out[6] = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[1])) or -1
end
return out
`,
};

/**
 * One failed password login. KEYS: address counter, account counter, the counters' index.
 * ARGV: failure memory (ms), most counters in all, counter key prefix (P fail:), address
 * member, account member. Expired index entries go first; then, while over the cap, the
 * counter with the oldest last failure.
 */
export const FAIL: LimiterScript = {
  name: 'fail',
  lua: `${NOW}
local memory = tonumber(ARGV[1])
local most = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - memory)
for i = 1, 2 do
  local state = redis.call('HMGET', KEYS[i], 'n', 'at')
  local n = tonumber(state[1])
  local at = tonumber(state[2])
  if n == nil or at == nil or now - at >= memory then n = 0 end
  redis.call('HSET', KEYS[i], 'n', string.format('%d', n + 1), 'at', string.format('%d', now))
  redis.call('PEXPIRE', KEYS[i], memory)
  redis.call('ZADD', KEYS[3], now, ARGV[3 + i])
  while redis.call('ZCARD', KEYS[3]) > most do
    local oldest = redis.call('ZPOPMIN', KEYS[3])
    redis.call('DEL', ARGV[3] .. oldest[1])
  end
end
redis.call('PEXPIRE', KEYS[3], memory)
return now
`,
};

/**
 * A success: the address becomes (or stays) known to the account; for a password login or a
 * registration (KEYS 3 and 4 given) the account's counter goes too (rule 6). KEYS: the
 * account's known addresses, the pairs' index, [account counter, counters' index]. ARGV:
 * addressKey, userKey, known memory (ms), most per account, most pairs in all, known key
 * prefix (P known:), account member. Within the account the least recently used address goes
 * first; in all, the least recently used pair.
 */
export const REMEMBER: LimiterScript = {
  name: 'remember',
  lua: `${NOW}
local memory = tonumber(ARGV[3])
local perAccount = tonumber(ARGV[4])
local most = tonumber(ARGV[5])
local user = ARGV[2]
if KEYS[3] then
  redis.call('DEL', KEYS[3])
  redis.call('ZREM', KEYS[4], ARGV[7])
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZADD', KEYS[2], now, user .. ' ' .. ARGV[1])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - memory)
local extra = redis.call('ZCARD', KEYS[1]) - #gone - perAccount
if extra > 0 then
  local lru = redis.call('ZRANGE', KEYS[1], #gone, #gone + extra - 1)
  for _, address in ipairs(lru) do table.insert(gone, address) end
end
for _, address in ipairs(gone) do
  redis.call('ZREM', KEYS[1], address)
  redis.call('ZREM', KEYS[2], user .. ' ' .. address)
end
redis.call('PEXPIRE', KEYS[1], memory)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - memory)
local over = redis.call('ZCARD', KEYS[2]) - most
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do
    local space = string.find(oldest[i], ' ', 1, true)
    redis.call('ZREM', ARGV[6] .. string.sub(oldest[i], 1, space - 1), string.sub(oldest[i], space + 1))
  end
end
redis.call('PEXPIRE', KEYS[2], memory)
return now
`,
};

export const LIMITER_SCRIPTS = [VIEW, FAIL, REMEMBER] as const;
