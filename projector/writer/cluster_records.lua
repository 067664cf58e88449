-- Apply one batch's operations that fall in one Redis Cluster slot, unless they are stale.
-- KEYS[1] the slot's dependency hash: stream -> the version its records here derive from.
-- ARGV: the generation's key prefix, the number of sources, per source (stream, the version
-- the batch started from, the version it ends at; equal for a stream only read), the number
-- of size checks, per size check (SCARD or ZCARD, key suffix, size the batch read), the
-- number of operations, per operation (op, key suffix, field/member, value).
-- The operations are a difference from the start versions, so they apply where the slot's
-- records derive from at most the start version (or already from the end version: a retry).
-- Otherwise nothing is written and the reply names every such stream with the version seen,
-- as triples: 'conflict', stream, v when v is past the end (another projector got further:
-- bring the stream up to v and recompute); 'split', stream, v when v lies between (a batch
-- that stopped half-way: recompute up to v first, then the rest); 'moved', key, size when a
-- fan-out set the batch walked has changed since (recompute).
local deps = KEYS[1]
local prefix = ARGV[1]
local sources = tonumber(ARGV[2])
local refused = {}
local i = 3
for _ = 1, sources do
  local seen = tonumber(redis.call('HGET', deps, ARGV[i]) or '0')
  local start, finish = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local kind = false
  if seen > finish then
    kind = 'conflict'
  elseif seen > start and seen < finish then
    kind = 'split'
  end
  if kind then
    refused[#refused + 1] = kind
    refused[#refused + 1] = ARGV[i]
    refused[#refused + 1] = tostring(seen)
  end
  i = i + 3
end
local sizes = tonumber(ARGV[i])
i = i + 1
for _ = 1, sizes do
  local size = redis.call(ARGV[i], prefix .. ARGV[i + 1])
  if size ~= tonumber(ARGV[i + 2]) then
    refused[#refused + 1] = 'moved'
    refused[#refused + 1] = ARGV[i + 1]
    refused[#refused + 1] = tostring(size)
  end
  i = i + 3
end
if #refused > 0 then return refused end
apply_ops(prefix, i + 1, tonumber(ARGV[i]))
i = 3
for _ = 1, sources do
  redis.call('HSET', deps, ARGV[i], ARGV[i + 2])
  i = i + 3
end
return 'ok'
