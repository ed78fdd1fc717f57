-- Reserve ARGV[2] units on every counter, or on none if any would go over its budget.
-- KEYS[1..n]: counters (hashes: u = used, r = reserved); KEYS[n+1]: the reservation's record;
-- KEYS[n+2]: the sorted set of pending reservation ids by expiry.
-- ARGV: reservation id, amount, ttl in seconds, '1' to refuse to count on missing counters (else '0'),
-- then for each counter its budget and expire-at (unix s).
-- Returns {status, counter index, used, reserved, expires_at, amount}. status 1: reserved now;
-- 2: already pending under this id (nothing changes; the stored expiry and amount are returned);
-- 3: the id belongs to an expired reservation; 0: refused by the counter with the least remaining;
-- 4: {4, {indexes of missing counters}}: nothing reserved, seed them (quota_seed.lua) and call again.
local n = #KEYS - 2
local record, pending = KEYS[n + 1], KEYS[n + 2]
local amount = tonumber(ARGV[2])
local existing = redis.call('HMGET', record, 's', 'e', 'a')
if existing[1] == 'pending' then return {2, 0, 0, 0, existing[2], existing[3]} end
if existing[1] then return {3, 0, 0, 0, '', ''} end

if ARGV[4] == '1' then
  local missing = {}
  for i = 1, n do
    if redis.call('EXISTS', KEYS[i]) == 0 then missing[#missing + 1] = i end
  end
  if #missing > 0 then return {4, missing} end
end

local worst, worst_left, worst_used, worst_reserved = 0, 0, 0, 0
for i = 1, n do
  local row = redis.call('HMGET', KEYS[i], 'u', 'r')
  local used, reserved = tonumber(row[1]) or 0, tonumber(row[2]) or 0
  local left = tonumber(ARGV[3 + 2 * i]) - used - reserved
  if amount > left and (worst == 0 or left < worst_left) then
    worst, worst_left, worst_used, worst_reserved = i, left, used, reserved
  end
end
if worst > 0 then return {0, worst, worst_used, worst_reserved, '', ''} end

local clock = redis.call('TIME')
local stamp = string.format('%.6f', tonumber(clock[1]) + tonumber(clock[2]) / 1000000 + tonumber(ARGV[3]))
local keys, expiries = {}, {}
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], 'r', ARGV[2])
  redis.call('EXPIREAT', KEYS[i], ARGV[4 + 2 * i])
  keys[i], expiries[i] = KEYS[i], tonumber(ARGV[4 + 2 * i])
end
redis.call('HSET', record, 's', 'pending', 'a', ARGV[2], 'k', cjson.encode(keys), 'x', cjson.encode(expiries), 'e', stamp)
redis.call('ZADD', pending, stamp, ARGV[1])
return {1, 0, 0, 0, stamp, ARGV[2]}
