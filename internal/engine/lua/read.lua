-- read.lua: the log's bounds and up to limit events after a seq, in one
-- consistent step: a pipeline could interleave with an append and shift the
-- positions it computed. Element i of the log holds seq last-len+1+i (only
-- the append scripts write it), so positions are computed, not searched.
--
-- KEYS[1] meta, KEYS[2] log
-- ARGV[1] after: events with a greater seq are returned
-- ARGV[2] limit: at most this many events (0: the bounds only)
--
-- Returns name/value pairs: first (the oldest retained seq, 0 if none),
-- last (the newest seq, 0 if none), answered, epoch ('' for an unknown
-- agent), events (a list of stored events, oldest first).

local m = redis.call('HMGET', KEYS[1], 'last', 'answered', 'epoch')
if not m[1] then
  return {'first', 0, 'last', 0, 'answered', 0, 'epoch', '', 'events', {}}
end
local last = tonumber(m[1])
local n = redis.call('LLEN', KEYS[2])
local first = 0
if n > 0 then first = last - n + 1 end
local events = {}
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if n > 0 and after < last and limit > 0 then
  local start = 0
  if after >= first then start = after - first + 1 end
  events = redis.call('LRANGE', KEYS[2], start, start + limit - 1)
end
return {'first', first, 'last', last, 'answered', tonumber(m[2] or '0'),
  'epoch', m[3] or '', 'events', events}
