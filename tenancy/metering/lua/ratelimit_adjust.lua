-- Charge (delta > 0) or refund (delta < 0) units on GCRA keys after the real usage is known.
-- KEYS: the keys. ARGV: per key a triple (limit, period in microseconds, delta). A refund never
-- makes a bucket fuller than full; a charge may push the TAT past a whole period (a debt later
-- requests wait out). One call adjusts every limit of a request, in one round trip.
local EPOCH = 1704067200
local clock = redis.call('TIME')
local now = (tonumber(clock[1]) - EPOCH) * 1000000 + tonumber(clock[2])
for i, key in ipairs(KEYS) do
  local limit, period, delta = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + delta * period / limit
  if new_tat > now then
    redis.call('SET', key, string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
  else
    redis.call('DEL', key)
  end
end
return #KEYS
