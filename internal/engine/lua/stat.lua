-- stat.lua: what Stat needs of one agent, in one consistent step.
--
-- KEYS[1] meta, KEYS[2] log, KEYS[3] subs
--
-- Returns name/value pairs:
--   status 'not_found': the agent has no log;
--   status 'found', then last (the newest seq), answered, created and
--   active (Unix nanoseconds; all four as the decimal strings meta holds,
--   which Lua's numbers would round), length (of the retained log),
--   subscribers (the subs hash as a flat list: replica epoch, count, ...)
--   and epoch.

local m = redis.call('HMGET', KEYS[1], 'last', 'answered', 'created', 'active', 'epoch')
if not m[1] then return {'status', 'not_found'} end
return {'status', 'found', 'last', m[1], 'answered', m[2] or '0',
  'created', m[3] or '', 'active', m[4] or '', 'length', redis.call('LLEN', KEYS[2]),
  'subscribers', redis.call('HGETALL', KEYS[3]), 'epoch', m[5] or ''}
