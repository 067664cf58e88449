-- Prepended to every read script: the live generation, its watermark and the caller.
-- ARGV[1] = SHA-256 hex of the bearer token ('' = none), ARGV[2] = now in epoch ms.
-- `head` opens every reply: watermark, the token's sid, st, acct, email, iss, exp, rev,
-- then the account's status. Missing values are false (nil in the reply); never put nil in
-- a reply table, it would cut the array short. No live generation: the watermark is false
-- (the read model is not built yet, which the API answers with a 503).
-- ARGV[3..6] what to spend first (lua/spend.lua): the token's rate bucket ('' = nothing),
-- its budget, window and this request's member. A spent budget answers {'limited', seconds}
-- and reads nothing. They are taken out of ARGV, so the route's arguments start at ARGV[3].
local now_ms = tonumber(ARGV[2])
if ARGV[3] ~= '' then
  local wait = spend(ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), math.floor(now_ms / 1000), ARGV[6])
  if wait > 0 then return {'limited', wait} end
end
for _ = 1, 4 do table.remove(ARGV, 3) end
local gen = redis.call('GET', 'rm:{meta}:live:v2')
local function key(suffix)
  return 'rm:' .. gen .. ':' .. suffix
end
local head = {false, false, false, false, false, false, false, false, false}
local located = false  -- an app's workspace, when the caller already knows it (a cluster)
local in_cluster = false
local authed = false
local account = false
local active = false
if gen then
  head[1] = redis.call('GET', key('{meta}:wm')) or '0'
  if ARGV[1] ~= '' then
    local token_key = key('tok:{' .. string.sub(ARGV[1], 1, 2) .. '}:' .. ARGV[1])
    -- An account's token carries the account's status ('as'), kept current by the projector.
    local tok = redis.call('HMGET', token_key, 'sid', 'st', 'acct', 'email', 'iss', 'exp', 'rev', 'as')
    for i = 1, 8 do head[i + 1] = tok[i] end
    if tok[1] and tok[3] and tok[3] ~= '' then
      account = tok[3]
      active = head[9] == 'active'
    end
    -- Only a usable token unlocks data; the API re-checks everything in the contract's order.
    local expires = tok[6]
    authed = tok[1] and tok[7] ~= '1'
      and (not expires or expires == '' or (tonumber(expires) or 0) > now_ms)
  end
end
