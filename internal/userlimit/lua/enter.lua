-- enter.lua: opens one connection of a subject if fewer than max are
-- open, after dropping the connections past their deadline. An id that is
-- open already (a call repeated after its reply was lost) stays open and
-- is renewed, so entering is idempotent.
--
-- KEYS[1] the subject's connections key (see conns.lua)
-- ARGV[1] see clock.lua; ARGV[2] see conns.lua
-- ARGV[3] max, the most connections the subject may hold
-- ARGV[4] the connection's id
--
-- Returns name/value pairs: status 'entered' or 'full', and open, the
-- subject's connections counted after the call.

local max = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', us(now))
local open = redis.call('ZCARD', KEYS[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  if open >= max then
    return {'status', 'full', 'open', open}
  end
  open = open + 1
end
redis.call('ZADD', KEYS[1], us(now + ttl), ARGV[4])
expire(KEYS[1])
return {'status', 'entered', 'open', open}
