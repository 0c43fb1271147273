-- Frees a send's booking (KEYS: see calendar.lua). ARGV[1] task id.
-- Returns 1 when the send had a booking, else 0.
local t = redis.call("ZSCORE", bookings, ARGV[1])
return t and unbook(ARGV[1], tonumber(t), inUse()) and 1 or 0
