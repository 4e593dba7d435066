-- delete.lua: removes an agent's data, waiting work and entry in the
-- agents index, and tells every replica, whose subscriptions then end
-- with ErrDeleted. The subs hash is
-- left alone: each replica decrements its own count as those subscriptions
-- end, which brings the hash back to empty (see presence).
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] idem, KEYS[4] lease, KEYS[5] run,
-- KEYS[6] due, KEYS[7] the agents index, KEYS[8] calls, KEYS[9] closes
-- ARGV[1] the agent's channel, on which 'd' (msgDeleted) is published
-- ARGV[2] the agent id, its member in the due and agents indexes
-- ARGV[3] the agent's control channel, on which 'd' is published too
--
-- Returns name/value pairs: status 'deleted', or 'not_found' if the agent
-- has no log.

if redis.call('EXISTS', KEYS[1]) == 0 then return {'status', 'not_found'} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[8], KEYS[9])
redis.call('ZREM', KEYS[6], ARGV[2])
redis.call('ZREM', KEYS[7], ARGV[2])
redis.call('PUBLISH', ARGV[1], 'd')
redis.call('PUBLISH', ARGV[3], 'd')
return {'status', 'deleted'}
