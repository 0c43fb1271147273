-- Books a send slot on an account's calendar.
-- KEYS[1] slots: sorted set, member a task id, score its slot index
-- KEYS[2] windows: hash, "periodMs:windowIndex" -> sends booked in that window
-- KEYS[3] blocked: unix ms before which the provider wants no request
-- ARGV[1] slot interval ms; ARGV[2] not before, unix ms; ARGV[3] now, unix ms
-- ARGV[4] task id; ARGV[5] how late a send may still use its slot, ms
-- ARGV[6..] count, period ms of each longer window
-- Returns {slot unix ms, 1 when newly booked or 0 when the send held it}.
local interval, at, now, member, late = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local blocked = tonumber(redis.call("GET", KEYS[3]) or "0")
if blocked > at then at = blocked end
local start = math.ceil(at / interval)

-- Slots in the past are free for nobody: forget them.
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. (math.floor(now / interval) - 2))

local function window(i, j)
	local period = tonumber(ARGV[j + 1])
	return ARGV[j + 1] .. ":" .. math.floor(i * interval / period)
end

-- A send keeps the slot it holds, unless it now wants a later one or comes
-- too late for it: sent late, it would crowd the sends after it.
local held = redis.call("ZSCORE", KEYS[1], member)
if held then
	held = tonumber(held)
	if held >= start - 1 and held * interval >= blocked and held * interval >= now - late then
		return {held * interval, 0}
	end
	redis.call("ZREM", KEYS[1], member)
	for j = 6, #ARGV, 2 do
		local f = window(held, j)
		if tonumber(redis.call("HGET", KEYS[2], f) or "0") > 0 then
			redis.call("HINCRBY", KEYS[2], f, -1)
		end
	end
end

-- free returns the first slot at or after i that nobody holds: one send per slot.
local function free(i)
	if redis.call("ZCOUNT", KEYS[1], i, i) == 0 then
		return i
	end
	local k = 2
	while redis.call("ZCOUNT", KEYS[1], i, i + k - 1) == k do
		k = k * 2
	end
	local lo, hi = i, i + k - 1
	while lo < hi do
		local mid = math.floor((lo + hi) / 2)
		if redis.call("ZCOUNT", KEYS[1], i, mid) < mid - i + 1 then
			hi = mid
		else
			lo = mid + 1
		end
	end
	return lo
end

local i = start
for _ = 1, 10000 do
	i = free(i)
	local full = false
	for j = 6, #ARGV, 2 do
		local count, period = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
		if tonumber(redis.call("HGET", KEYS[2], window(i, j)) or "0") >= count then
			full = true
			i = math.ceil((math.floor(i * interval / period) + 1) * period / interval)
			break
		end
	end
	if not full then
		redis.call("ZADD", KEYS[1], i, member)
		local keep = i * interval - now + 60000
		for j = 6, #ARGV, 2 do
			redis.call("HINCRBY", KEYS[2], window(i, j), 1)
			keep = math.max(keep, i * interval - now + 2 * tonumber(ARGV[j + 1]))
		end
		redis.call("PEXPIRE", KEYS[1], keep)
		if #ARGV > 5 then
			redis.call("PEXPIRE", KEYS[2], keep)
		end
		return {i * interval, 1}
	end
end
return redis.error_reply("no free slot in 10000 windows")
