-- conns.lua: what enter.lua and refresh.lua share. A subject's
-- connections key is a sorted set of connection ids, each scored with its
-- deadline in microseconds: the time it stops counting unless the replica
-- that holds it renews it first (its heartbeat). So the connections of a
-- replica that died stop counting by themselves, one time to live after
-- its last heartbeat.
--
-- ARGV[2] the time to live of a connection, in milliseconds

local ttl = tonumber(ARGV[2]) * 1000

-- expire sets the key to expire with its latest deadline, so that a
-- subject whose replicas all died leaves nothing behind.
local function expire(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then
    redis.call('PEXPIRE', key, math.max(1, math.ceil((tonumber(last[2]) - now) / 1000)))
  end
end
