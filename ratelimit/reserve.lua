-- Books sends of one account on its calendar (KEYS: see calendar.lua), in
-- order, each as a call of its own would at the same instant: a send sees
-- the bookings of those before it. The work of a call (trims, the runs of
-- a new spacing, expiry) is done once, before its first booking.
-- ARGV[1] spacing s, ms: no two bookings closer than that
-- ARGV[2] how late a send may still use its booking, ms
-- ARGV[3] n, how many longer windows; ARGV[4..3+2n] count, period ms of each
-- then for each send: its task id, the time asked for (unix ms)
-- Returns for each send its booked time (unix ms) and 1 when newly booked
-- or 0 when the send held it; when a send finds no time, the times of the
-- sends before it and then why.
local s, late, windows = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local gap, longest = 2 * s, 0
for j = 4, 3 + 2 * windows, 2 do
	longest = math.max(longest, tonumber(ARGV[j + 1]))
end
local now = clock()
local blocked = tonumber(redis.call("GET", KEYS[3]) or "0")
local runs = runsKey(gap)
local firstSend = 4 + 2 * windows -- its ARGV index

-- The bookings the sends held when the call began, read at once.
local members = {}
for i = firstSend, #ARGV, 2 do
	members[#members + 1] = ARGV[i]
end
local scores = redis.call("ZMSCORE", bookings, unpack(members))
-- The bookings of members this call made.
local made = {}

-- Set by tidy: the gaps whose runs are kept, how far back a booking made
-- now may bear on one (the longest gap), and the time before which
-- bookings are trimmed.
local gs, reach, floor

-- tidy does what a call that books does once: drop what no longer counts,
-- and keep the runs of this spacing.
local function tidy()
	gs, reach = {}, gap
	local known = false
	local list = redis.call("ZRANGE", gaps, 0, -1, "WITHSCORES")
	for i = 1, #list, 2 do
		local g = tonumber(list[i])
		if tonumber(list[i + 1]) < now - 900000 then
			-- The runs of a spacing no limiter has booked with for 15
			-- minutes are dropped; a limiter that comes back builds them
			-- again.
			redis.call("DEL", runsKey(g))
			redis.call("ZREM", gaps, list[i])
		else
			-- Runs are kept while a booking made now could join them.
			redis.call("ZREMRANGEBYSCORE", runsKey(g), "-inf", excl(now - g))
			gs[#gs + 1], reach, known = g, math.max(reach, g), known or g == gap
		end
	end
	-- Bookings are kept while a window or a spacing still counts them.
	floor = now - math.max(longest, reach)
	redis.call("ZREMRANGEBYSCORE", bookings, "-inf", excl(floor))
	if not known then
		-- The first booking at this spacing: its runs, from the bookings
		-- that can bear on one made now.
		local list = redis.call("ZRANGEBYSCORE", bookings, int(now - gap), "+inf", "WITHSCORES")
		local first, last
		for i = 2, #list, 2 do
			local x = tonumber(list[i])
			if not last or x - last >= gap then
				if first then
					redis.call("ZADD", runs, int(last), int(first))
				end
				first = x
			end
			last = x
		end
		if first then
			redis.call("ZADD", runs, int(last), int(first))
		end
		gs[#gs + 1] = gap
	end
	redis.call("ZADD", gaps, int(now), int(gap))
end

-- later returns, when t does not fit, the earliest time after it that
-- may; nil when t fits.
local function later(t)
	local r = redis.call("ZRANGEBYSCORE", runs, excl(t - s), "+inf", "WITHSCORES", "LIMIT", 0, 1)
	if r[1] and tonumber(r[1]) < t + s then
		return tonumber(r[2]) + s
	end
	for j = 4, 3 + 2 * windows, 2 do
		local count, period = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
		local from = t - t % period
		if redis.call("ZCOUNT", bookings, int(from), excl(from + period)) >= count then
			return from + period
		end
	end
end

-- reserve books member, asking for time asked, and returns its time and
-- 1 when newly booked or 0 when it held it; nil when no time is free. It
-- held score when the call began.
local function reserve(member, asked, score)
	local held = made[member]
	if not held then
		held = tonumber(score) -- ZMSCORE's nil is false
		if held and floor and held < floor then
			held = nil -- trimmed
		end
	end
	-- A send keeps its booking unless it now wants a later time or comes
	-- too late for it: sent late, it would crowd the sends after it.
	if held then
		if held >= asked and held >= blocked and held >= now - late then
			return held, 0
		end
	end
	if not gs then
		tidy()
	end
	if held then
		unbook(member, held, gs) -- booked again, the send is counted once
	end
	local t = math.max(asked, now, blocked)
	for _ = 1, 10000 do
		local n = later(t)
		if not n then
			book(member, t, gs, gap) -- later(t) found no run of gap near t
			made[member] = t
			return t, 1
		end
		t = n
	end
end

-- expire keeps every key of the calendar at least until `at` plus the
-- longest time a booking counts, all on one TTL: a TTL is only ever
-- extended, so a near booking never cuts a far one's. A key already
-- there is left alone.
local function expire(at)
	local keys = {bookings, gaps}
	for _, g in ipairs(gs) do
		keys[#keys + 1] = runsKey(g)
	end
	local keep, ttls = at - now + math.max(longest, reach, 60000), {}
	for i, k in ipairs(keys) do
		ttls[i] = redis.call("PTTL", k)
		keep = math.max(keep, ttls[i])
	end
	for i, k in ipairs(keys) do
		if ttls[i] ~= -2 and ttls[i] < keep then -- -2: no such key
			redis.call("PEXPIRE", k, int(keep))
		end
	end
end

local out, last = {}, now
for i = firstSend, #ARGV, 2 do
	local t, booked = reserve(ARGV[i], tonumber(ARGV[i + 1]), scores[(i - firstSend) / 2 + 1])
	if not t then
		out[#out + 1] = "no free time in 10000 steps"
		break
	end
	out[#out + 1] = t
	out[#out + 1] = booked
	if booked == 1 then
		last = math.max(last, t)
	end
end
if gs then
	expire(last)
end
return out
