-- GET /account, GET /workspaces and GET /workspaces/{id}: the caller's account and every
-- membership. Reply: head, name, email, the current-workspace candidate (W*, its join
-- position), then per membership: workspace id, membership JSON {role, jpos}, workspace
-- name, status, created.
local reply = head
reply[10] = false
reply[11] = false
reply[12] = false
reply[13] = false
if not (authed and account) then return reply end
local profile = redis.call('HMGET', key('acct:{' .. account .. '}'), 'name', 'email')
reply[10] = profile[1]
reply[11] = profile[2]
local current = redis.call('ZREVRANGE', key('acct:{' .. account .. '}:cur'), 0, 0, 'WITHSCORES')
if current[1] then
  reply[12] = current[1]
  reply[13] = current[2]
end
local memberships = redis.call('HGETALL', key('acct:{' .. account .. '}:ws'))
for i = 1, #memberships, 2 do
  local ws = memberships[i]
  -- On a cluster each workspace is in its own slot: the API reads its facts.
  local doc = in_cluster and {false, false, false}
    or redis.call('HMGET', key('ws:{' .. ws .. '}'), 'name', 'status', 'created')
  reply[#reply + 1] = ws
  reply[#reply + 1] = memberships[i + 1]
  reply[#reply + 1] = doc[1]
  reply[#reply + 1] = doc[2]
  reply[#reply + 1] = doc[3]
end
return reply
