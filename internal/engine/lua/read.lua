-- read.lua (after log.lua): the log's bounds and up to limit events after
-- a seq, in one consistent step: a pipeline could interleave with an
-- append and shift the positions it computed.
--
-- KEYS[1] meta, KEYS[2] log
-- ARGV[1] after: events with a greater seq are returned
-- ARGV[2] limit: at most this many events (0: the bounds only)
--
-- Returns name/value pairs: first, last, answered, epoch and events, as
-- page in log.lua has them.

return page(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
