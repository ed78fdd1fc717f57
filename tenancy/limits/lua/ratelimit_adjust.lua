-- Charge (delta > 0) or refund (delta < 0) units on one GCRA key after the real usage is known.
-- KEYS[1]: the key. ARGV: limit, period in microseconds, delta. A refund never makes the bucket
-- fuller than full; a charge may push the TAT past a whole period (a debt later requests wait out).
local EPOCH = 1704067200
local clock = redis.call('TIME')
local now = (tonumber(clock[1]) - EPOCH) * 1000000 + tonumber(clock[2])
local limit, period, delta = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + delta * period / limit
if new_tat > now then
  redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
else
  redis.call('DEL', KEYS[1])
end
return 1
