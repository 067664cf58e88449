-- GET /apps: one page of a workspace's listed apps, with what the auth pipeline needs (the
-- reply: AppsReply). ARGV[3] workspace id, [4] mode, [5] tag, [6] lower-cased name needle
-- ('' = no filter), [7] offset, [8] limit, [9] an app id a UUID-valued name names ('' =
-- none), [10] '1' when a page is wanted ('0': the auth facts only).
-- A stored row is its author's id (36 characters) and the row up to the author's name; the
-- reply carries the page's stored rows, then (author id, JSON name) for each of their
-- authors the workspace knows, and the API completes each row (name, then the workspace's
-- tail): no row is rebuilt inside Redis.
local ws = ARGV[3]
if not (authed and ws ~= '') then return reply end
local workspace = redis.call('HMGET', key(K.workspace(ws)), 'status', 'tail')
local status = workspace[1]
reply[R.STATUS] = status
if not (status and status ~= 'archive' and account) then return reply end
local role = redis.call('HGET', key(K.workspace_members(ws)), account)
reply[R.ROLE] = role
if not (role and active) then return reply end

-- The stored rows of `ids` and their authors' names, into the reply from R.ROWS on.
local function rows(ids)
  reply[R.TAIL] = workspace[2] or false
  reply[R.ROW_COUNT] = #ids
  if #ids == 0 then return end
  local stored = redis.call('HMGET', key(K.app_rows(ws)), unpack(ids))
  local wanted, seen = {}, {}
  for i = 1, #ids do
    local row = stored[i]
    reply[R.ROWS + i - 1] = row
    if row then
      local author = string.sub(row, 1, 36)
      if not seen[author] then
        seen[author] = true
        wanted[#wanted + 1] = author
      end
    end
  end
  if #wanted == 0 then return end
  local names = redis.call('HMGET', key(K.app_authors(ws)), unpack(wanted))
  local n = R.ROWS - 1 + #ids
  for i = 1, #wanted do
    reply[n + 2 * i - 1] = wanted[i]
    reply[n + 2 * i] = names[i]
  end
end

local mode, tag, needle = ARGV[4], ARGV[5], ARGV[6]
local offset, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
if ARGV[9] ~= '' then
  -- Dify looks a UUID-valued name up as an app id: visible and in this workspace, or nothing.
  -- `api` is there while the app is visible, and only then; '1': listed.
  local api = redis.call('HGET', key(K.app(ws, ARGV[9])), 'api')
  if ARGV[10] == '1' and api == '1' then
    rows({ARGV[9]})
    if reply[R.ROWS] then reply[R.TOTAL] = 1 end
  end
  return reply
end
if tag ~= '' then
  if redis.call('EXISTS', key(K.tag_index(ws, tag))) == 0 then return reply end
  reply[R.TAG_KNOWN] = '1'
end
if ARGV[10] ~= '1' then return reply end

local sets = {}
if mode ~= '' then sets[#sets + 1] = key(K.mode_index(ws, mode)) end
if tag ~= '' then sets[#sets + 1] = key(K.tag_index(ws, tag)) end
if #sets == 0 then sets[1] = key(K.app_index(ws)) end

local ids = {}
local total = 0
if #sets == 1 and needle == '' then
  total = redis.call('ZCARD', sets[1])
  if offset < total then
    ids = redis.call('ZREVRANGE', sets[1], offset, offset + limit - 1)
  end
else
  -- Walk the smallest index in order; every index shares scores and members, so its order
  -- is the list's order. The others and the name filter only drop entries.
  local base, others = 1, {}
  local smallest = redis.call('ZCARD', sets[1])
  for i = 2, #sets do
    local size = redis.call('ZCARD', sets[i])
    if size < smallest then base, smallest = i, size end
  end
  for i = 1, #sets do
    if i ~= base then others[#others + 1] = sets[i] end
  end
  local candidates = redis.call('ZREVRANGE', sets[base], 0, -1)
  local names = {}
  if needle ~= '' then
    local names_key = key(K.app_names(ws))
    local chunk = 1000
    for first = 1, #candidates, chunk do
      local last = math.min(first + chunk - 1, #candidates)
      local part = redis.call('HMGET', names_key, unpack(candidates, first, last))
      for j = 1, #part do names[first + j - 1] = part[j] end
    end
  end
  for i = 1, #candidates do
    local id = candidates[i]
    local keep = true
    if needle ~= '' then
      local name = names[i]
      keep = name and string.find(name, needle, 1, true) ~= nil
    end
    for j = 1, #others do
      if not keep then break end
      keep = redis.call('ZSCORE', others[j], id) ~= false
    end
    if keep then
      total = total + 1
      if total > offset and total <= offset + limit then ids[#ids + 1] = id end
    end
  end
end

reply[R.TOTAL] = total
rows(ids)
return reply
