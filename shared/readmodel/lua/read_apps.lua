-- GET /apps: one page of a workspace's listed apps, with what the auth pipeline needs.
-- ARGV[3] workspace id, [4] mode, [5] tag, [6] lower-cased name needle ('' = no filter),
-- [7] offset, [8] limit, [9] an app id a UUID-valued name names ('' = none), [10] '1' when
-- a page is wanted ('0': the auth facts only).
-- Reply: head, role, total, workspace status, tag known ('1' when the tag filter names a tag
-- some listed app has), then, for a page: the workspace's row tail, the number of rows, the
-- page's stored rows, and (author id, JSON name) for each of their authors the workspace
-- knows. A stored row is its author's id (36 characters) and the row up to the author's
-- name; the API completes it (name, then tail): no row is rebuilt inside Redis.
local ws = ARGV[3]
local reply = head
reply[10] = false
reply[11] = 0
reply[12] = false
reply[13] = false
if not (authed and ws ~= '') then return reply end
local workspace = redis.call('HMGET', key('ws:{' .. ws .. '}'), 'status', 'tail')
reply[12] = workspace[1]
if not (reply[12] and reply[12] ~= 'archive' and account) then return reply end
local role = redis.call('HGET', key('ws:{' .. ws .. '}:members'), account)
reply[10] = role
if not (role and active) then return reply end

-- The stored rows of `ids` and their authors' names, into the reply from reply[14] on.
local function rows(ids)
  reply[14] = workspace[2] or false
  reply[15] = #ids
  if #ids == 0 then return end
  local stored = redis.call('HMGET', key('ws:{' .. ws .. '}:rows'), unpack(ids))
  local wanted, seen = {}, {}
  for i = 1, #ids do
    local row = stored[i]
    reply[15 + i] = row
    if row then
      local author = string.sub(row, 1, 36)
      if not seen[author] then
        seen[author] = true
        wanted[#wanted + 1] = author
      end
    end
  end
  if #wanted == 0 then return end
  local names = redis.call('HMGET', key('ws:{' .. ws .. '}:authors'), unpack(wanted))
  local n = 15 + #ids
  for i = 1, #wanted do
    reply[n + 2 * i - 1] = wanted[i]
    reply[n + 2 * i] = names[i]
  end
end

local mode, tag, needle = ARGV[4], ARGV[5], ARGV[6]
local offset, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
if ARGV[9] ~= '' then
  -- Dify looks a UUID-valued name up as an app id: visible and in this workspace, or nothing.
  local app = redis.call('HMGET', key('app:{' .. ws .. '}:' .. ARGV[9]), 'vis', 'api')
  if ARGV[10] == '1' and app[1] == '1' and app[2] == '1' then
    rows({ARGV[9]})
    if reply[16] then reply[11] = 1 end
  end
  return reply
end
if tag ~= '' then
  if redis.call('EXISTS', key('ws:{' .. ws .. '}:idx:tag:' .. tag)) == 0 then return reply end
  reply[13] = '1'
end
if ARGV[10] ~= '1' then return reply end

local sets = {}
if mode ~= '' then sets[#sets + 1] = key('ws:{' .. ws .. '}:idx:mode:' .. mode) end
if tag ~= '' then sets[#sets + 1] = key('ws:{' .. ws .. '}:idx:tag:' .. tag) end
if #sets == 0 then sets[1] = key('ws:{' .. ws .. '}:idx') end

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
    local names_key = key('ws:{' .. ws .. '}:names')
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

reply[11] = total
rows(ids)
return reply
