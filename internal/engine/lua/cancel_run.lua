-- cancel_run.lua: tells every replica to stop the active run, if it is the
-- one named (or any, for an empty name), by publishing 'c' (msgCancel) and
-- the run id on the agent's channel.
--
-- KEYS[1] run
-- ARGV[1] the run id, or '' for whichever run is active
-- ARGV[2] the agent's channel
--
-- Returns name/value pairs: status 'cancelled' and run_id, the run asked to
-- stop; or status 'no_run' if no run is active, or another one.

local id = redis.call('LINDEX', KEYS[1], 0)
if not id or (ARGV[1] ~= '' and ARGV[1] ~= id) then return {'status', 'no_run'} end
redis.call('PUBLISH', ARGV[2], 'c' .. id)
return {'status', 'cancelled', 'run_id', id}
