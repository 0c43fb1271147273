-- Frees a send's booking (KEYS: see calendar.lua). ARGV[1] task id.
-- Returns 1 when the send had a booking, else 0.
return unbook(ARGV[1]) and 1 or 0
