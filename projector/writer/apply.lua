-- Apply one event's change to the read model, atomically and effectively once.
-- ARGV: generation ('' = the live one), position, number of checks, then per check
-- (stream state key, expected version) -- the first is the event's own stream at version - 1 --
-- then the number of operations and per operation (op, key suffix, field/member, value).
-- Returns 'ok', 'dup' (already applied), 'gap:<current>', 'conflict' (a stream read to
-- compute the change has moved on: recompute) or 'nogen' (no live generation).
local generation = ARGV[1]
if generation == '' then
  generation = redis.call('GET', ARGV[2])
  if not generation then return 'nogen' end
end
local prefix = 'rm:' .. generation .. ':'
local position = tonumber(ARGV[3])
local checks = tonumber(ARGV[4])
local i = 5
for c = 1, checks do
  local current = tonumber(redis.call('HGET', prefix .. ARGV[i], 'v') or '0')
  local expected = tonumber(ARGV[i + 1])
  if c == 1 then
    if current > expected then return 'dup' end
    if current < expected then return 'gap:' .. current end
  elseif current ~= expected then
    return 'conflict'
  end
  i = i + 2
end
local ops = tonumber(ARGV[i])
i = i + 1
for _ = 1, ops do
  local op, key = ARGV[i], prefix .. ARGV[i + 1]
  if op == 'hset' then redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
  elseif op == 'hdel' then redis.call('HDEL', key, ARGV[i + 2])
  elseif op == 'zadd' then redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2])
  elseif op == 'zrem' then redis.call('ZREM', key, ARGV[i + 2])
  elseif op == 'sadd' then redis.call('SADD', key, ARGV[i + 2])
  elseif op == 'srem' then redis.call('SREM', key, ARGV[i + 2])
  end
  i = i + 4
end
local watermark = prefix .. 'wm'
if position > tonumber(redis.call('GET', watermark) or '0') then
  redis.call('SET', watermark, position)
end
return 'ok'
