-- log.lua: the functions shared by the scripts that append, read and
-- settle a lease, which the engine prepends to each of them (it is no
-- script of its own).
--
-- append(meta, log, body, limit, now, channel, epoch, user) assigns the
-- agent's next seq, stores the event and publishes it, all inside one
-- script: Redis runs scripts one at a time, so seqs are gap-free whoever
-- appends, and every replica receives persisted events in seq order. If
-- user is set, the event is a user message, and meta's user field says
-- so. It returns the seq, the log's epoch and the stored bytes.
--
-- body is the event encoded as protobuf without its seq and epoch (proto3
-- leaves out zero fields). append writes the two fields in front of it, so
-- that the stored bytes decode to the event with both and Lua never parses
-- protobuf:
--   field 1, seq:   tag byte 0x08 (varint), then the seq as a varint;
--   field 4, epoch: tag byte 0x22 (length-delimited), the length as a
--                   varint, then the epoch's bytes.
-- The epoch is the log's, or the caller's fresh one if the agent has none
-- yet. The Go side of this encoding is encodeForAppend (redis_scripts.go).
-- The stored event is published on channel after the byte 'e' (msgEvent).
--
-- page(meta, log, after, limit) is the log's bounds and up to limit events
-- with a greater seq than after, as name/value pairs: first (the oldest
-- retained seq, 0 if none), last (the newest, 0 if none), answered, resume
-- (the seq of a run to resume, 0 if none), epoch ('' for an unknown
-- agent), events (stored events, oldest first). Element
-- i of the log holds seq last-len+1+i (only append writes it), so
-- positions are computed, not searched.
--
-- settle(meta, log, lease, due, agent, seen, ttl, context, limit) is what
-- the lease holder gets when it has nothing left to answer up to seq seen:
-- if a user message after seen (and after the answered ones) waits, or a
-- paused run has every answer and goes on (meta's resume), the lease is
-- kept for ttl ms and the pairs are work 'taken' and the page a Work
-- carries (the context events before the oldest waiting message, or the
-- run to resume, at most limit events); otherwise the lease is deleted,
-- the agent leaves the due index, and the pair is work 'released'. The
-- caller checked that it holds the lease. meta's user field is the seq of
-- the newest user message (append_user.lua sets it; a log written before
-- it existed counts its newest event instead, which at worst costs a
-- settle).
--
-- close(meta, log, calls, closes, which, limit, now, channel, epoch)
-- closes the paused run: for each answer still pending, in the order of
-- the step's calls (the o of its JSON in calls), it appends the closing
-- result stored under which ('m' when a user message comes first, 'c' for
-- CancelRun) and its key in closes, then the message stored under 'end',
-- each stamped with now as its create_time (field 3, a Timestamp of
-- seconds and nanos, both varints: the stored bodies leave it out); then
-- it forgets the paused run. It returns the run's id.

local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

local function append(meta, log, body, limit, now, channel, epoch, user)
  local seq = redis.call('HINCRBY', meta, 'last', 1)
  if seq == 1 then
    -- The log begins (anew, if Redis lost it): its epoch and birth.
    redis.call('HSET', meta, 'created', now, 'epoch', epoch)
  else
    epoch = redis.call('HGET', meta, 'epoch')
  end
  if user then
    redis.call('HSET', meta, 'active', now, 'user', seq)
  else
    redis.call('HSET', meta, 'active', now)
  end
  local ev = '\8' .. varint(seq) .. '\34' .. varint(#epoch) .. epoch .. body
  redis.call('RPUSH', log, ev)
  redis.call('LTRIM', log, -limit, -1)
  redis.call('PUBLISH', channel, 'e' .. ev)
  return seq, epoch, ev
end

local function page(meta, log, after, limit)
  local m = redis.call('HMGET', meta, 'last', 'answered', 'epoch', 'resume')
  if not m[1] then
    return {'first', 0, 'last', 0, 'answered', 0, 'resume', 0, 'epoch', '', 'events', {}}
  end
  local last = tonumber(m[1])
  local n = redis.call('LLEN', log)
  local first = 0
  if n > 0 then first = last - n + 1 end
  local events = {}
  if n > 0 and after < last and limit > 0 then
    local start = 0
    if after >= first then start = after - first + 1 end
    events = redis.call('LRANGE', log, start, start + limit - 1)
  end
  return {'first', first, 'last', last, 'answered', tonumber(m[2] or '0'),
    'resume', tonumber(m[4] or '0'), 'epoch', m[3] or '', 'events', events}
end

-- extend appends the pairs of more to out and returns out.
local function extend(out, more)
  for _, v in ipairs(more) do out[#out + 1] = v end
  return out
end

-- work is the page a Work carries: context events before the oldest
-- waiting message, at most limit events.
local function work(meta, log, context, limit)
  local m = redis.call('HMGET', meta, 'answered', 'resume')
  local from = tonumber(m[1] or '0')
  local resume = tonumber(m[2] or '0')
  if resume > 0 then from = math.min(from, resume - 1) end
  return extend({'work', 'taken'}, page(meta, log, math.max(from - context, 0), limit))
end

local function settle(meta, log, lease, due, agent, seen, ttl, context, limit)
  local m = redis.call('HMGET', meta, 'last', 'answered', 'user', 'resume')
  local user = tonumber(m[3] or m[1] or '0')
  if user > math.max(tonumber(m[2] or '0'), seen) or tonumber(m[4] or '0') > 0 then
    redis.call('PEXPIRE', lease, ttl)
    return work(meta, log, context, limit)
  end
  redis.call('DEL', lease)
  redis.call('ZREM', due, agent)
  return {'work', 'released'}
end

-- stamp is the create_time field of an event made now (Unix nanoseconds,
-- a decimal string of at least ten digits), split as a Timestamp.
local function stamp(now)
  local ts = '\8' .. varint(tonumber(string.sub(now, 1, -10))) .. '\16' .. varint(tonumber(string.sub(now, -9)))
  return '\26' .. varint(#ts) .. ts
end

local function close(meta, log, calls, closes, which, limit, now, channel, epoch)
  local all = redis.call('HGETALL', calls)
  local items = {}
  for i = 1, #all, 2 do
    items[#items + 1] = {key = all[i], order = cjson.decode(all[i + 1]).o or 0}
  end
  table.sort(items, function(a, b) return a.order < b.order end)
  local ts = stamp(now)
  for _, it in ipairs(items) do
    local body = redis.call('HGET', closes, which .. it.key)
    if body and body ~= '' then append(meta, log, body .. ts, limit, now, channel, epoch, false) end
  end
  local fin = redis.call('HGET', closes, 'end')
  if fin and fin ~= '' then append(meta, log, fin .. ts, limit, now, channel, epoch, false) end
  local run = redis.call('HGET', meta, 'pausedrun') or ''
  redis.call('DEL', calls, closes)
  redis.call('HDEL', meta, 'paused', 'pausedrun')
  return run
end
