-- Dify's sliding-window rate limit (its RateLimiter, libs/helper.py) in one step: forget the
-- requests that left the window, refuse while `budget` of them remain in it, else count this
-- one under `member`. Times are whole epoch seconds, as Dify keeps them. Returns 0 when the
-- request is counted, else the seconds until the oldest one leaves the window (at least 1).
local function spend(bucket, budget, window, now_s, member)
  redis.call('ZREMRANGEBYSCORE', bucket, '-inf', now_s - window)
  if redis.call('ZCARD', bucket) >= budget then
    local oldest = redis.call('ZRANGE', bucket, 0, 0, 'WITHSCORES')
    if not oldest[2] then return 1 end
    return math.max(math.floor(tonumber(oldest[2])) + window - now_s, 1)
  end
  redis.call('ZADD', bucket, now_s, member)
  redis.call('EXPIRE', bucket, window * 2)
  return 0
end
