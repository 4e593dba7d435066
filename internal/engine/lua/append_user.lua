-- append_user.lua (after log.lua): appends a user message unless its
-- idempotency key was used before, in which case the stored original is
-- returned and nothing is appended. An agent's first message puts it in
-- the agents index. The message waits for a reply from then on: the agent
-- joins the due index (with the time its work began, if none waited) and,
-- if the caller asks and the reply lease is free, the caller takes the
-- lease with the work, in the same step.
--
-- A run of the agent that is paused, waiting for tool results or
-- decisions, is closed first (close in log.lua): the user moved on.
--
-- If the caller gives the start of the run that will answer the message,
-- takes the lease, and the message is the first its holder answers (no
-- older message waits, no paused run goes on), the run begins here too:
-- its run_started, assembled with the message's seq as reply_to_seq and
-- the log's epoch, begins the run's progress (as begin_run.lua does) and
-- is published after the message.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] idem, KEYS[4] lease, KEYS[5] due,
-- KEYS[6] the agents index, KEYS[7] calls, KEYS[8] closes, KEYS[9] run
-- ARGV[1] the event without seq and epoch (see log.lua)
-- ARGV[2] the idempotency key, or '' for none
-- ARGV[3] the history limit
-- ARGV[4] now, Unix nanoseconds
-- ARGV[5] the agent's channel
-- ARGV[6] a fresh epoch, used if the agent has none
-- ARGV[7] the agent id, its member in the due and agents indexes
-- ARGV[8] a lease token to take the lease with, or '' to take nothing
-- ARGV[9] the lease's time to live, in milliseconds
-- ARGV[10] the context: events before the oldest waiting message wanted
-- ARGV[11] the most events the work carries
-- ARGV[12] the run's id, or '' to begin no run
-- ARGV[13] the run_started without its epoch and its run_started field,
--          as protobuf
-- ARGV[14] its run_started field's message (a RunStarted) without
--          reply_to_seq, as protobuf
--
-- Returns name/value pairs:
--   status 'duplicate', event: the original stored under the key;
--   status 'appended', seq and epoch of the stored event, and if the lease
--   was taken, work 'taken' and the work's page (see page in log.lua),
--   and begun 1 if the run began.

if ARGV[2] ~= '' then
  local prev = redis.call('HGET', KEYS[3], ARGV[2])
  if prev then return {'status', 'duplicate', 'event', prev} end
end
if redis.call('HEXISTS', KEYS[1], 'paused') == 1 then
  close(KEYS[1], KEYS[2], KEYS[7], KEYS[8], 'm', tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6])
end
local before = redis.call('HMGET', KEYS[1], 'user', 'last', 'answered', 'resume')
local first = tonumber(before[1] or before[2] or '0') <= tonumber(before[3] or '0') and tonumber(before[4] or '0') == 0
local seq, epoch, ev = append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], true)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ev) end
if seq == 1 then redis.call('ZADD', KEYS[6], 0, ARGV[7]) end
redis.call('ZADD', KEYS[5], 'NX', math.floor(tonumber(ARGV[4]) / 1000000), ARGV[7])
local out = {'status', 'appended', 'seq', seq, 'epoch', epoch}
if ARGV[8] ~= '' and redis.call('SET', KEYS[4], ARGV[8], 'NX', 'PX', ARGV[9]) then
  extend(out, work(KEYS[1], KEYS[2], tonumber(ARGV[10]), tonumber(ARGV[11])))
  if ARGV[12] ~= '' and first then
    -- RunStarted.reply_to_seq is field 3, a varint (tag byte 0x18);
    -- AgentEvent.run_started is field 11, length-delimited (tag 0x5a).
    local inner = ARGV[14] .. '\24' .. varint(seq)
    local started = '\34' .. varint(#epoch) .. epoch .. ARGV[13] .. '\90' .. varint(#inner) .. inner
    redis.call('DEL', KEYS[9])
    redis.call('RPUSH', KEYS[9], ARGV[12], started)
    redis.call('PEXPIRE', KEYS[9], ARGV[9])
    redis.call('PUBLISH', ARGV[5], 'e' .. started)
    extend(out, {'begun', 1})
  end
end
return out
