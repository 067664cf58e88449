-- Prepended to every read script on a Redis Cluster, instead of read_prelude.lua. A script
-- there may only touch its own slot, and the caller's token and account live in others: the
-- API reads them first (shared/readmodel/cluster_reads.py) and passes what the script needs.
-- ARGV[1] the live generation, ARGV[2] JSON {account, st, ws, now}; the rest as on one
-- Redis. `head` holds placeholders that the API replaces with what it read itself (the
-- token carries the account's status). The API refuses an inactive account before using
-- any data, as it always does.
-- ARGV[3..6] are '' (the API spent the token's rate budget in its first round trip) and
-- are taken out, so the route's arguments start at ARGV[3] as on one Redis.
for _ = 1, 4 do table.remove(ARGV, 3) end
local gen = ARGV[1]
local function key(suffix)
  return K.full_key(gen, suffix)
end
local caller = cjson.decode(ARGV[2])
local now_ms = caller.now
head[H.WATERMARK] = '0'
head[H.SUBJECT_TYPE] = caller.st or false
local authed = true  -- the API runs a script only for a usable token
local account = caller.account or false
local active = authed and account ~= false
local located = caller.ws or false
local in_cluster = true
