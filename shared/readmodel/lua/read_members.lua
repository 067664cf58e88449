-- GET /workspaces/{id}/members: a workspace's members, with what the auth pipeline needs.
-- ARGV[3] workspace id ('' = not a valid id), ARGV[4] '1' when the members are wanted.
-- Reply: head, workspace status, role, then per member (by account id): account id, role,
-- name, email, status, avatar.
local ws = ARGV[3]
local reply = head
reply[10] = false
reply[11] = false
if not (authed and ws ~= '') then return reply end
reply[10] = redis.call('HGET', key('ws:{' .. ws .. '}'), 'status')
if not (reply[10] and reply[10] ~= 'archive' and account) then return reply end
local members = redis.call('HGETALL', key('ws:{' .. ws .. '}:members'))
local roles = {}
local ids = {}
for i = 1, #members, 2 do
  roles[members[i]] = members[i + 1]
  ids[#ids + 1] = members[i]
end
reply[11] = roles[account] or false
if not (reply[11] and active) or ARGV[4] ~= '1' then return reply end
table.sort(ids)
for i = 1, #ids do
  -- On a cluster each account is in its own slot: the API reads its profile.
  local profile = in_cluster and {false, false, false, false}
    or redis.call('HMGET', key('acct:{' .. ids[i] .. '}'), 'name', 'email', 'status', 'avatar')
  reply[#reply + 1] = ids[i]
  reply[#reply + 1] = roles[ids[i]]
  reply[#reply + 1] = profile[1]
  reply[#reply + 1] = profile[2]
  reply[#reply + 1] = profile[3]
  reply[#reply + 1] = profile[4]
end
return reply
