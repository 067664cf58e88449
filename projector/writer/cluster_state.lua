-- Move one stream's folded state from version ARGV[1] to ARGV[2] on a Redis Cluster.
-- KEYS[1] the stream's state hash; ARGV[3..] its new fields as (field, value) pairs.
-- Written last, after every record the batch derived from it, so a crash in between leaves
-- the old state and a redelivery recomputes the same records. Already at ARGV[2]: a retry.
-- The batch's intent (field `p`, cluster_intent.lua) is done with.
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current == tonumber(ARGV[2]) then return 'ok' end
if current ~= tonumber(ARGV[1]) then return 'conflict' end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HDEL', KEYS[1], 'p')
return 'ok'
