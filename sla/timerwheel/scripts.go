package timerwheel

import "github.com/redis/go-redis/v9"

// Every script gets KEYS[1] = the due sorted set (id → due or lease score,
// unix ms) and KEYS[2] = the payload hash (id → "<due ms>:<payload>"). Both
// keys carry the prefix's {hash tag}, so each script touches one slot and
// runs unchanged on Redis Cluster.

// claimScript leases up to ARGV[3] timers due at ARGV[1] (ms) by moving
// their score to now+lease (ARGV[2]): another replica can claim them again
// only once the lease has run out, which is how a dead replica's timers come
// back. Returns {pending, lease, id1, value1, ...}, or {pending, next due}
// when nothing is due (next is -1 when the set is empty).
var claimScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local pending = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #first == 0 then return {pending, -1} end
  return {pending, tonumber(first[2])}
end
local lease = now + tonumber(ARGV[2])
local zargs = {}
for i, id in ipairs(ids) do
  zargs[2*i-1] = lease
  zargs[2*i] = id
end
redis.call('ZADD', KEYS[1], unpack(zargs))
local vals = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {pending, lease}
for i, id in ipairs(ids) do
  out[2*i+1] = id
  out[2*i+2] = vals[i]
end
return out
`)

// ackScript removes handled timers, but only if they still hold this claim
// (score = ARGV[1], the lease) and were not rescheduled meanwhile (value
// still starts with the claimed "<due>:" prefix). ARGV[2..] are id, prefix
// pairs. Returns how many were removed.
var ackScript = redis.NewScript(`
local lease = tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local s = redis.call('ZSCORE', KEYS[1], id)
  if s and tonumber(s) == lease then
    local v = redis.call('HGET', KEYS[2], id)
    local pre = ARGV[i+1]
    if v and string.sub(v, 1, #pre) == pre then
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[2], id)
      n = n + 1
    end
  end
end
return n
`)

// reconcileScript schedules timers (ARGV: id, due, value triples) that are
// missing or differ, and leaves equal ones alone, so a timer in flight keeps
// its lease. Returns how many it wrote.
var reconcileScript = redis.NewScript(`
local n = 0
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) ~= ARGV[i+2] or not redis.call('ZSCORE', KEYS[1], id) then
    redis.call('HSET', KEYS[2], id, ARGV[i+2])
    redis.call('ZADD', KEYS[1], ARGV[i+1], id)
    n = n + 1
  end
end
return n
`)
