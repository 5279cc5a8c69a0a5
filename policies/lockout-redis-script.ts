// The steps of lockout-record.ts as one Lua script, so that Redis runs each
// call atomically for every guard sharing it. Times come from the caller.
//
// KEYS: the subjects' records. ARGV: op ("admit" | "failure" | "success" |
// "neither"), nowMs, windowMs, pendingMs, escalationMemoryMs, lock lengths
// joined by ",", then per key: maxFailures, account, scope, label.
//
// admit returns {1} or {0, reason (1 locked, 2 busy), key index, retryAfterMs};
// the others return, per lock started, {key index, untilMs, level}.
export const lockoutScript = `
local op = ARGV[1]
local now = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local pendingMs = tonumber(ARGV[4])
local memoryMs = tonumber(ARGV[5])
local steps = {}
for step in string.gmatch(ARGV[6], '[^,]+') do steps[#steps + 1] = tonumber(step) end

local function arg(i, field) return ARGV[6 + (i - 1) * 4 + field] end
local function int(value) return string.format('%.0f', value) end

local function load(i)
  local v = redis.call('HMGET', KEYS[i], 'f', 'fr', 'p', 'pt', 'lu', 'lv', 'lx')
  local r = {}
  r.f = tonumber(v[1]) or 0
  r.fr = tonumber(v[2]) or 0
  r.p = tonumber(v[3]) or 0
  r.pt = tonumber(v[4]) or 0
  r.lu = tonumber(v[5]) or 0
  r.lv = tonumber(v[6]) or 0
  r.lx = tonumber(v[7]) or 0
  return r
end

local function refresh(r)
  if r.fr <= now then r.f = 0; r.fr = 0 end
  if r.pt <= now then r.p = 0; r.pt = 0 end
end

local function save(i, r)
  local ends = math.max(r.fr, r.pt, r.lu, r.lx)
  if ends <= now then
    redis.call('DEL', KEYS[i])
    return
  end
  redis.call('HSET', KEYS[i], 'f', int(r.f), 'fr', int(r.fr), 'p', int(r.p), 'pt', int(r.pt),
    'lu', int(r.lu), 'lv', int(r.lv), 'lx', int(r.lx),
    'a', arg(i, 2), 's', arg(i, 3), 'l', arg(i, 4))
  redis.call('PEXPIRE', KEYS[i], int(ends - now + 60000))
end

local records = {}
for i = 1, #KEYS do records[i] = load(i) end

if op == 'admit' then
  for i = 1, #KEYS do
    if records[i].lu > now then return {0, 1, i, records[i].lu - now} end
  end
  for i = 1, #KEYS do
    local r = records[i]
    refresh(r)
    if r.f + r.p >= tonumber(arg(i, 1)) then
      return {0, 2, i, math.max(1000, r.pt - now)}
    end
  end
  for i = 1, #KEYS do
    records[i].p = records[i].p + 1
    records[i].pt = now + pendingMs
    save(i, records[i])
  end
  return {1}
end

local locks = {}
for i = 1, #KEYS do
  local r = records[i]
  refresh(r)
  r.p = math.max(0, r.p - 1)
  if op == 'success' then
    r.f = 0; r.fr = 0; r.lv = 0; r.lx = 0
  elseif op == 'failure' then
    if r.fr == 0 then r.fr = now + windowMs end
    r.f = r.f + 1
    if r.f >= tonumber(arg(i, 1)) then
      local level = 0
      if r.lx > now then level = r.lv end
      r.lu = now + steps[math.min(level + 1, #steps)]
      r.lv = level + 1
      r.lx = r.lu + memoryMs
      r.f = 0; r.fr = 0
      locks[#locks + 1] = i
      locks[#locks + 1] = r.lu
      locks[#locks + 1] = r.lv
    end
  end
  save(i, r)
end
return locks
`;
