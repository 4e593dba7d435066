-- append_reply.lua (after append.lua): appends a reply if the caller's
-- lease token is still the agent's lease (fencing: a replica whose lease
-- expired cannot append) and the message it answers is newer than every
-- answered one. The reply ends the active run, so its progress goes.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] lease, KEYS[4] run
-- ARGV[1] the event without seq and epoch (see append.lua)
-- ARGV[2] the caller's lease token
-- ARGV[3] the seq of the user message answered
-- ARGV[4] the history limit
-- ARGV[5] now, Unix nanoseconds
-- ARGV[6] the agent's channel
-- ARGV[7] a fresh epoch, used if the agent has none
--
-- Returns name/value pairs:
--   status 'appended', event: the stored event;
--   status 'lease_lost': the token is not the lease's;
--   status 'not_found': the agent has no log;
--   status 'already_answered': a message at or after ARGV[3] has an answer.

if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {'status', 'lease_lost'} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'status', 'not_found'} end
local answered = tonumber(redis.call('HGET', KEYS[1], 'answered') or '0')
if tonumber(ARGV[3]) <= answered then return {'status', 'already_answered'} end
redis.call('HSET', KEYS[1], 'answered', ARGV[3])
redis.call('DEL', KEYS[4])
local ev = append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7])
return {'status', 'appended', 'event', ev}
