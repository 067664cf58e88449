-- Read the version and folded state of many streams at once (those of one slot on a Redis
-- Cluster): ARGV[1] the generation's key prefix, ARGV[2] the fields to read of each
-- (keys.STATE_FIELDS, space-separated: the version, the state, then the documents an app's
-- state shares its facts with), ARGV[3..] stream state key suffixes.
-- Returns those fields of each key in turn (nil where missing).
local fields = {}
for name in string.gmatch(ARGV[2], '%S+') do fields[#fields + 1] = name end
local reply = {}
for i = 3, #ARGV do
  local found = redis.call('HMGET', ARGV[1] .. ARGV[i], unpack(fields))
  for j = 1, #fields do reply[#reply + 1] = found[j] end
end
return reply
