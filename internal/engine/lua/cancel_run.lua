-- cancel_run.lua (after log.lua): tells every replica to stop the active
-- run, if it is the one named (or any, for an empty name), by publishing
-- 'c' (msgCancel) and the run id on the agent's control channel, where the
-- cancel listeners are; and on its channel, where a replica of a release
-- before the control channel listens, so that a cancel reaches it during
-- a rolling deploy (the agent's subscriptions ignore it). With no active
-- run, a run paused for answers is closed instead, at once (close in
-- log.lua), if it is the one named.
--
-- KEYS[1] run, KEYS[2] meta, KEYS[3] log, KEYS[4] calls, KEYS[5] closes
-- ARGV[1] the run id, or '' for whichever run is active
-- ARGV[2] the agent's channel
-- ARGV[3] the history limit
-- ARGV[4] now, Unix nanoseconds
-- ARGV[5] a fresh epoch, used if the agent has none
-- ARGV[6] the agent's control channel
--
-- Returns name/value pairs: status 'cancelled' and run_id, the run asked to
-- stop, or closed 1 and the run_id of the paused run closed; or status
-- 'no_run' if no run is active or paused, or another one.

local id = redis.call('LINDEX', KEYS[1], 0)
if id then
  if ARGV[1] ~= '' and ARGV[1] ~= id then return {'status', 'no_run'} end
  redis.call('PUBLISH', ARGV[6], 'c' .. id)
  redis.call('PUBLISH', ARGV[2], 'c' .. id)
  return {'status', 'cancelled', 'run_id', id}
end
if redis.call('HEXISTS', KEYS[2], 'paused') == 0 then return {'status', 'no_run'} end
local paused = redis.call('HGET', KEYS[2], 'pausedrun') or ''
if ARGV[1] ~= '' and ARGV[1] ~= paused then return {'status', 'no_run'} end
close(KEYS[2], KEYS[3], KEYS[4], KEYS[5], 'c', tonumber(ARGV[3]), ARGV[4], ARGV[2], ARGV[5])
return {'status', 'cancelled', 'run_id', paused, 'closed', 1}
