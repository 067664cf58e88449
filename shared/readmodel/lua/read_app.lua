-- GET /apps/{id}/describe (and the seed's /apps/{id}, /apps/{id}/parameters): one app's
-- documents and what the auth pipeline needs (the reply: AppReply). ARGV[3] app id ('' =
-- not a valid id), ARGV[4..] the document fields wanted (params, info, schema).
local app_id = ARGV[3]
if not (authed and app_id ~= '') then return reply end
local ws = located or redis.call('HGET', key(K.app_workspace(app_id)), 'ws')
if not ws then return reply end
-- The auth facts and the fields at once; the fields go into the reply only for a caller the
-- checks below let through.
-- `api` is there while the app is visible, and only then (its state lives in the hash too).
local app = redis.call('HMGET', key(K.app(ws, app_id)), 'api', 'head', unpack(ARGV, 4))
if not app[1] then return reply end
reply[R.WORKSPACE] = ws
reply[R.API] = app[1]
reply[R.STATUS] = redis.call('HGET', key(K.workspace(ws)), 'status')
if not account then return reply end
local role = redis.call('HGET', key(K.workspace_members(ws)), account)
reply[R.ROLE] = role
local status = reply[R.STATUS]
if not (role and active and app[1] == '1' and status and status ~= 'archive') or #ARGV < 4 then
  return reply
end
-- The summary and info are stored as what follows their author's name: the reply adds,
-- after the fields, the start they share (`head`: the author's id, then up to `"author":`)
-- and the author's JSON name as the workspace keeps it; the API puts them together.
local wanted = #ARGV - 3
for i = 1, wanted do reply[R.FIELDS + i - 1] = app[2 + i] end
for i = 4, #ARGV do
  if ARGV[i] == 'summary' or ARGV[i] == 'info' then
    local start = app[2]
    reply[R.FIELDS + wanted] = start
    reply[R.FIELDS + wanted + 1] = start and redis.call('HGET', key(K.app_authors(ws)), string.sub(start, 1, 36))
    break
  end
end
return reply
