-- Settle (ARGV[2] = 'settle', ARGV[3] = actual units) or release (ARGV[2] = 'release') a reservation.
-- KEYS[1]: its record; KEYS[2]: the pending sorted set. ARGV[1]: the reservation id.
-- Settling moves the reservation to used at the actual amount; a reservation that already expired
-- (its reserve was released by quota_expire.lua) is still charged its actual usage when settled late.
-- The record is deleted, so a second settle or release finds nothing: returns 1 if applied, else 0.
-- Counter keys are read from the record (a single Redis node, or all keys in one cluster slot).
local row = redis.call('HMGET', KEYS[1], 's', 'a', 'k', 'x')
local state, settling = row[1], ARGV[2] == 'settle'
if not state or (state == 'expired' and not settling) then return 0 end
-- 0 - amount, never -amount: Lua prints -0 as "-0", which HINCRBY refuses (a free model's cost hold).
local amount, keys, expiries = tonumber(row[2]), cjson.decode(row[3]), cjson.decode(row[4])
for i, key in ipairs(keys) do
  if state == 'pending' and redis.call('HINCRBY', key, 'r', 0 - amount) < 0 then
    redis.call('HSET', key, 'r', 0)
  end
  if settling then redis.call('HINCRBY', key, 'u', ARGV[3]) end
  redis.call('EXPIREAT', key, expiries[i])
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
