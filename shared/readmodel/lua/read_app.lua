-- GET /apps/{id}/describe (and the seed's /apps/{id}, /apps/{id}/parameters): one app's
-- documents and what the auth pipeline needs. ARGV[3] app id ('' = not a valid id),
-- ARGV[4..] the document fields wanted (summary, params, info, schema).
-- Reply: head, workspace id (of a visible app), role, service API ('1'/'0'), workspace
-- status, then the fields; with summary or info among them, then also their start and
-- their author's name (below).
local reply = head
reply[10] = false
reply[11] = false
reply[12] = false
reply[13] = false
local app_id = ARGV[3]
if not (authed and app_id ~= '') then return reply end
local ws = located or redis.call('HGET', key('app:{' .. string.sub(app_id, 1, 2) .. '}:' .. app_id), 'ws')
if not ws then return reply end
local app_key = key('app:{' .. ws .. '}:' .. app_id)
-- The auth facts and the fields at once; the fields go into the reply only for a caller the
-- checks below let through.
local app = redis.call('HMGET', app_key, 'vis', 'api', 'head', unpack(ARGV, 4))
if app[1] ~= '1' then return reply end
reply[10] = ws
reply[12] = app[2] or '0'
reply[13] = redis.call('HGET', key('ws:{' .. ws .. '}'), 'status')
if not account then return reply end
local role = redis.call('HGET', key('ws:{' .. ws .. '}:members'), account)
reply[11] = role
if not (role and active and app[2] == '1' and reply[13] and reply[13] ~= 'archive') or #ARGV < 4 then
  return reply
end
-- The summary and info are stored as what follows their author's name: the reply adds,
-- after the fields, the start they share (`head`: the author's id, then up to `"author":`)
-- and the author's JSON name as the workspace keeps it; the API puts them together.
for i = 4, #ARGV do reply[10 + i] = app[i] end
for i = 4, #ARGV do
  if ARGV[i] == 'summary' or ARGV[i] == 'info' then
    local start = app[3]
    reply[11 + #ARGV] = start
    reply[12 + #ARGV] = start and redis.call('HGET', key('ws:{' .. ws .. '}:authors'), string.sub(start, 1, 36))
    break
  end
end
return reply
