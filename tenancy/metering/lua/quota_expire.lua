-- Release pending reservations whose expiry is at or before ARGV[1] (unix seconds; '' = the server's TIME).
-- KEYS[1]: the pending sorted set. ARGV[2]: at most this many per call. ARGV[3]: record key prefix
-- (record = prefix .. id). ARGV[4]: seconds an expired record is kept, so a late settle still counts.
-- Returns how many ids were taken off the pending set.
local now = tonumber(ARGV[1])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%.6f', now), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local record = ARGV[3] .. id
  local row = redis.call('HMGET', record, 's', 'a', 'k', 'x')
  if row[1] == 'pending' then
    local amount, keys, expiries = tonumber(row[2]), cjson.decode(row[3]), cjson.decode(row[4])
    for i, key in ipairs(keys) do
      if redis.call('HINCRBY', key, 'r', 0 - amount) < 0 then redis.call('HSET', key, 'r', 0) end
      redis.call('EXPIREAT', key, expiries[i])
    end
    redis.call('HSET', record, 's', 'expired')
    redis.call('EXPIRE', record, ARGV[4])
  end
  redis.call('ZREM', KEYS[1], id)
end
return #ids
