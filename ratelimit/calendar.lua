-- An account's calendar, shared by reserve.lua and release.lua.
-- KEYS[1] bookings: sorted set, member a task id, score its booked time, unix ms
-- KEYS[2] runs: sorted set, member a gap G in ms, score when a limiter
--         spacing sends G/2 apart last booked, unix ms
-- KEYS[3] blocked: unix ms before which the provider wants no request
-- KEYS[2]:G, for each G of gaps, runs: sorted set of the maximal chains of
--         bookings whose consecutive gaps are shorter than G, member the
--         chain's first booking, score its last (unix ms).
-- For a spacing s with G = 2s, a run shows in one lookup where the next
-- booking can go: never inside it (its gaps are too short) and always s
-- after its end (runs are at least 2s apart). Each spacing in use (two
-- while a change of RATE_LIMITS rolls out) keeps its own runs.
local bookings, gaps = KEYS[1], KEYS[2]

-- clock returns Redis's time in unix ms: every host books by the same clock.
local function clock()
	local t = redis.call("TIME")
	return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- int returns the whole number x written for Redis, and excl the bound
-- that excludes x: string.format writes an integer at a fraction of the
-- cost of the float Lua and Redis would write.
local function int(x)
	return string.format("%d", x)
end

local function excl(x)
	return string.format("(%d", x)
end

-- runsKey returns the key of the runs of gap g.
local function runsKey(g)
	return gaps .. ":" .. g
end

-- runOf returns the first and last booking of the run of runs holding time
-- x; nil when none does.
local function runOf(runs, x)
	local r = redis.call("ZRANGEBYSCORE", runs, int(x), "+inf", "WITHSCORES", "LIMIT", 0, 1)
	if r[1] and tonumber(r[1]) <= x then
		return tonumber(r[1]), tonumber(r[2])
	end
end

-- before returns the booking just before time x; nil when none.
local function before(x)
	local p = redis.call("ZREVRANGEBYSCORE", bookings, excl(x), "-inf", "WITHSCORES", "LIMIT", 0, 1)
	return p[2] and tonumber(p[2])
end

-- neighbours returns the bookings just before and just after time x.
local function neighbours(x)
	local q = redis.call("ZRANGEBYSCORE", bookings, excl(x), "+inf", "WITHSCORES", "LIMIT", 0, 1)
	return before(x), q[2] and tonumber(q[2])
end

-- join adds the booking at time t, between bookings p and q, to the runs
-- of gap g. span, when given, is what finding t showed of the runs of g: t
-- lies in none, p ends the run starting at span[1], and q starts the run
-- ending at span[2].
local function join(g, t, p, q, span)
	local runs = runsKey(g)
	local pFirst, qFirst, qLast
	if span then
		pFirst, qFirst, qLast = span[1], q, span[2]
	elseif runOf(runs, t) then
		return -- inside a run: its gaps only get shorter
	else
		if p and t - p < g then
			pFirst = runOf(runs, p)
		end
		if q and q - t < g then
			qFirst, qLast = runOf(runs, q)
		end
	end
	local first, last = t, t
	if p and t - p < g then
		-- The run before grows: added again below, under its first booking.
		first = pFirst or t
	end
	if q and q - t < g and qFirst then
		redis.call("ZREM", runs, int(qFirst))
		last = qLast
	end
	redis.call("ZADD", runs, int(last), int(first))
end

-- leave takes the booking at time t, whose neighbours are p and q, out of
-- the runs of gap g: its run shrinks or splits.
local function leave(g, t, p, q)
	local runs = runsKey(g)
	local first, last = runOf(runs, t)
	if not first then
		return
	end
	if p and p < first then
		p = nil -- the run's earlier bookings have been trimmed
	end
	if q and q > last then
		q = nil
	end
	if p and q and q - p < g then
		return -- the run holds together
	end
	-- Added before removed: the key never empties, and keeps its TTL.
	if q then
		redis.call("ZADD", runs, int(last), int(q))
	end
	if p then
		redis.call("ZADD", runs, int(p), int(first))
	else
		redis.call("ZREM", runs, int(first))
	end
end

-- inUse returns the gaps whose runs are kept, as numbers.
local function inUse()
	local gs = redis.call("ZRANGE", gaps, 0, -1)
	for i, g in ipairs(gs) do
		gs[i] = tonumber(g)
	end
	return gs
end

-- unbook removes member's booking, read at time t, and takes it out of the
-- runs of each gap of gs; false when it had none.
local function unbook(member, t, gs)
	if redis.call("ZREM", bookings, member) == 0 then
		return false
	end
	local p, q = neighbours(t)
	for _, g in ipairs(gs) do
		leave(g, t, p, q)
	end
	return true
end
