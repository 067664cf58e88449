-- GET /account/sessions: one page of the caller's live sessions, newest first.
-- ARGV[3] offset, [4] limit ('' = only the caller). Reply: head, total, then the page's row
-- documents. An expired session stays in its set until revoked, so expiry is judged here,
-- at `now`; a session with no expiry is not listed (Dify's `expires_at > now` leaves it out).
local reply = head
reply[10] = 0
if not (authed and account and head[3] == 'account') or ARGV[4] == '' then return reply end
local set_key = key('acct:{' .. account .. '}:sessions')
local now, offset, limit = now_ms, tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZREVRANGE', set_key, 0, -1)
local total = 0
for i = 1, #ids do
  local session_key = key('sess:{' .. account .. '}:' .. ids[i])
  local expires = redis.call('HGET', session_key, 'exp')
  if expires and expires ~= '' and (tonumber(expires) or 0) > now then
    total = total + 1
    if total > offset and total <= offset + limit then
      reply[#reply + 1] = redis.call('HGET', session_key, 'row') or false
    end
  end
end
reply[10] = total
return reply
