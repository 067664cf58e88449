-- Prepended to every read script: the live generation, its watermark and the caller.
-- ARGV[1] = SHA-256 hex of the bearer token ('' = none), ARGV[2] = now in epoch ms.
-- `head` opens every reply (positions `H`): the watermark, then the token's fields. Missing
-- values are false (nil in the reply); never put nil in a reply table, it would cut the
-- array short. No live generation: the watermark is false (the read model is not built
-- yet, which the API answers with a 503).
-- ARGV[3..6] what to spend first (lua/spend.lua): the token's rate bucket ('' = nothing),
-- its budget, window and this request's member. A spent budget answers {'limited', seconds}
-- and reads nothing. They are taken out of ARGV, so the route's arguments start at ARGV[3].
local now_ms = tonumber(ARGV[2])
if ARGV[3] ~= '' then
  local wait = spend(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), math.floor(now_ms / 1000), ARGV[6])
  if wait > 0 then return {'limited', wait} end
end
for _ = 1, 4 do table.remove(ARGV, 3) end
local gen = redis.call('GET', K.LIVE_POINTER)
local function key(suffix)
  return K.full_key(gen, suffix)
end
local located = false  -- an app's workspace, when the caller already knows it (a cluster)
local in_cluster = false
local authed = false
local account = false
local active = false
if gen then
  head[H.WATERMARK] = redis.call('GET', key(K.WATERMARK)) or '0'
  if ARGV[1] ~= '' then
    -- An account's token carries the account's status, kept current by the projector.
    local tok = redis.call('HMGET', key(K.token(ARGV[1])), unpack(TOKEN_FIELDS))
    for i = 1, #TOKEN_FIELDS do head[H.SESSION + i - 1] = tok[i] end
    local sid, acct = head[H.SESSION], head[H.ACCOUNT]
    if sid and acct and acct ~= '' then
      account = acct
      active = head[H.ACCOUNT_STATUS] == 'active'
    end
    -- Only a usable token unlocks data; the API re-checks everything in the contract's order.
    local expires = head[H.EXPIRES]
    authed = sid and head[H.REVOKED] ~= '1'
      and (not expires or expires == '' or (tonumber(expires) or 0) > now_ms)
  end
end
