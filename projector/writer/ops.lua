-- Prepended to the apply scripts: run `count` operations, each four ARGV entries
-- (op, key suffix, field/member, value) from ARGV[first] on, on keys under `prefix`.
local function apply_ops(prefix, first, count)
  local i = first
  for _ = 1, count do
    local op, key = ARGV[i], prefix .. ARGV[i + 1]
    if op == 'hset' then redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
    elseif op == 'hdel' then redis.call('HDEL', key, ARGV[i + 2])
    elseif op == 'zadd' then redis.call('ZADD', key, ARGV[i + 3], ARGV[i + 2])
    elseif op == 'zrem' then redis.call('ZREM', key, ARGV[i + 2])
    elseif op == 'sadd' then redis.call('SADD', key, ARGV[i + 2])
    elseif op == 'srem' then redis.call('SREM', key, ARGV[i + 2])
    elseif op == 'del' then redis.call('DEL', key)
    end
    i = i + 4
  end
end
