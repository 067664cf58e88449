-- Read the version and folded state of many streams at once (those of one slot on a Redis
-- Cluster): ARGV[1] the generation's key prefix, ARGV[2] the fields to read of each state's
-- hash (keys.STATE_FIELDS, space-separated: the version, the state, then the documents an
-- app's state shares its facts with), then per stream: its state key suffix, and the hash
-- and field of its row ('' and '' for a stream that has none: all but apps).
-- Returns per stream those fields, then the row (nil where missing).
local fields = {}
for name in string.gmatch(ARGV[2], '%S+') do fields[#fields + 1] = name end
local reply = {}
for i = 3, #ARGV, 3 do
  local found = redis.call('HMGET', ARGV[1] .. ARGV[i], unpack(fields))
  for j = 1, #fields do reply[#reply + 1] = found[j] end
  if ARGV[i + 1] ~= '' then
    reply[#reply + 1] = redis.call('HGET', ARGV[1] .. ARGV[i + 1], ARGV[i + 2])
  else
    reply[#reply + 1] = false
  end
end
return reply
