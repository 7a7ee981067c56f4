/**
 * The Lua scripts of the Redis store (relay/redis-store.ts). Each runs atomically inside Redis;
 * ioredis sends it with EVALSHA (EVAL once per connection, and again after a SCRIPT FLUSH or a
 * Redis restart). Numbers that go into stream ids are formatted with `%d`: Lua's default
 * number formatting switches to exponent notation past 14 digits.
 *
 * Some scripts touch keys they compute (the original message of a retried client id lives in
 * the log of the room it was first sent to). That is fine on one Redis (with replicas); it
 * would not be on Redis Cluster, which this store does not support.
 */

/**
 * Append one room message, or recognise a retried client id.
 * KEYS: 1 msgid key, 2 room seq counter, 3 room log stream.
 * ARGV: 1 retention (ms), 2 pub/sub channel, 3 message JSON up to `"seq":`, 4 the JSON after
 * the seq, 5 roomKey, 6 time (a JSON number), 7 key prefix.
 * Returns {1, message JSON} when stored now; {0, message JSON} for a retry;
 * {0, '', idempotency record} for a retry whose original is no longer in the log.
 */
export const APPEND_MESSAGE = `
local ref = redis.call('GET', KEYS[1])
if ref then
  local roomKey, seq = string.match(ref, '^{"roomKey":"([^"]*)","seq":(%d+)')
  if roomKey then
    local entries = redis.call('XRANGE', ARGV[7] .. 'room:' .. roomKey .. ':log', seq .. '-0', seq .. '-0')
    if entries[1] then return {0, entries[1][2][2]} end
  end
  return {0, '', ref}
end
local seq = string.format('%d', redis.call('INCR', KEYS[2]))
local message = ARGV[3] .. seq .. ARGV[4]
local added = redis.pcall('XADD', KEYS[3], seq .. '-0', 'm', message)
if type(added) == 'table' and added.err then
  -- Only a damaged log (an entry beyond the counter) gets here; leave no gap in the numbering.
  redis.call('DECR', KEYS[2])
  return added
end
redis.call('SET', KEYS[1], '{"roomKey":"' .. ARGV[5] .. '","seq":' .. seq .. ',"time":' .. ARGV[6] .. '}', 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[2], message)
return {1, message}
`;

/**
 * Create an account unless the name is taken.
 * KEYS: 1 account hash, 2 set of account keys. ARGV: 1 userKey, 2.. field/value pairs.
 * Returns 1 when created, 0 when the name is taken.
 */
export const CREATE_ACCOUNT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`;

/**
 * Set one field of an existing account. KEYS: 1 account hash. ARGV: 1 field, 2 value.
 * Returns 1, or 0 when there is no such account.
 */
export const SET_ACCOUNT_FIELD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * Delete an account and its tokens. KEYS: 1 account hash, 2 set of account keys, 3 the user's
 * token set. ARGV: 1 userKey, 2 token key prefix. Returns 1, or 0 when there is no such account.
 */
export const REMOVE_ACCOUNT = `
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', ARGV[2] .. hash) end
redis.call('DEL', KEYS[3])
return 1
`;

/** Revoke every token of a user. KEYS: 1 the user's token set. ARGV: 1 token key prefix. */
export const REVOKE_TOKENS = `
for _, hash in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('DEL', ARGV[1] .. hash) end
redis.call('DEL', KEYS[1])
return 1
`;

/**
 * Store a token hash. KEYS: 1 token key, 2 the user's token set.
 * ARGV: 1 value, 2 ttl (ms), 3 token hash, 4 token key prefix, 5 set size that triggers pruning.
 * The set lives as long as its longest-lived token; members whose token expired are pruned
 * once the set grows past ARGV[5], so frequent logins cannot grow it without bound.
 */
export const ISSUE_TOKEN = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
if redis.call('SCARD', KEYS[2]) > tonumber(ARGV[5]) then
  for _, hash in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    if redis.call('EXISTS', ARGV[4] .. hash) == 0 then redis.call('SREM', KEYS[2], hash) end
  end
end
return 1
`;

/**
 * Forget one token. KEYS: 1 token key. ARGV: 1 user token set prefix, 2 token hash.
 * The owner is read from the stored value, so no other user's set is touched.
 */
export const REVOKE_TOKEN = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
redis.call('DEL', KEYS[1])
local userKey = string.match(value, '"userKey":"([^"]*)"')
if userKey then redis.call('SREM', ARGV[1] .. userKey, ARGV[2]) end
return 1
`;

/** Index a room file. KEYS: 1 the room's file hash, 2 set of rooms with files. ARGV: 1 roomKey, 2 file id, 3 JSON. */
export const PUT_ROOM_FILE = `
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`;

/** Drop a room file from the index; the room leaves the set with its last file. Same keys and ARGV 1-2 as PUT_ROOM_FILE. */
export const DELETE_ROOM_FILE = `
redis.call('HDEL', KEYS[1], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
`;

/**
 * Append audit records and trim the log. KEYS: 1 the audit stream.
 * ARGV: 1 oldest id to keep (ms; approximate trim), 2 most entries to keep (approximate),
 * then pairs of (time in ms, record JSON).
 * Ids are `<time>-<n>` from the records' own times, forced to increase (several relays'
 * clocks differ a little), so the stream is in time order and trims by age with MINID.
 */
export const APPEND_AUDIT = `
local lastMs, lastSeq = -1, 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then
  local ms, n = string.match(last[1][1], '^(%d+)-(%d+)$')
  lastMs, lastSeq = tonumber(ms), tonumber(n)
end
for i = 3, #ARGV, 2 do
  local time = tonumber(ARGV[i])
  if time > lastMs then
    lastMs = time
    if time == 0 then lastSeq = 1 else lastSeq = 0 end
  else
    lastSeq = lastSeq + 1
  end
  redis.call('XADD', KEYS[1], string.format('%d-%d', lastMs, lastSeq), 'e', ARGV[i + 1])
end
redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2])
return (#ARGV - 2) / 2
`;
