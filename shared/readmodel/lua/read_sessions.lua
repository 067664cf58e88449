-- GET /account/sessions: one page of the caller's live sessions, newest first (the reply:
-- SessionsReply). ARGV[3] offset, [4] limit ('' = only the caller). An expired session
-- stays in its set until revoked, so expiry is judged here, at `now`; a session with no
-- expiry is not listed (Dify's `expires_at > now` leaves it out). Three commands whatever
-- the number of sessions: the ids in order, every expiry, the page's rows.
if not (authed and account and head[H.SUBJECT_TYPE] == 'account') or ARGV[4] == '' then return reply end
local now, offset, limit = now_ms, tonumber(ARGV[3]), tonumber(ARGV[4])
local ids = redis.call('ZREVRANGE', key(K.account_sessions(account)), 0, -1)
local total, page = 0, {}
local expiries_key = key(K.session_expiries(account))
local chunk = 1000
for first = 1, #ids, chunk do
  local last = math.min(first + chunk - 1, #ids)
  local expiries = redis.call('HMGET', expiries_key, unpack(ids, first, last))
  for j = 1, #expiries do
    local expires = expiries[j]
    if expires and expires ~= '' and (tonumber(expires) or 0) > now then
      total = total + 1
      if total > offset and total <= offset + limit then page[#page + 1] = ids[first + j - 1] end
    end
  end
end
if #page > 0 then
  local rows = redis.call('HMGET', key(K.session_rows(account)), unpack(page))
  for i = 1, #rows do reply[#reply + 1] = rows[i] end
end
reply[R.TOTAL] = total
return reply
