-- GET /account, GET /workspaces and GET /workspaces/{id}: the caller's account and every
-- membership (the reply: AccountReply).
if not (authed and account) then return reply end
local profile = redis.call('HMGET', key(K.account(account)), 'name', 'email')
reply[R.NAME] = profile[1]
reply[R.EMAIL] = profile[2]
local current = redis.call('ZREVRANGE', key(K.account_current(account)), 0, 0, 'WITHSCORES')
if current[1] then
  reply[R.CURRENT] = current[1]
  reply[R.CURRENT_POSITION] = current[2]
end
local memberships = redis.call('HGETALL', key(K.account_workspaces(account)))
for i = 1, #memberships, 2 do
  local ws = memberships[i]
  -- On a cluster each workspace is in its own slot: the API reads its facts.
  local doc = in_cluster and {false, false, false}
    or redis.call('HMGET', key(K.workspace(ws)), 'name', 'status', 'created')
  reply[#reply + 1] = ws
  reply[#reply + 1] = memberships[i + 1]
  reply[#reply + 1] = doc[1]
  reply[#reply + 1] = doc[2]
  reply[#reply + 1] = doc[3]
end
return reply
