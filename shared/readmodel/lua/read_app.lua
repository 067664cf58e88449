-- GET /apps/{id}[/parameters|/describe]: one app's documents and the caller's membership
-- of its workspace. ARGV[3] app id ('' = not a valid id), ARGV[4..] the document fields
-- wanted (summary, params, info, schema). Reply: head, workspace id, role, then the fields.
local reply = head
reply[10] = false
reply[11] = false
local app_id = ARGV[3]
if not (authed and app_id ~= '') then return reply end
local ws = located or redis.call('HGET', key('app:{' .. string.sub(app_id, 1, 2) .. '}:' .. app_id), 'ws')
if not ws then return reply end
local app_key = key('app:{' .. ws .. '}:' .. app_id)
if redis.call('HGET', app_key, 'vis') ~= '1' then return reply end
reply[10] = ws
if not account then return reply end
local role = redis.call('HGET', key('ws:{' .. ws .. '}:members'), account)
reply[11] = role
if not (role and active) or #ARGV < 4 then return reply end
local fields = redis.call('HMGET', app_key, unpack(ARGV, 4))
for i = 1, #fields do reply[11 + i] = fields[i] end
return reply
