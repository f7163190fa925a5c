-- Counts one request against a minute and an hour window, atomically.
-- KEYS[1] minute counter, KEYS[2] hour counter, KEYS[3] revocation marker.
-- ARGV[1] minute limit, ARGV[2] hour limit,
-- ARGV[3] minute counter TTL in ms, ARGV[4] hour counter TTL in ms.
-- Returns {status, minute count, hour count}; status is 1 when the request
-- is allowed, 0 when a window is at its limit and -1 when the key is revoked.
-- A rejected request increments neither counter.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {-1, 0, 0}
end
local minute = tonumber(redis.call('GET', KEYS[1]) or '0')
local hour = tonumber(redis.call('GET', KEYS[2]) or '0')
if minute >= tonumber(ARGV[1]) or hour >= tonumber(ARGV[2]) then
  return {0, minute, hour}
end
minute = redis.call('INCR', KEYS[1])
if minute == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
hour = redis.call('INCR', KEYS[2])
if hour == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
end
return {1, minute, hour}
