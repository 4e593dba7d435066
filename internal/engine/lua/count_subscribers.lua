-- count_subscribers.lua: adds to a replica's subscriber count of one agent
-- and drops the field when it reaches zero, so that the hash empties
-- itself. Counts change only by increments, which commute, so concurrent
-- changes never lose an update (see presence).
--
-- KEYS[1] subs
-- ARGV[1] the replica epoch
-- ARGV[2] the change, an integer
--
-- Returns name/value pairs: count, the replica's count after the change.

local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return {'count', n}
