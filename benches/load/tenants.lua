-- wrk script (LuaJIT): the well-behaved tenants of isolation.sh.
--
--   wrk ... -s tenants.lua URL -- zipf N S PRINCIPALS [statuses]
--   wrk ... -s tenants.lua URL -- warm N HOT PRINCIPALS THREADS
--
-- zipf: each request reads one of the sample's generated images, Zipf(s=S)
-- over ids 0..N-1 (rank 1 = id 0, the id scheme of workload.lua), as one
-- of PRINCIPALS callers picked uniformly: token `tenantK:project-K:member`,
-- K = 1..PRINCIPALS, which the sample accepts (the images are public).
-- warm: every principal reads ids 0..HOT-1 once (wrk thread t of THREADS
-- walks every THREADS-th pair), then the same first pair again until wrk
-- stops: run it long enough, done() says how many pairs were walked.
--
-- The (principal, id) sequence is pre-drawn and each distinct request
-- string built once, on first use: the load generator shares the cores
-- with the proxy, so request() stays two table lookups. No response()
-- hook (it would make wrk hand every response to Lua).
--
-- done() prints "@@RESULT {json}" as workload.lua does: requests, socket
-- errors, status errors (wrk counts status >= 400), latency percentiles in
-- microseconds, the pairs a warm run walked, and with `statuses` the
-- count of each non-2xx status.

local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

local SEQ_LEN = 131072
local seq, built = {}, {}
local pos = 0
local n, principals
-- warm mode and --diagnose (globals, so that done() can read them)
warm_walked = 0
statuses = {}                      -- non-2xx status -> count
local warm_pairs, warm_step, warm_next = 0, 1, 0

local function image_id(i)
   return string.format("00000000-0000-4000-8000-%012x", i)
end

-- Inverse-CDF sampler for P(rank k) ~ 1/k^s, k = 1..n (as workload.lua).
local function zipf_sampler(count, s)
   local cdf, total = {}, 0.0
   for k = 1, count do
      total = total + 1.0 / (k ^ s)
      cdf[k] = total
   end
   return function()
      local u = math.random() * total
      local lo, hi = 1, count
      while lo < hi do
         local mid = math.floor((lo + hi) / 2)
         if cdf[mid] < u then lo = mid + 1 else hi = mid end
      end
      return lo - 1
   end
end

function init(args)
   local mode = args[1] or "zipf"
   n = tonumber(args[2] or "10000")
   principals = tonumber(args[4] or "20")
   if mode == "warm" then
      -- key = principal (0-based) * HOT + id, id in 0..HOT-1
      warm_pairs = principals * tonumber(args[3] or "500")
      warm_step = tonumber(args[5] or "1")
      warm_next = (thread_id or 1) - 1
      return
   elseif mode ~= "zipf" then
      error("unknown mode " .. mode)
   end
   if args[5] == "statuses" then
      -- isolation.sh --diagnose: count every non-2xx status (wrk then
      -- hands each response to Lua: slower, so only then); the first few
      -- bodies go to wrk's output as "@@STATUS code body".
      local shown = 0
      response = function(status, headers, body)
         if status < 200 or status > 299 then
            statuses[status] = (statuses[status] or 0) + 1
            if shown < 5 then
               shown = shown + 1
               io.write("@@STATUS " .. status .. " " .. string.gsub(string.sub(body or "", 1, 400), "%s+", " ") .. "\n")
            end
         end
      end
   end
   local draw = zipf_sampler(n, tonumber(args[3] or "1.0"))
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
   for j = 1, SEQ_LEN do
      -- key = principal (0-based) * n + id
      seq[j] = math.random(0, principals - 1) * n + draw()
   end
   pos = math.random(1, SEQ_LEN)
end

-- One principal's (0-based) read of one id.
local function format(principal, id)
   local k = principal + 1
   return wrk.format("GET", "/v2/images/" .. image_id(id),
      { ["X-Auth-Token"] = string.format("tenant%d:project-%d:member", k, k) })
end

function request()
   if warm_pairs > 0 then
      local key = 0
      if warm_next < warm_pairs then
         key = warm_next
         warm_next = warm_next + warm_step
         warm_walked = warm_walked + 1
      end
      local hot = warm_pairs / principals
      return format(math.floor(key / hot), key % hot)
   end
   pos = pos + 1
   if pos > SEQ_LEN then pos = 1 end
   local key = seq[pos]
   local req = built[key]
   if not req then
      req = format(math.floor(key / n), key % n)
      built[key] = req
   end
   return req
end

function done(summary, latency, requests)
   local e = summary.errors
   local walked, counted = 0, {}
   for _, thread in ipairs(threads) do
      walked = walked + (tonumber(thread:get("warm_walked")) or 0)
      for status, count in pairs(thread:get("statuses") or {}) do
         counted[status] = (counted[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(counted) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   io.write(string.format(
      '@@RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "warm_walked": %d, "statuses": {%s}, ' ..
      '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, walked, table.concat(parts, ", "),
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean))
end
