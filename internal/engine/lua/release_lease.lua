-- release_lease.lua: deletes a lease if the caller still holds it, so that
-- a holder whose lease expired cannot release its successor's.
--
-- KEYS[1] lease
-- ARGV[1] the caller's lease token
--
-- Returns name/value pairs: status 'released', or 'not_held' if the token
-- is not the lease's (releasing a lost lease is no error).

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'status', 'released'}
end
return {'status', 'not_held'}
