-- append_reply.lua (after log.lua): appends a reply if the caller's
-- lease token is still the agent's lease (fencing: a replica whose lease
-- expired cannot append) and the message it answers is newer than every
-- answered one. The reply ends the active run, so its progress goes. Then,
-- if the caller asks, the lease is settled in the same step (see settle in
-- log.lua): kept with the next work, or released.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] lease, KEYS[4] run, KEYS[5] due
-- ARGV[1] the event without seq and epoch (see log.lua)
-- ARGV[2] the caller's lease token
-- ARGV[3] the seq of the user message answered
-- ARGV[4] the history limit
-- ARGV[5] now, Unix nanoseconds
-- ARGV[6] the agent's channel
-- ARGV[7] a fresh epoch, used if the agent has none
-- ARGV[8] the agent id, its member in the due index
-- ARGV[9] the lease's time to live if kept, in milliseconds; '0' leaves
--         the lease as it is, unsettled
-- ARGV[10] the context: events before the oldest waiting message wanted
-- ARGV[11] the most events the work carries
--
-- Returns name/value pairs:
--   status 'appended', seq and epoch of the stored event, and when
--   settled, work 'taken' with the work's page, or work 'released';
--   status 'lease_lost': the token is not the lease's;
--   status 'not_found': the agent has no log;
--   status 'already_answered': a message at or after ARGV[3] has an answer.

if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {'status', 'lease_lost'} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'status', 'not_found'} end
local answered = tonumber(redis.call('HGET', KEYS[1], 'answered') or '0')
local answers = tonumber(ARGV[3])
if answers <= answered then return {'status', 'already_answered'} end
redis.call('HSET', KEYS[1], 'answered', ARGV[3])
redis.call('DEL', KEYS[4])
local seq, epoch = append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], false)
local out = {'status', 'appended', 'seq', seq, 'epoch', epoch}
if tonumber(ARGV[9]) > 0 then
  extend(out, settle(KEYS[1], KEYS[2], KEYS[3], KEYS[5], ARGV[8], answers, ARGV[9],
    tonumber(ARGV[10]), tonumber(ARGV[11])))
end
return out
