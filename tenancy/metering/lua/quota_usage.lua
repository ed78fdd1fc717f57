-- Used and reserved units of each counter, read in one consistent snapshot.
-- KEYS: counters. Returns {used_1, reserved_1, used_2, reserved_2, ...} (missing counters read 0).
local out = {}
for i, key in ipairs(KEYS) do
  local row = redis.call('HMGET', key, 'u', 'r')
  out[2 * i - 1], out[2 * i] = tonumber(row[1]) or 0, tonumber(row[2]) or 0
end
return out
