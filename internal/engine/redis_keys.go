package engine

import "github.com/redis/go-redis/v9"

// keyspace names the Redis keys of one deployment. Every key starts with the
// configured prefix, so that several deployments (or tests) can share one
// Redis.
//
// An agent's keys share the hash tag {agent:<id>}, so they live in one slot
// of a Redis Cluster and the Lua scripts that touch several of them stay
// legal there. Agent ids cannot contain braces (see agent.ValidateID), which
// keeps the tag intact. Only the agents index and the replica liveness keys
// are global.
type keyspace struct {
	prefix string
}

// agentKeys are the keys and the pub/sub channel of one agent.
type agentKeys struct {
	// meta is a hash: last (the newest seq), answered, created and active
	// (Config.Now in Unix nanoseconds, kept as decimal strings so that Lua's
	// floating-point numbers never round them), and epoch (the log's
	// epoch, set when the hash is created, so a log that Redis lost comes
	// back with a new one).
	meta string
	// log is a list of the retained events, oldest first, each encoded as
	// protobuf. Only the append scripts write it, so element i always holds
	// seq last-len+1+i: Read computes positions instead of searching.
	log string
	// idem is a hash from idempotency key to the stored user event. It is not
	// trimmed with the log, so that a late retry still finds its original.
	idem string
	// lease is a string holding the reply lease's token, with a TTL.
	lease string
	// run is a list holding the active run's progress: its run id, then its
	// events as published, each encoded as protobuf, except text and
	// argument deltas, which are compact records (see redis_run.go). It
	// expires with the lease and is deleted when a reply is appended.
	run string
	// subs is a hash from replica epoch to that replica's count of client
	// subscriptions (see presence).
	subs string
	// channel carries the agent's live events to every replica.
	channel string
}

func (k keyspace) agent(id string) agentKeys {
	base := k.prefix + "{agent:" + id + "}:"
	return agentKeys{
		meta:    base + "meta",
		log:     base + "log",
		idem:    base + "idem",
		lease:   base + "lease",
		run:     base + "run",
		subs:    base + "subs",
		channel: base + "events",
	}
}

// index is a sorted set of agent ids, all with score 0, so that ZRANGEBYLEX
// pages them in id order for List.
func (k keyspace) index() string { return k.prefix + "agents" }

// replica is the liveness key of one replica epoch (see presence).
func (k keyspace) replica(epoch string) string { return k.prefix + "replica:" + epoch }

// Messages on an agent's channel start with one byte that says what follows.
const (
	msgEvent   = 'e' // a protobuf AgentEvent, persisted (seq > 0) or ephemeral
	msgDeleted = 'd' // the agent was deleted; nothing follows
	msgCancel  = 'c' // CancelRun: the run id follows
)

// luaAppend is the part shared by the append scripts. append assigns the
// next seq, stores the event and publishes it, all inside one script: Redis
// runs scripts one at a time, so seqs are gap-free whoever appends, and
// every replica receives persisted events in seq order.
//
// The caller encodes the event without its seq and epoch (proto3 omits
// zero fields); the script prepends field 1 (tag byte 0x08, then the seq as a
// varint) and field 4 (tag byte 0x22, the length, the epoch), so the stored
// bytes decode to the event with both, and Lua never parses protobuf. The
// epoch is the caller's fresh one if the agent has none yet.
const luaAppend = `
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
`

// scriptAppendUser appends a user message unless its idempotency key was
// used before, in which case it returns the stored original.
//
// KEYS: meta, log, idem. ARGV: event without seq, idempotency key or "",
// history limit, now, channel, fresh epoch. Returns {duplicate 0|1, stored
// event}.
var scriptAppendUser = redis.NewScript(luaAppend + `
if ARGV[2] ~= '' then
  local prev = redis.call('HGET', KEYS[3], ARGV[2])
  if prev then return {1, prev} end
end
local ev = append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ev) end
return {0, ev}
`)

// Results of scriptAppendReply other than success.
const (
	replyOK = iota
	replyLeaseLost
	replyNotFound
	replyAlreadyAnswered
)

// scriptAppendReply appends a reply if the caller's lease token is still the
// agent's lease (fencing: a replica whose lease expired cannot append) and
// the message it answers is newer than every answered one. The reply ends
// the active run, so its progress goes.
//
// KEYS: meta, log, lease, run. ARGV: event without seq, lease token, seq
// answered, history limit, now, channel, fresh epoch. Returns {replyOK,
// stored event} or {reason}.
var scriptAppendReply = redis.NewScript(luaAppend + `
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return {1} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {2} end
local answered = tonumber(redis.call('HGET', KEYS[1], 'answered') or '0')
if tonumber(ARGV[3]) <= answered then return {3} end
redis.call('HSET', KEYS[1], 'answered', ARGV[3])
redis.call('DEL', KEYS[4])
return {0, append(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7])}
`)

// scriptRead returns the log's bounds and up to limit events after a seq,
// consistently: a pipeline could interleave with an append and shift the
// positions it computed.
//
// KEYS: meta, log. ARGV: after, limit. Returns {first, last, answered,
// epoch, events...}.
var scriptRead = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'last', 'answered', 'epoch')
if not m[1] then return {0, 0, 0, ''} end
local last = tonumber(m[1])
local answered = tonumber(m[2] or '0')
local n = redis.call('LLEN', KEYS[2])
local first = 0
if n > 0 then first = last - n + 1 end
local res = {first, last, answered, m[3] or ''}
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if n == 0 or after >= last or limit <= 0 then return res end
local start = 0
if after >= first then start = after - first + 1 end
for _, ev in ipairs(redis.call('LRANGE', KEYS[2], start, start + limit - 1)) do
  res[#res + 1] = ev
end
return res
`)

// scriptStat returns what Stat needs in one consistent step.
//
// KEYS: meta, log, subs. Returns {} for an unknown agent, else {last,
// answered, created, active, log length, {replica epoch, count, ...}, log
// epoch}.
var scriptStat = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'last', 'answered', 'created', 'active', 'epoch')
if not m[1] then return {} end
return {m[1], m[2] or '0', m[3] or '', m[4] or '', redis.call('LLEN', KEYS[2]), redis.call('HGETALL', KEYS[3]), m[5] or ''}
`)

// scriptDelete removes an agent's data and tells every replica, whose
// subscriptions then end with ErrDeleted. The subs hash is left alone: each
// replica decrements its own count as those subscriptions end, which brings
// the hash back to empty (see presence).
//
// KEYS: meta, log, idem, lease, run. ARGV: channel. Returns 1, or 0 if the
// agent has no log.
var scriptDelete = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('PUBLISH', ARGV[1], 'd')
return 1
`)

// scriptRenew extends a lease if the caller still holds it, and the run
// progress written under it with it.
//
// KEYS: lease, run. ARGV: token, ttl in milliseconds. Returns 1 or 0.
var scriptRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// scriptBeginRun publishes a run_started and, if the caller holds the
// lease, begins the run's progress anew with the run id first and the
// event, with the lease's time to live (RenewLease extends both). The run's
// later events are added by plain commands (see Redis.PublishRun).
//
// KEYS: lease, run. ARGV: token, channel message ('e' + event), run id,
// channel. Returns 1 if recorded.
var scriptBeginRun = redis.NewScript(`
redis.call('PUBLISH', ARGV[4], ARGV[2])
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('RPUSH', KEYS[2], ARGV[3], string.sub(ARGV[2], 2))
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
`)

// scriptCancelRun tells every replica to stop the active run, if it is the
// one named (or any, for an empty name).
//
// KEYS: run. ARGV: run id or ”, channel. Returns the run id, or false.
var scriptCancelRun = redis.NewScript(`
local id = redis.call('LINDEX', KEYS[1], 0)
if not id or (ARGV[1] ~= '' and ARGV[1] ~= id) then return false end
redis.call('PUBLISH', ARGV[2], 'c' .. id)
return id
`)

// scriptRelease deletes a lease if the caller still holds it, so that a
// holder whose lease expired cannot release its successor's.
//
// KEYS: lease. ARGV: token.
var scriptRelease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// scriptCount adds to a replica's subscriber count of one agent and drops the
// field when it reaches zero, so that the hash empties itself. Counts change
// only by increments, which commute, so concurrent changes never lose an
// update (see presence).
//
// KEYS: subs. ARGV: epoch, delta.
var scriptCount = redis.NewScript(`
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
`)

// scripts are loaded at start and again after Redis forgot them (a restart),
// since pipelined EVALSHA cannot fall back to EVAL by itself.
var scripts = []*redis.Script{
	scriptAppendUser, scriptAppendReply, scriptRead, scriptStat,
	scriptDelete, scriptRenew, scriptRelease, scriptCount,
	scriptBeginRun, scriptCancelRun,
}
