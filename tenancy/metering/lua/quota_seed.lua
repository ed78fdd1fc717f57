-- Rebuild counters that are missing (a new period, or a Redis restart without persistence lost them).
-- KEYS: counters. ARGV: per counter the units already used (from the usage ledger) and its expire-at.
-- A counter that exists by now (another process seeded it first, or a reserve made it) is left as it
-- is, like SET NX. Returns how many counters were seeded.
local seeded = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'u', ARGV[2 * i - 1], 'r', 0)
    redis.call('EXPIREAT', key, ARGV[2 * i])
    seeded = seeded + 1
  end
end
return seeded
