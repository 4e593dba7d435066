-- append_user.lua (after append.lua): appends a user message unless its
-- idempotency key was used before, in which case the stored original is
-- returned and nothing is appended.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] idem
-- ARGV[1] the event without seq and epoch (see append.lua)
-- ARGV[2] the idempotency key, or '' for none
-- ARGV[3] the history limit
-- ARGV[4] now, Unix nanoseconds
-- ARGV[5] the agent's channel
-- ARGV[6] a fresh epoch, used if the agent has none
--
-- Returns name/value pairs:
--   status 'appended', event: the stored event;
--   status 'duplicate', event: the original stored under the key.

if ARGV[2] ~= '' then
  local prev = redis.call('HGET', KEYS[3], ARGV[2])
  if prev then return {'status', 'duplicate', 'event', prev} end
end
local ev = append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ev) end
return {'status', 'appended', 'event', ev}
