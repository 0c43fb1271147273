-- Books sends of one account on its calendar (KEYS: see calendar.lua), in
-- order, each as a call of its own would at the same instant: a send sees
-- the bookings of those before it. The work of a call (trims, the runs of
-- a new spacing, expiry) is done once, before its first booking.
-- ARGV[1] spacing s, ms: no two bookings closer than that
-- ARGV[2] how late a send may still use its booking, ms
-- ARGV[3] n, how many longer windows; ARGV[4..3+2n] count, period ms of each:
--         a period counted from the Unix epoch (a day from midnight UTC), or,
--         written negative, any period (rolling: the period before each booking)
-- then for each send: its task id, the time asked for (unix ms)
-- Returns for each send its booked time (unix ms) and 1 when newly booked
-- or 0 when the send held it; when a send finds no time, the times of the
-- sends before it and then why.
local s, late, windows = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local gap, longest, rolling = 2 * s, 0, false
for j = 4, 3 + 2 * windows, 2 do
	longest = math.max(longest, math.abs(tonumber(ARGV[j + 1])))
	rolling = rolling or tonumber(ARGV[j + 1]) < 0
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
-- now may bear on one (the longest gap), the time before which bookings
-- are trimmed, and whether sends may be added at the end of the last run
-- without a look-up (see append).
local gs, reach, floor, appends

-- A backlog's sends go one after the other at the end of the account's
-- last run. While tail is that run ({first, last}: no run starts after
-- it), append books such a send without reading the calendar, and keeps
-- its writes in pending (score, member, ...) and pendingRuns (last by
-- first) until settle writes them at once: before anything reads the
-- calendar, and at the end of the call.
local tail, pending, pendingRuns = nil, {}, {}

local function settle()
	for i = 1, #pending, 1000 do
		redis.call("ZADD", bookings, unpack(pending, i, math.min(i + 999, #pending)))
	end
	for first, last in pairs(pendingRuns) do
		redis.call("ZADD", runs, int(last), int(first))
	end
	pending, pendingRuns = {}, {}
end

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
	-- One spacing, reaching no further than its runs, and no rolling
	-- window (whose check reads the bookings): the end of the last run is
	-- all a send appended there depends on.
	appends = #gs == 1 and reach == gap and not rolling
end

-- The bookings of a period of each window, counted once a call and kept
-- by tally: counted[j] is {start of the period, its count}, j the window's
-- ARGV index.
local counted = {}

-- tally counts d more bookings at time t in the periods counted.
local function tally(t, d)
	for j, c in pairs(counted) do
		if t >= c[1] and t < c[1] + tonumber(ARGV[j + 1]) then
			c[2] = c[2] + d
		end
	end
end

-- crowded returns, when a booking at time t would make count + 1
-- bookings less than period apart, the earliest later time that may fit;
-- nil when t fits. Only the runs of count + 1 bookings that hold t can be
-- too short: one starting before t is cleared once its first booking is
-- period behind, one starting at t once t passes the booking after it.
local function crowded(t, count, period)
	local near = redis.call("ZRANGEBYSCORE", bookings, excl(t - period), excl(t + period), "WITHSCORES")
	local xs, k = {}, nil
	for i = 2, #near, 2 do
		local x = tonumber(near[i])
		if not k and x > t then
			xs[#xs + 1], k = t, #xs + 1
		end
		xs[#xs + 1] = x
	end
	if not k then
		xs[#xs + 1], k = t, #xs + 1
	end
	local later
	for i = math.max(1, k - count), math.min(k, #xs - count) do
		if xs[i + count] - xs[i] < period then
			local n = xs[k + 1]
			if i < k then
				n = xs[i] + period
			end
			later = math.max(later or n, n)
		end
	end
	return later
end

-- full returns, when a window holds its count of bookings at time t, when
-- a booking may next fit it; nil when t fits every window.
local function full(t)
	for j = 4, 3 + 2 * windows, 2 do
		local count, period = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
		if period < 0 then
			local n = crowded(t, count, -period)
			if n then
				return n
			end
		else
			local from = t - t % period
			local c = counted[j]
			if not c or c[1] ~= from then
				settle()
				c = {from, redis.call("ZCOUNT", bookings, int(from), excl(from + period))}
				counted[j] = c
			end
			if c[2] >= count then
				return from + period
			end
		end
	end
end

-- place returns the earliest time at or after t that keeps to the limits,
-- the bookings p just before it and q just after it, and what the runs of
-- gap show around it (see join); nil when it finds none. The runs of gap
-- hold every booking a time from now on can be near: p and q are read
-- from them, and p is missing only when no booking is within gap of t.
-- Each time it tries is a step; it gives up after 10000.
local function place(t)
	local steps = 0
	while steps < 10000 do
		steps = steps + 1
		local r = redis.call("ZRANGEBYSCORE", runs, excl(t - s), "+inf", "WITHSCORES", "LIMIT", 0, 2)
		local pFirst, p
		if r[1] and tonumber(r[1]) < t + s then
			-- Too close to a run: s after its end, and the next run starts
			-- at least s after that.
			pFirst, p = tonumber(r[1]), tonumber(r[2])
			t, steps = p + s, steps + 1
			r = {r[3], r[4]}
		else
			local b = redis.call("ZREVRANGEBYSCORE", runs, int(t - s), "-inf", "WITHSCORES", "LIMIT", 0, 1)
			pFirst, p = tonumber(b[1]), tonumber(b[2])
		end
		local n = full(t)
		if not n and steps <= 10000 then
			return t, p, tonumber(r[1]), {pFirst, tonumber(r[2])}
		end
		t = n
	end
end

-- book books member at time t, whose neighbours p and q and span were
-- found by place, in the runs of each gap.
local function book(member, t, p, q, span)
	if not p and reach > gap then
		p = before(t) -- a longer gap reaches further back than gap's runs
	end
	redis.call("ZADD", bookings, int(t), member)
	tally(t, 1)
	for _, g in ipairs(gs) do
		join(g, t, p, q, g == gap and span or nil)
	end
end

-- append books member at the earliest time from a at the end of tail, as
-- place and book would, and returns it; nil when a is before tail's first
-- booking (an earlier gap may fit it) or a window is full then (place
-- finds the next time).
local function append(member, a)
	if not (appends and tail and a >= tail[1]) then
		return nil
	end
	local t = math.max(a, tail[2] + s)
	if full(t) then
		return nil
	end
	if t - tail[2] >= gap then
		tail = {t, t} -- a run of its own
	else
		tail = {tail[1], t}
	end
	pending[#pending + 1] = int(t)
	pending[#pending + 1] = member
	pendingRuns[tail[1]] = t
	tally(t, 1)
	return t
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
	local a = math.max(asked, now, blocked)
	local t = not held and append(member, a)
	if t then
		made[member] = t
		return t, 1
	end
	settle()
	tail = nil
	if held and unbook(member, held, gs) then
		tally(held, -1) -- booked again, the send is counted once
	end
	local p, q, span
	t, p, q, span = place(a)
	if t then
		book(member, t, p, q, span)
		made[member] = t
		if not q then -- no run after t: the run it ended is the last
			tail = {p and t - p < gap and span[1] or t, t}
		end
		return t, 1
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
	settle()
	expire(last)
end
return out
