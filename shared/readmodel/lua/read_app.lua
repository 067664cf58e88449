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
-- The summary and info are not stored (their fields come back nil): the API cuts them from
-- the app's row, which the reply adds below.
local app = redis.call('HMGET', key(K.app(ws, app_id)), 'api', unpack(ARGV, 4))
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
-- The summary and info are cut by the API from the app's list row (its author's id, then the
-- row up to its author's name): the reply adds, after the fields, the row and the author's
-- JSON name as the workspace keeps it.
local wanted = #ARGV - 3
for i = 1, wanted do reply[R.FIELDS + i - 1] = app[1 + i] end
for i = 4, #ARGV do
  if ARGV[i] == 'summary' or ARGV[i] == 'info' then
    local row = redis.call('HGET', key(K.app_rows(ws)), app_id)
    reply[R.FIELDS + wanted] = row
    reply[R.FIELDS + wanted + 1] = row and redis.call('HGET', key(K.app_authors(ws)), string.sub(row, 1, 36))
    break
  end
end
return reply
