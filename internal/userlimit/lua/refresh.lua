-- refresh.lua: a replica's heartbeat for one subject: renews the deadline
-- of the subject's connections it holds. It adds the ones Redis does not
-- know (opened while Redis could not be reached, or lost when it
-- restarted), since the replica's own list is the truth about them.
--
-- KEYS[1] the subject's connections key (see conns.lua)
-- ARGV[1] see clock.lua; ARGV[2] see conns.lua
-- ARGV[3...] the ids of the connections the replica holds
--
-- Returns name/value pairs: status 'refreshed'.

local deadline = us(now + ttl)
local args = {}
for i = 3, #ARGV do
  args[#args + 1] = deadline
  args[#args + 1] = ARGV[i]
end
if #args > 0 then
  redis.call('ZADD', KEYS[1], unpack(args))
  expire(KEYS[1])
end
return {'status', 'refreshed'}
