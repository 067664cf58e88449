-- Read the version and folded state of many streams at once (those of one slot on a Redis
-- Cluster): ARGV[1] the generation's key prefix, ARGV[2..] stream state key suffixes.
-- Returns v, s, params of each in turn (nil where missing; params: an app's published
-- configuration, which its state keeps in that document field).
local reply = {}
for i = 2, #ARGV do
  local found = redis.call('HMGET', ARGV[1] .. ARGV[i], 'v', 's', 'params')
  reply[#reply + 1] = found[1]
  reply[#reply + 1] = found[2]
  reply[#reply + 1] = found[3]
end
return reply
