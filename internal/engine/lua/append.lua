-- append.lua: the part shared by append_user.lua and append_reply.lua,
-- which the engine prepends to each of them (it is no script of its own).
--
-- append(meta, log, body, limit, now, channel, epoch) assigns the agent's
-- next seq, stores the event and publishes it, all inside one script:
-- Redis runs scripts one at a time, so seqs are gap-free whoever appends,
-- and every replica receives persisted events in seq order. It returns the
-- stored event, encoded as protobuf.
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
--
-- The stored event is published on channel after the byte 'e' (msgEvent).

local function varint(n)
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

local function append(meta, log, body, limit, now, channel, epoch)
  local seq = redis.call('HINCRBY', meta, 'last', 1)
  redis.call('HSETNX', meta, 'created', now)
  redis.call('HSETNX', meta, 'epoch', epoch)
  redis.call('HSET', meta, 'active', now)
  epoch = redis.call('HGET', meta, 'epoch')
  local ev = '\8' .. varint(seq) .. '\34' .. varint(#epoch) .. epoch .. body
  redis.call('RPUSH', log, ev)
  redis.call('LTRIM', log, -limit, -1)
  redis.call('PUBLISH', channel, 'e' .. ev)
  return ev
end
