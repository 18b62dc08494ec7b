-- wrk script (wrk embeds LuaJIT, i.e. Lua 5.1): the request path is chosen per request.
--
--   wrk ... -s workload.lua URL -- uniform N TOKEN    uniform over ids 0..N-1
--   wrk ... -s workload.lua URL -- zipf N S TOKEN     Zipf(s=S) over ids 0..N-1
--
-- Ids are the sample's generated ones, 00000000-0000-4000-8000-{i:012x}.
-- To keep the load generator's own cost per request low (it shares the two
-- cores with the proxy under test), every request string is built once in
-- init() and the random sequence of ids is pre-drawn; request() only
-- indexes two tables.
--
-- done() prints one line "@@RESULT {json}" that run.sh parses: requests,
-- duration, socket errors, status errors (wrk counts status >= 400),
-- latency percentiles in microseconds.

local counter = 0

function setup(thread)
   -- Each thread gets its own seed, else both would send the same sequence.
   counter = counter + 1
   thread:set("thread_id", counter)
end

local SEQ_LEN = 131072             -- pre-drawn ids per thread (cycled)
local requests = {}
local seq = {}
local pos = 0

local function image_id(i)
   return string.format("00000000-0000-4000-8000-%012x", i)
end

-- Inverse-CDF sampler for P(rank k) ~ 1/k^s, k = 1..n (rank 1 = id 0).
local function zipf_sampler(n, s)
   local cdf, total = {}, 0.0
   for k = 1, n do
      total = total + 1.0 / (k ^ s)
      cdf[k] = total
   end
   return function()
      local u = math.random() * total
      local lo, hi = 1, n
      while lo < hi do                 -- first k with cdf[k] >= u
         local mid = math.floor((lo + hi) / 2)
         if cdf[mid] < u then lo = mid + 1 else hi = mid end
      end
      return lo - 1
   end
end

function init(args)
   local kind = args[1] or "uniform"
   local n = tonumber(args[2] or "1000")
   local token, draw
   if kind == "uniform" then
      token = args[3]
      draw = function() return math.random(0, n - 1) end
   elseif kind == "zipf" then
      token = args[4]
      draw = zipf_sampler(n, tonumber(args[3] or "1.0"))
   else
      error("unknown workload " .. kind)
   end
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
   local headers = { ["X-Auth-Token"] = token or "bench:project-a:member" }
   for i = 0, n - 1 do
      requests[i] = wrk.format("GET", "/v2/images/" .. image_id(i), headers)
   end
   for j = 1, SEQ_LEN do
      seq[j] = draw()
   end
   pos = math.random(1, SEQ_LEN)
end

function request()
   pos = pos + 1
   if pos > SEQ_LEN then pos = 1 end
   return requests[seq[pos]]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '@@RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean))
end
