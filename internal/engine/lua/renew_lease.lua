-- renew_lease.lua: extends a lease if the caller still holds it, and the
-- run progress written under it with it.
--
-- KEYS[1] lease, KEYS[2] run
-- ARGV[1] the caller's lease token
-- ARGV[2] the new time to live, in milliseconds
--
-- Returns name/value pairs: status 'renewed', or 'lease_lost' if the token
-- is not the lease's (or the lease expired).

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  if redis.call('PEXPIRE', KEYS[1], ARGV[2]) == 1 then
    return {'status', 'renewed'}
  end
end
return {'status', 'lease_lost'}
