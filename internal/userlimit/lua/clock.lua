-- clock.lua: the time of every script, in whole microseconds since the
-- Unix epoch, as the local `now`. It is Redis's own clock (TIME), so that
-- every replica's limits are kept by one clock however far the replicas'
-- clocks drift apart; a caller may pass its own instead (a test's clock),
-- as ARGV[1]. Every other script starts with this file.
--
-- ARGV[1] the caller's time in microseconds, or '' for Redis's
--
-- Numbers this large lose digits when Lua prints them (%.14g), so every
-- time written to Redis goes through us(), which prints them whole.

local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function us(n)
  return string.format('%d', n)
end
