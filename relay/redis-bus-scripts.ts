/**
 * The Lua scripts of the Redis bus. Each runs atomically in Redis, so a check and the change it
 * guards (compare-and-delete, "remove the member, and publish the leave only if we removed it")
 * cannot interleave with another relay's. Values are the JSON of redis-bus-wire.ts.
 *
 * Scripts read keys they compute (a relay's liveness key from a member's relayId): fine on one
 * Redis (our deployment), not on Redis Cluster, which would need every key in KEYS.
 * A PUBLISH inside a script is not written to the AOF (Redis 7 propagates a script's effects,
 * and PUBLISH goes to replicas only), and these scripts publish user keys and names only.
 */

/** One script: its source and how many of its arguments are keys. */
export interface BusScript {
  name: string;
  keys: number;
  lua: string;
}

/**
 * Token bucket. KEYS: bucket hash. ARGV: perSecond, burst, most (tokens wanted, at least 1).
 * Returns {taken, wait}: taken = min(most, whole tokens there); when none, wait = the ms until
 * one is free, or -1 (never: no refill). The clock is the Redis server's TIME: one clock for
 * every relay, so relays whose clocks differ can neither mint tokens nor starve a bucket. An
 * idle bucket expires once it would be full again: a missing bucket starts full, the same.
 */
export const TAKE: BusScript = {
  name: 'take',
  keys: 1,
  lua: `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local most = math.max(1, tonumber(ARGV[3]) or 1)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
at = math.max(at, now)
local taken = math.min(most, math.floor(tokens))
local wait = 0
if taken >= 1 then
  tokens = tokens - taken
elseif rate <= 0 then
  wait = -1
else
  wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%d', at))
local idle = 86400000
if rate > 0 then idle = math.ceil((burst - tokens) * 1000 / rate) + 1000 end
redis.call('PEXPIRE', KEYS[1], idle)
return {taken, wait}
`,
};

/**
 * Claims a session. KEYS: user key. ARGV: relayId, location JSON, inbox channel prefix,
 * replaced event JSON. Publishes `replaced` to the relay that held the user, if another one.
 */
export const CLAIM: BusScript = {
  name: 'claim',
  keys: 1,
  lua: `
local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[2])
if old then
  local ok, prev = pcall(cjson.decode, old)
  if ok and type(prev) == 'table' and type(prev.relayId) == 'string' and prev.relayId ~= ARGV[1] then
    redis.call('PUBLISH', ARGV[3] .. prev.relayId, ARGV[4])
    return prev.relayId
  end
end
return false
`,
};

/** Shared head of the scripts that act only when the user key points at this relay (ARGV[1]). */
const OWNED = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, location = pcall(cjson.decode, current)
if not ok or type(location) ~= 'table' or location.relayId ~= ARGV[1] then return 0 end
`;

/** KEYS: user key. ARGV: relayId, new location JSON. */
export const SET_ROOM: BusScript = { name: 'setRoom', keys: 1, lua: `${OWNED}\nredis.call('SET', KEYS[1], ARGV[2])\nreturn 1` };

/** KEYS: user key. ARGV: relayId. Compare-and-delete. */
export const RELEASE: BusScript = { name: 'release', keys: 1, lua: `${OWNED}\nredis.call('DEL', KEYS[1])\nreturn 1` };

/**
 * KEYS: user key. ARGV: relay key prefix, liveness suffix. The location, or nil; a location on a
 * relay whose lease lapsed (or an unreadable one) is deleted on the way (the lazy clean-up).
 */
export const LOCATE: BusScript = {
  name: 'locate',
  keys: 1,
  lua: `
local current = redis.call('GET', KEYS[1])
if not current then return false end
local ok, location = pcall(cjson.decode, current)
if not ok or type(location) ~= 'table' or type(location.relayId) ~= 'string'
    or redis.call('EXISTS', ARGV[1] .. location.relayId .. ARGV[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return false
end
return current
`,
};

/**
 * KEYS: members hash, rooms hash. ARGV: roomKey, roomName, userKey, member JSON, silent (1/0),
 * room channel, userName. The room keeps the display name it was created with.
 */
export const ENTER: BusScript = {
  name: 'enter',
  keys: 2,
  lua: `
redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
if ARGV[5] == '0' then
  local name = redis.call('HGET', KEYS[2], ARGV[1])
  redis.call('PUBLISH', ARGV[6], cjson.encode({ t = 'presence', room = name, user = ARGV[7], event = 'join' }))
end
return 1
`,
};

/** Shared head: the member ARGV[3] of hash KEYS[1], only when they are listed on relay ARGV[1]. */
const OWN_MEMBER = `
local current = redis.call('HGET', KEYS[1], ARGV[3])
if not current then return 0 end
local ok, member = pcall(cjson.decode, current)
if not ok or type(member) ~= 'table' or member.relayId ~= ARGV[1] then return 0 end
`;

/** KEYS: members hash. ARGV: relayId, roomKey, userKey, until (epoch ms). */
export const STEP_AWAY: BusScript = {
  name: 'stepAway',
  keys: 1,
  lua: `${OWN_MEMBER}
member.away = true
member['until'] = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[3], cjson.encode(member))
return 1
`,
};

/**
 * KEYS: members hash, rooms hash. ARGV: relayId, roomKey, userKey, away text ('' clears it),
 * room channel, roomName, userName. Sets the member's `awayText` if listed on this relay, and
 * only then publishes it to the room (with the room's own spelling); 1 when set.
 */
export const SET_AWAY: BusScript = {
  name: 'setAway',
  keys: 2,
  lua: `${OWN_MEMBER}
local text = nil
if ARGV[4] ~= '' then text = ARGV[4] end
member.awayText = text
redis.call('HSET', KEYS[1], ARGV[3], cjson.encode(member))
local name = redis.call('HGET', KEYS[2], ARGV[2]) or ARGV[6]
redis.call('PUBLISH', ARGV[5], cjson.encode({ t = 'away', room = name, user = ARGV[7], text = text }))
return 1
`,
};

/**
 * KEYS: members hash, rooms hash. ARGV: relayId, roomKey, userKey, roomName, userName, room
 * channel, global room key. Removes the member if listed on this relay (a user who came back
 * on another relay meanwhile stays), publishes the leave only then; 1 when the chatroom ended.
 */
export const LEAVE: BusScript = {
  name: 'leave',
  keys: 2,
  lua: `${OWN_MEMBER}
redis.call('HDEL', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[6], cjson.encode({ t = 'presence', room = ARGV[4], user = ARGV[5], event = 'leave' }))
if ARGV[2] ~= ARGV[7] and redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  return 1
end
return 0
`,
};

/**
 * The presence sweep of one room, safe on every relay at once. KEYS: members hash, rooms hash.
 * ARGV: relay key prefix, liveness suffix, now (epoch ms), graceMs, room channel, roomKey,
 * global room key, a relay to count as gone ('' for none: a relay starting over counts its
 * own leftovers as gone). Members on a relay whose lease lapsed turn away until now + grace;
 * away members whose grace ended are removed, and their leave published, here and only here
 * (HDEL in the same atomic step decides). Returns the number of leaves published.
 */
export const SWEEP: BusScript = {
  name: 'sweep',
  keys: 2,
  lua: `
local now = tonumber(ARGV[3])
local entries = redis.call('HGETALL', KEYS[1])
local left = 0
local alive = {}
for i = 1, #entries, 2 do
  local userKey = entries[i]
  local ok, member = pcall(cjson.decode, entries[i + 1])
  if not ok or type(member) ~= 'table' or type(member.relayId) ~= 'string' then
    redis.call('HDEL', KEYS[1], userKey)
  elseif member.away then
    if type(member['until']) ~= 'number' or member['until'] <= now then
      redis.call('HDEL', KEYS[1], userKey)
      local name = redis.call('HGET', KEYS[2], ARGV[6]) or ARGV[6]
      redis.call('PUBLISH', ARGV[5], cjson.encode({ t = 'presence', room = name, user = member.userName, event = 'leave' }))
      left = left + 1
    end
  else
    local relay = member.relayId
    if alive[relay] == nil then
      alive[relay] = relay ~= ARGV[8] and redis.call('EXISTS', ARGV[1] .. relay .. ARGV[2]) == 1
    end
    if not alive[relay] then
      member.away = true
      member['until'] = now + tonumber(ARGV[4])
      redis.call('HSET', KEYS[1], userKey, cjson.encode(member))
    end
  end
end
if ARGV[6] ~= ARGV[7] and redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('HDEL', KEYS[2], ARGV[6])
end
return left
`,
};

/** KEYS: rooms hash. ARGV: members key prefix, members key suffix, global room key. Flat [key, name, count, ...]. */
export const CHATROOMS: BusScript = {
  name: 'chatrooms',
  keys: 1,
  lua: `
local rooms = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #rooms, 2 do
  if rooms[i] ~= ARGV[3] then
    local count = redis.call('HLEN', ARGV[1] .. rooms[i] .. ARGV[2])
    if count > 0 then
      table.insert(out, rooms[i])
      table.insert(out, rooms[i + 1])
      table.insert(out, count)
    end
  end
end
return out
`,
};

/**
 * Renews the liveness key. KEYS: liveness key. ARGV: this relay instance's token, leaseMs. 1 when
 * the lease was still held, 0 when it had lapsed (other relays may have counted this one as
 * gone), -1 when another instance holds it (two relays started with one id): nothing changed.
 */
export const RENEW: BusScript = {
  name: 'renew',
  keys: 1,
  lua: `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if holder then return 1 end
return 0
`,
};

/** Redis' clock in ms, for scripts: one clock for every relay. */
const REDIS_NOW = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

/**
 * Issues a ticket. KEYS: ticket hash, owner's ticket index (sorted set: ticket digest by expiry).
 * ARGV: ticket digest, owner key, record, ttlMs, maxPerOwner. 1 when issued, 0 when the owner
 * holds too many live tickets of this kind.
 */
export const ISSUE_TICKET: BusScript = {
  name: 'issueTicket',
  keys: 2,
  lua: `
${REDIS_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'record', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
`,
};

/**
 * Takes a ticket, once. KEYS: ticket hash. ARGV: owner index prefix (the owner key follows it),
 * ticket digest. The record, or nil when unknown, used or expired (Redis expires the hash).
 */
export const REDEEM_TICKET: BusScript = {
  name: 'redeemTicket',
  keys: 1,
  lua: `
local found = redis.call('HMGET', KEYS[1], 'owner', 'record')
if not found[1] or not found[2] then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. found[1], ARGV[2])
return found[2]
`,
};

/** KEYS: owner's ticket index. ARGV: ticket hash prefix. The records of the owner's live tickets. */
export const LIVE_TICKETS: BusScript = {
  name: 'liveTickets',
  keys: 1,
  lua: `
${REDIS_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, digest in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local record = redis.call('HGET', ARGV[1] .. digest, 'record')
  if record then table.insert(out, record) end
end
return out
`,
};

/**
 * One side of a relay pipe arrives. KEYS: partner's waiting key, own waiting key. ARGV: relayId,
 * waitMs. Returns the partner's relay id (and takes its place), '' when now waiting here, or
 * '!' when this side already waits somewhere.
 */
export const MEET_PIPE: BusScript = {
  name: 'meetPipe',
  keys: 2,
  lua: `
local partner = redis.call('GET', KEYS[1])
if partner then
  redis.call('DEL', KEYS[1])
  return partner
end
if not redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2], 'NX') then return '!' end
return ''
`,
};

export const BUS_SCRIPTS = [TAKE, CLAIM, SET_ROOM, RELEASE, LOCATE, ENTER, STEP_AWAY, SET_AWAY, LEAVE, SWEEP, CHATROOMS, RENEW, ISSUE_TICKET, REDEEM_TICKET, LIVE_TICKETS, MEET_PIPE] as const;
