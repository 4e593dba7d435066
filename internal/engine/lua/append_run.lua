-- append_run.lua (after log.lua): appends events of the run that answers
-- a user message, if the caller's lease token is still the agent's lease
-- (fencing: a replica whose lease expired cannot append) and the message
-- is not answered yet, or its run is the one to resume. The events end
-- the run's progress, so it goes. Then, by the end asked for:
--   'on': the run goes on; nothing more.
--   'end': the run ended: the message counts as answered, a run to resume
--   is no longer, and, if the caller asks, the lease is settled in the
--   same step (see settle in log.lua): kept with the next work, or
--   released.
--   'pause': as 'end', and the run waits for the answers given: calls and
--   closes hold them (see keyspace), meta's paused and pausedrun name the
--   run. If a newer user message waits already, the run is closed at once
--   instead (close in log.lua): the user moved on.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] lease, KEYS[4] run, KEYS[5] due,
-- KEYS[6] calls, KEYS[7] closes
-- ARGV[1] the caller's lease token
-- ARGV[2] the seq of the user message the run answers
-- ARGV[3] the end: 'on', 'end' or 'pause'
-- ARGV[4] the history limit
-- ARGV[5] now, Unix nanoseconds
-- ARGV[6] the agent's channel
-- ARGV[7] a fresh epoch, used if the agent has none
-- ARGV[8] the agent id, its member in the due index
-- ARGV[9] the lease's time to live if kept, in milliseconds; '0' leaves
--         the lease as it is, unsettled
-- ARGV[10] the context: events before the oldest waiting message wanted
-- ARGV[11] the most events the work carries
-- ARGV[12] with 'pause': the run's id
-- ARGV[13] n, the number of events; then n events without seq and epoch
--          (see log.lua); then, with 'pause', the number of answers
--          pending, each as four values: its key, its JSON (the
--          PendingCall), its closing result when a user message comes
--          first and when CancelRun ('' for none); then the message that
--          ends the run if it is closed
--
-- Returns name/value pairs:
--   status 'appended', seqs (of the events stored) and epoch; closed 1 if
--   a pause was closed at once; when settled, work 'taken' with the
--   work's page, or work 'released';
--   status 'lease_lost': the token is not the lease's;
--   status 'not_found': the agent has no log;
--   status 'already_answered': the message has its answer, and its run is
--   not the one to resume.

if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'status', 'lease_lost'} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'status', 'not_found'} end
local m = redis.call('HMGET', KEYS[1], 'answered', 'resume', 'user', 'last')
local answered = tonumber(m[1] or '0')
local resume = tonumber(m[2] or '0')
local user = tonumber(m[3] or m[4] or '0')
local answers = tonumber(ARGV[2])
if answers <= answered and (resume == 0 or answers ~= resume) then return {'status', 'already_answered'} end
redis.call('DEL', KEYS[4])
local limit = tonumber(ARGV[4])
local n = tonumber(ARGV[13])
local seqs, epoch = {}, ''
local i = 14
for _ = 1, n do
  local seq
  seq, epoch = append(KEYS[1], KEYS[2], ARGV[i], limit, ARGV[5], ARGV[6], ARGV[7], false)
  seqs[#seqs + 1] = seq
  i = i + 1
end
if epoch == '' then epoch = redis.call('HGET', KEYS[1], 'epoch') or '' end
local out = {'status', 'appended', 'seqs', seqs, 'epoch', epoch}
if ARGV[3] == 'on' then return out end
if answers > answered then redis.call('HSET', KEYS[1], 'answered', ARGV[2]) end
if resume > 0 and answers == resume then redis.call('HDEL', KEYS[1], 'resume') end
if ARGV[3] == 'pause' then
  redis.call('DEL', KEYS[6], KEYS[7])
  local pending = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, pending do
    local key = ARGV[i]
    redis.call('HSET', KEYS[6], key, ARGV[i + 1])
    redis.call('HSET', KEYS[7], 'm' .. key, ARGV[i + 2], 'c' .. key, ARGV[i + 3])
    i = i + 4
  end
  redis.call('HSET', KEYS[7], 'end', ARGV[i])
  redis.call('HSET', KEYS[1], 'paused', ARGV[2], 'pausedrun', ARGV[12])
  if user > answers then
    close(KEYS[1], KEYS[2], KEYS[6], KEYS[7], 'm', limit, ARGV[5], ARGV[6], ARGV[7])
    extend(out, {'closed', 1})
  end
end
if tonumber(ARGV[9]) > 0 then
  extend(out, settle(KEYS[1], KEYS[2], KEYS[3], KEYS[5], ARGV[8], answers, ARGV[9],
    tonumber(ARGV[10]), tonumber(ARGV[11])))
end
return out
