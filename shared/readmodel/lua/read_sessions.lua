-- GET /account/sessions: one page of the caller's live sessions, newest first (the reply:
-- SessionsReply). ARGV[3] offset, [4] limit ('' = only the caller). An expired session
-- stays in its set until revoked, so expiry is judged here, at `now`; a session with no
-- expiry is not listed (Dify's `expires_at > now` leaves it out).
if not (authed and account and head[H.SUBJECT_TYPE] == 'account') or ARGV[4] == '' then return reply end
local now, offset, limit = now_ms, tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZREVRANGE', key(K.account_sessions(account)), 0, -1)
local total = 0
for i = 1, #ids do
  local session_key = key(K.session(account, ids[i]))
  local expires = redis.call('HGET', session_key, 'exp')
  if expires and expires ~= '' and (tonumber(expires) or 0) > now then
    total = total + 1
    if total > offset and total <= offset + limit then
      reply[#reply + 1] = redis.call('HGET', session_key, 'row') or false
    end
  end
end
reply[R.TOTAL] = total
return reply
