-- Apply a batch of projected changes to the read model, atomically and effectively once.
-- ARGV: generation ('' = the live one), the live pointer's key, the batch's highest store
-- position, the number of checks, then per check (stream state key, version the batch was
-- computed from), the number of size checks, then per size check (SCARD or ZCARD, key
-- suffix, size the batch read), then the number of operations and per operation
-- (op, key suffix, field/member, value).
-- Returns 'ok', 'conflict' (a stream moved since the batch read it: recompute) or 'nogen'.
local generation = ARGV[1]
if generation == '' then
  generation = redis.call('GET', ARGV[2])
  if not generation then return 'nogen' end
end
local prefix = 'rm:' .. generation .. ':'
local position = tonumber(ARGV[3])
local checks = tonumber(ARGV[4])
local i = 5
for _ = 1, checks do
  local current = tonumber(redis.call('HGET', prefix .. ARGV[i], 'v') or '0')
  if current ~= tonumber(ARGV[i + 1]) then return 'conflict' end
  i = i + 2
end
local sizes = tonumber(ARGV[i])
i = i + 1
for _ = 1, sizes do
  if redis.call(ARGV[i], prefix .. ARGV[i + 1]) ~= tonumber(ARGV[i + 2]) then return 'conflict' end
  i = i + 3
end
apply_ops(prefix, i + 1, tonumber(ARGV[i]))
local watermark = prefix .. '{meta}:wm'
if position > tonumber(redis.call('GET', watermark) or '0') then
  redis.call('SET', watermark, position)
end
return 'ok'
