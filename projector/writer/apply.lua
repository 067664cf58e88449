-- Apply a batch's changes (one slot's share of them on a Redis Cluster), effectively once.
-- ARGV: generation ('' = the live one), the live pointer's key, the store position to raise
-- the watermark to (0: leave it; on a cluster it is raised on its own, after every slot),
-- then three sections, each a count followed by its entries:
--   gates: (stream state key suffix, version) the batch read: all must still hold (the
--     version opens the state's `v` field);
--   key writes (tokens, app locators): key suffix, the count of version fields, (field,
--     version) pairs, the count of content fields, (field, value) pairs; the key is
--     replaced unless it holds a later version of any of them already;
--   operations: (op, key suffix, field/member, value).
-- Returns 'ok', 'conflict' (an owner's stream moved since the batch read it: recompute;
-- nothing was written) or 'nogen'.
local generation = ARGV[1]
if generation == '' then
  generation = redis.call('GET', ARGV[2])
  if not generation then return 'nogen' end
end
local prefix = 'rm:' .. generation .. ':'
local position = tonumber(ARGV[3])
local gates = tonumber(ARGV[4])
local i = 5
for _ = 1, gates do
  -- A stream state's `v`: its version, a space, then its state.
  local current = tonumber(string.match(redis.call('HGET', prefix .. ARGV[i], 'v') or '0', '^%d+'))
  if current ~= tonumber(ARGV[i + 1]) then return 'conflict' end
  i = i + 2
end
local writes = tonumber(ARGV[i])
i = i + 1
for _ = 1, writes do
  local key = prefix .. ARGV[i]
  local versions = tonumber(ARGV[i + 1])
  local first = i + 2
  local later = false
  for j = first, first + 2 * versions - 1, 2 do
    if tonumber(redis.call('HGET', key, ARGV[j]) or '-1') > tonumber(ARGV[j + 1]) then later = true end
  end
  local fields = tonumber(ARGV[first + 2 * versions])
  local last = first + 2 * versions + 2 * fields
  if not later then
    redis.call('DEL', key)
    redis.call('HSET', key, unpack(ARGV, first, first + 2 * versions - 1))
    if fields > 0 then redis.call('HSET', key, unpack(ARGV, first + 2 * versions + 1, last)) end
  end
  i = last + 1
end
apply_ops(prefix, i + 1, tonumber(ARGV[i]))
if position > 0 then
  local watermark = prefix .. '{meta}:wm'
  if position > tonumber(redis.call('GET', watermark) or '0') then
    redis.call('SET', watermark, position)
  end
end
return 'ok'
