-- Books a send on an account's calendar (KEYS: see calendar.lua).
-- ARGV[1] task id; ARGV[2] the time asked for, unix ms
-- ARGV[3] spacing s, ms: no two bookings closer than that
-- ARGV[4] how late a send may still use its booking, ms
-- ARGV[5..] count, period ms of each longer window
-- Returns {booked time unix ms, 1 when newly booked or 0 when the send held it}.
local member, asked, s, late = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now = clock()
local blocked = tonumber(redis.call("GET", KEYS[3]) or "0")

-- A send keeps its booking unless it now wants a later time or comes too
-- late for it: sent late, it would crowd the sends after it.
local held = redis.call("ZSCORE", bookings, member)
if held then
	held = tonumber(held)
	if held >= asked and held >= blocked and held >= now - late then
		return {held, 0}
	end
end

-- The runs of a spacing no limiter has booked with for 15 minutes are
-- dropped; a limiter that comes back builds them again.
for _, g in ipairs(redis.call("ZRANGEBYSCORE", gaps, "-inf", "(" .. (now - 900000))) do
	redis.call("DEL", runsKey(g))
	redis.call("ZREM", gaps, g)
end

-- Bookings are kept while a window or a spacing still counts them; runs
-- while a booking made now could join them.
local gap, reach, longest = 2 * s, 2 * s, 0
for _, g in ipairs(redis.call("ZRANGE", gaps, 0, -1)) do
	reach = math.max(reach, tonumber(g))
	redis.call("ZREMRANGEBYSCORE", runsKey(g), "-inf", "(" .. (now - tonumber(g)))
end
for j = 5, #ARGV, 2 do
	longest = math.max(longest, tonumber(ARGV[j + 1]))
end
redis.call("ZREMRANGEBYSCORE", bookings, "-inf", "(" .. (now - math.max(longest, reach)))
unbook(member) -- booked again, the send is counted once

local runs = runsKey(gap)
if not redis.call("ZSCORE", gaps, gap) then
	-- The first booking at this spacing: its runs, from the bookings that
	-- can bear on one made now.
	local list = redis.call("ZRANGEBYSCORE", bookings, now - gap, "+inf", "WITHSCORES")
	local first, last
	for i = 2, #list, 2 do
		local x = tonumber(list[i])
		if not last or x - last >= gap then
			if first then
				redis.call("ZADD", runs, last, first)
			end
			first = x
		end
		last = x
	end
	if first then
		redis.call("ZADD", runs, last, first)
	end
end
redis.call("ZADD", gaps, now, gap)

-- later returns, when t does not fit, the earliest time after it that
-- may; nil when t fits.
local function later(t)
	local r = redis.call("ZRANGEBYSCORE", runs, "(" .. (t - s), "+inf", "WITHSCORES", "LIMIT", 0, 1)
	if r[1] and tonumber(r[1]) < t + s then
		return tonumber(r[2]) + s
	end
	for j = 5, #ARGV, 2 do
		local count, period = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
		local from = t - t % period
		if redis.call("ZCOUNT", bookings, from, "(" .. (from + period)) >= count then
			return from + period
		end
	end
end

-- expire keeps every key of the calendar at least until `at` plus the
-- longest time a booking counts, all on one TTL: a TTL is only ever
-- extended, so a near booking never cuts a far one's.
local function expire(at)
	local keys = {bookings, gaps}
	for _, g in ipairs(redis.call("ZRANGE", gaps, 0, -1)) do
		table.insert(keys, runsKey(g))
	end
	local keep = at - now + math.max(longest, reach, 60000)
	for _, k in ipairs(keys) do
		keep = math.max(keep, redis.call("PTTL", k))
	end
	for _, k in ipairs(keys) do
		redis.call("PEXPIRE", k, keep)
	end
end

local t = math.max(asked, now, blocked)
for _ = 1, 10000 do
	local n = later(t)
	if not n then
		book(member, t)
		expire(t)
		return {t, 1}
	end
	t = n
end
expire(now)
return redis.error_reply("no free time in 10000 steps")
