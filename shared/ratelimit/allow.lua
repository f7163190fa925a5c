-- Counts N requests of one key against a minute and an hour window,
-- atomically.
-- KEYS[1] minute counter, KEYS[2] hour counter, KEYS[3] revocation marker.
-- ARGV[1] minute limit, ARGV[2] hour limit,
-- ARGV[3] minute counter TTL in ms, ARGV[4] hour counter TTL in ms,
-- ARGV[5] N, how many requests arrived together (at least 1).
-- Returns {admitted, minute count, hour count}: admitted is how many of the N
-- requests fit under both limits (the first ones in arrival order), or -1
-- when the key is revoked. Only admitted requests are counted, so a
-- rejected request increments neither counter.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {-1, 0, 0}
end
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local hour = tonumber(redis.call('GET', KEYS[2]) or '0')
local admit = math.min(tonumber(ARGV[5]), tonumber(ARGV[1]) - minute, tonumber(ARGV[2]) - hour)
if admit <= 0 then
  return {0, minute, hour}
end
minute = redis.call('INCRBY', KEYS[1], admit)
if minute == admit then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
hour = redis.call('INCRBY', KEYS[2], admit)
if hour == admit then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return {admit, minute, hour}
