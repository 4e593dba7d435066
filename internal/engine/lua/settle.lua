-- settle.lua (after log.lua): settles the caller's lease once it has
-- nothing left to answer up to a seq (see settle in log.lua): the lease is
-- kept with the work that waits after it, or released.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] lease, KEYS[4] due
-- ARGV[1] the caller's lease token
-- ARGV[2] seen: the newest seq the caller looked at
-- ARGV[3] the agent id, its member in the due index
-- ARGV[4] the lease's time to live if kept, in milliseconds
-- ARGV[5] the context: events before the oldest waiting message wanted
-- ARGV[6] the most events the work carries
--
-- Returns name/value pairs: status 'settled', then work 'taken' with the
-- work's page, or work 'released'; or status 'lease_lost' if the token is
-- not the lease's.

if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'status', 'lease_lost'} end
return extend({'status', 'settled'}, settle(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[3],
  tonumber(ARGV[2]), ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])))
