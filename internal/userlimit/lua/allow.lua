-- allow.lua: counts one message of a subject under a rate, with the
-- generic cell rate algorithm (GCRA). The key holds the subject's
-- theoretical arrival time (tat): the time its allowance is spent to, at
-- one interval per message. A message fits if spending one more interval
-- leaves the tat no more than burst intervals ahead of now. A refused
-- message changes nothing. The key expires once the tat is reached, since
-- a tat in the past means the same as none: the whole burst is available.
-- It is kept at least keep_ms, so that Redis, whose own clock runs the
-- expiry, never drops it before the tat on a caller's clock (ARGV[1]) that
-- lags behind, as a test's does. (memory.go's gcra is the same in Go.)
--
-- KEYS[1] the subject's rate key
-- ARGV[1] see clock.lua
-- ARGV[2] the interval between messages, in microseconds (at least 1)
-- ARGV[3] the burst, in messages
--
-- Returns name/value pairs: status 'allowed'; or status 'refused' and
-- retry_after, the microseconds until the message would fit.

local keep_ms = 10000
local every = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0) or 0
if tat < now then tat = now end
local next = tat + every
local over = next - now - burst * every
if over > 0 then
  return {'status', 'refused', 'retry_after', over}
end
redis.call('SET', KEYS[1], us(next), 'PX', math.max(keep_ms, math.ceil((next - now) / 1000)))
return {'status', 'allowed'}
