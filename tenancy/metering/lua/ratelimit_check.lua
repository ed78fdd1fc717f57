-- GCRA over several limits, all or nothing. The arithmetic is tenancy/metering/gcra.py's; keep them in step.
-- KEYS[i]: limit i's key, holding its TAT (float microseconds since EPOCH).
-- ARGV[3i-2], ARGV[3i-1], ARGV[3i]: limit i's limit, period in microseconds, cost.
-- Returns {allowed (1/0), index of the limit described, remaining, reset_after_us, retry_after_us (-1: never)}.
-- Time is the server's (TIME), so every client shares one clock. Needs Redis >= 5 (effects replication).
local EPOCH, TOLERANCE = 1704067200, 1.0
local clock = redis.call('TIME')
local now = (tonumber(clock[1]) - EPOCH) * 1000000 + tonumber(clock[2])

local function remaining(limit, period, interval, tat)
  local units = math.floor((period + TOLERANCE - (tat - now)) / interval)
  if units < 0 then return 0 end
  if units > limit then return limit end
  return units
end

local n = #KEYS
local oks, new_tats, remains, resets, waits = {}, {}, {}, {}, {}
local all_ok = true
for i = 1, n do
  local limit, period, cost = tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local interval = period / limit
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local wait = new_tat - period - now
  if cost > limit then wait = math.huge end
  if wait > TOLERANCE then
    all_ok = false
    oks[i], new_tats[i], remains[i], resets[i], waits[i] = false, tat, remaining(limit, period, interval, tat), tat - now, wait
  else
    oks[i], new_tats[i], remains[i], resets[i], waits[i] = true, new_tat, remaining(limit, period, interval, new_tat), new_tat - now, 0
  end
end

local index = 0
if all_ok then
  for i = 1, n do
    local limit = tonumber(ARGV[3 * i - 2])
    if new_tats[i] > now then
      redis.call('SET', KEYS[i], string.format('%.17g', new_tats[i]), 'PX', math.ceil((new_tats[i] - now) / 1000))
    end
    if index == 0 then
      index = i
    else
      local share, best = remains[i] / limit, remains[index] / tonumber(ARGV[3 * index - 2])
      if share < best or (share == best and resets[i] > resets[index]) then index = i end
    end
  end
else
  for i = 1, n do
    if not oks[i] and (index == 0 or waits[i] > waits[index]) then index = i end
  end
end

local retry = waits[index]
if retry == math.huge then retry = -1 else retry = math.ceil(retry) end
return {all_ok and 1 or 0, index, remains[index], math.ceil(resets[index]), retry}
