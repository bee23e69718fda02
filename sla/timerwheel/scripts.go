package timerwheel

import "github.com/redis/go-redis/v9"

// Every script gets KEYS[1] = the due sorted set (id → due or lease score,
// unix ms) and KEYS[2] = the payload hash (id → "<due ms>:<payload>"). Both
// keys carry the prefix's {hash tag}, so each script touches one slot and
// runs unchanged on Redis Cluster.

// claimScript leases up to ARGV[3] timers due at ARGV[1] (ms) by moving
// their score to the lease score ARGV[2] (now+lease-0.5): another replica
// can claim them again only once the lease has run out, which is how a dead
// replica's timers come back. Schedule writes whole milliseconds, so the .5
// tells a claim from a reschedule. Returns {pending, next, id1, value1, ...};
// next is the earliest score rounded up when nothing was due, else -1 (also
// when the set is empty).
var claimScript = redis.NewScript(`
local pending = redis.call('ZCARD', KEYS[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #first == 0 then return {pending, -1} end
  return {pending, math.ceil(tonumber(first[2]))}
end
local zargs = {}
for i, id in ipairs(ids) do
  zargs[2*i-1] = ARGV[2]
  zargs[2*i] = id
end
redis.call('ZADD', KEYS[1], unpack(zargs))
local vals = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {pending, -1}
for i, id in ipairs(ids) do
  out[2*i+1] = id
  out[2*i+2] = vals[i]
end
return out
`)

// ackScript removes handled timers (ARGV[2..]) that still hold this claim's
// lease score ARGV[1]; one rescheduled or cancelled meanwhile no longer does
// and is left alone. It reads the lease's holders with one range query (a
// replica claiming in the same millisecond shares the score, hence the
// intersection) and removes with one ZREM and one HDEL, rather than three
// calls per timer. Returns how many were removed.
var ackScript = redis.NewScript(`
local held = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
local acked = {}
for i = 2, #ARGV do acked[ARGV[i]] = true end
local del = {}
for _, id in ipairs(held) do
  if acked[id] then del[#del+1] = id end
end
if #del == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(del))
redis.call('HDEL', KEYS[2], unpack(del))
return #del
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
