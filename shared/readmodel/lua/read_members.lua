-- GET /workspaces/{id}/members: a workspace's members, with what the auth pipeline needs
-- (the reply: MembersReply). ARGV[3] workspace id ('' = not a valid id), ARGV[4] '1' when
-- the members are wanted.
local ws = ARGV[3]
if not (authed and ws ~= '') then return reply end
local status = redis.call('HGET', key(K.workspace(ws)), 'status')
reply[R.STATUS] = status
if not (status and status ~= 'archive' and account) then return reply end
local members = redis.call('HGETALL', key(K.workspace_members(ws)))
local roles = {}
local ids = {}
for i = 1, #members, 2 do
  roles[members[i]] = members[i + 1]
  ids[#ids + 1] = members[i]
end
reply[R.ROLE] = roles[account] or false
if not (reply[R.ROLE] and active) or ARGV[4] ~= '1' then return reply end
table.sort(ids)
for i = 1, #ids do
  -- On a cluster each account is in its own slot: the API reads its profile.
  local profile = in_cluster and {false, false, false, false}
    or redis.call('HMGET', key(K.account(ids[i])), 'name', 'email', 'status', 'avatar')
  reply[#reply + 1] = ids[i]
  reply[#reply + 1] = roles[ids[i]]
  reply[#reply + 1] = profile[1]
  reply[#reply + 1] = profile[2]
  reply[#reply + 1] = profile[3]
  reply[#reply + 1] = profile[4]
end
return reply
