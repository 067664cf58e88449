-- Before a batch writes any record on a Redis Cluster: note in each stream's state hash
-- (KEYS[1]) the version the batch takes it to (ARGV[2]) from ARGV[1], as field `p`. If the
-- writer dies before the state moves, the next one finds `p` and first redoes exactly that
-- step, so records the dead writer left behind (even of an app it created and the batch
-- then deleted) are rewritten and then removed, not forgotten.
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current == tonumber(ARGV[2]) then return 'ok' end
if current ~= tonumber(ARGV[1]) then return 'conflict' end
redis.call('HSET', KEYS[1], 'p', ARGV[2])
return 'ok'
