-- answer_call.lua (after log.lua): appends the answer to what the paused
-- run waits for under a key, if it waits for that kind of answer (and,
-- when the caller names one, that approval), and forgets the key: each key
-- is answered once, whoever answers and wherever. If it was the last, the
-- run becomes the one to resume (meta's resume), the agent joins the due
-- index and, if the caller asks and the reply lease is free, the caller
-- takes the lease with the work, in the same step.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] calls, KEYS[4] closes, KEYS[5] lease,
-- KEYS[6] due
-- ARGV[1] the key answered
-- ARGV[2] the kind of answer: 'result' or 'decision'
-- ARGV[3] the approval id the answer names, or '' for none
-- ARGV[4] the history limit
-- ARGV[5] now, Unix nanoseconds
-- ARGV[6] the agent's channel
-- ARGV[7] a fresh epoch, used if the agent has none
-- ARGV[8] the agent id, its member in the due index
-- ARGV[9] a lease token to take the lease with, or '' to take nothing
-- ARGV[10] the lease's time to live, in milliseconds
-- ARGV[11] the context: events before the oldest waiting message wanted
-- ARGV[12] the most events the work carries
-- ARGV[13] n, the number of events; then n events without seq and epoch
--
-- Returns name/value pairs:
--   status 'answered', seqs and epoch of the events stored; resumed 1 if
--   this was the last answer, with work 'taken' and the work's page if the
--   lease was taken;
--   status 'not_pending': nothing is pending under the key;
--   status 'awaits_result' or 'awaits_decision': the key waits for the
--   other kind of answer;
--   status 'approval_mismatch': the approval id is not the pending one's.

local v = redis.call('HGET', KEYS[3], ARGV[1])
if not v then return {'status', 'not_pending'} end
local p = cjson.decode(v)
if p.k ~= ARGV[2] then return {'status', 'awaits_' .. p.k} end
if ARGV[3] ~= '' and ARGV[3] ~= (p.a or '') then return {'status', 'approval_mismatch'} end
local n = tonumber(ARGV[13])
local seqs, epoch = {}, ''
for i = 1, n do
  local seq
  seq, epoch = append(KEYS[1], KEYS[2], ARGV[13 + i], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], false)
  seqs[#seqs + 1] = seq
end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], 'm' .. ARGV[1], 'c' .. ARGV[1])
local out = {'status', 'answered', 'seqs', seqs, 'epoch', epoch}
if redis.call('HLEN', KEYS[3]) > 0 then return out end
local paused = redis.call('HGET', KEYS[1], 'paused')
redis.call('DEL', KEYS[4])
redis.call('HDEL', KEYS[1], 'paused', 'pausedrun')
if paused then redis.call('HSET', KEYS[1], 'resume', paused) end
redis.call('ZADD', KEYS[6], 'NX', math.floor(tonumber(ARGV[5]) / 1000000), ARGV[8])
extend(out, {'resumed', 1})
if ARGV[9] ~= '' and redis.call('SET', KEYS[5], ARGV[9], 'NX', 'PX', ARGV[10]) then
  extend(out, work(KEYS[1], KEYS[2], tonumber(ARGV[11]), tonumber(ARGV[12])))
end
return out
