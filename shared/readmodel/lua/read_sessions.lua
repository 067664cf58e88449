-- GET /account/sessions: one page of the caller's live sessions, newest first.
-- ARGV[3] the sso_subject digest of an SSO caller ('' for an account, whose set the script
-- knows), [4] offset, [5] limit. Reply: head, total, then the page's row documents.
-- An expired session stays in its set until revoked, so expiry is judged here, at `now`.
local reply = head
reply[10] = 0
if not authed then return reply end
local set_key, owner
if head[3] == 'account' and account then
  owner = account
  set_key = key('acct:{' .. owner .. '}:sessions')
elseif head[3] == 'external_sso' and ARGV[3] ~= '' then
  owner = ARGV[3]
  set_key = key('sso:{' .. owner .. '}:sessions')
else
  return reply
end
local now, offset, limit = now_ms, tonumber(ARGV[4]), tonumber(ARGV[5])
local ids = redis.call('ZREVRANGE', set_key, 0, -1)
local total = 0
for i = 1, #ids do
  local session_key = key('sess:{' .. owner .. '}:' .. ids[i])
  local expires = redis.call('HGET', session_key, 'exp')
  if expires and (expires == '' or (tonumber(expires) or 0) > now) then
    total = total + 1
    if total > offset and total <= offset + limit then
      reply[#reply + 1] = redis.call('HGET', session_key, 'row') or false
    end
  end
end
reply[10] = total
return reply
