-- begin_run.lua: publishes a run_started (or a step_started: the progress
-- is the step being written) and, if the caller holds the lease, begins
-- the run's progress anew: the run id first, then the event,
-- with the lease's time to live (renew_lease.lua extends both). The run's
-- later events are added by plain commands (see Redis.PublishRun).
--
-- KEYS[1] lease, KEYS[2] run
-- ARGV[1] the caller's lease token
-- ARGV[2] the channel message: 'e' (msgEvent), then the event as protobuf
-- ARGV[3] the run id
-- ARGV[4] the agent's channel
--
-- Returns name/value pairs: status 'recorded', or 'not_holder' if the
-- event was published but not recorded, the caller not holding the lease.

redis.call('PUBLISH', ARGV[4], ARGV[2])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'status', 'not_holder'} end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return {'status', 'not_holder'} end
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[3], string.sub(ARGV[2], 2))
redis.call('PEXPIRE', KEYS[2], ttl)
return {'status', 'recorded'}
