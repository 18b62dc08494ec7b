-- wrk script (wrk embeds LuaJIT, i.e. Lua 5.1): the request path is chosen per request.
--
--   wrk ... -s workload.lua URL -- uniform N TOKEN    uniform over ids 0..N-1
--   wrk ... -s workload.lua URL -- zipf N S TOKEN     Zipf(s=S) over ids 0..N-1
--   wrk ... -s workload.lua URL -- mixed N TOKEN MISS_BASE MISS_IDS THREADS EVERY
--        uniform over ids 0..N-1, except that every EVERY-th request of each
--        wrk thread reads an id never read before: thread t (1..THREADS)
--        walks its own slice of MISS_BASE .. MISS_BASE+MISS_IDS-1 in order,
--        one new id per miss. EVERY = 50 gives 2% misses.
--
-- Ids are the sample's generated ones, 00000000-0000-4000-8000-{i:012x}.
--
-- The mixed workload: each wrk thread drives its share of the connections
-- (32 of 64) and request() is called for whichever of them is ready to
-- send, so the misses land on every connection, interleaved with its hits
-- (wrk's script API has no per-connection state; a per-thread counter is
-- the nearest). All connections are keep-alive for the whole run: a proxy
-- must keep answering hits fast on a connection that has had misses. If a
-- thread used up its slice the ids would repeat (and be hits): it counts
-- that in miss_wraps, and run.sh warns; run.sh also checks that the
-- upstream saw one request per miss.
-- To keep the load generator's own cost per request low (it shares the two
-- cores with the proxy under test), every request string is built once in
-- init() and the random sequence of ids is pre-drawn; request() only
-- indexes two tables (a miss's request, 1 in EVERY, is formatted on the spot).
--
-- done() prints one line "@@RESULT {json}" that run.sh parses: requests,
-- duration, socket errors, status errors (wrk counts status >= 400),
-- latency percentiles in microseconds.

local counter = 0
local threads = {}

function setup(thread)
   -- Each thread gets its own seed, else both would send the same sequence.
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

-- Per-thread miss state (globals, so that done() can read them with
-- thread:get).
misses = 0                          -- misses sent
miss_wraps = 0                      -- times the thread's slice of fresh ids ran out
local every = 0                     -- 0: no misses (uniform, zipf)
local sent = 0
local miss_first, miss_slice, miss_next = 0, 0, 0
local headers

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
   elseif kind == "mixed" then
      token = args[3]
      draw = function() return math.random(0, n - 1) end
      local base, count = tonumber(args[4]), tonumber(args[5])
      local nthreads = tonumber(args[6])
      every = tonumber(args[7] or "50")
      miss_slice = math.floor(count / nthreads)
      miss_first = base + ((thread_id or 1) - 1) * miss_slice
      assert(miss_slice > 0, "mixed: fewer miss ids than threads")
   elseif kind == "zipf" then
      token = args[4]
      draw = zipf_sampler(n, tonumber(args[3] or "1.0"))
   else
      error("unknown workload " .. kind)
   end
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
   headers = { ["X-Auth-Token"] = token or "bench:project-a:member" }
   -- tls.sh's handshake run: every request on a new connection.
   if os.getenv("WORKLOAD_CONNECTION_CLOSE") == "1" then
      headers["Connection"] = "close"
   end
   for i = 0, n - 1 do
      requests[i] = wrk.format("GET", "/v2/images/" .. image_id(i), headers)
   end
   for j = 1, SEQ_LEN do
      seq[j] = draw()
   end
   pos = math.random(1, SEQ_LEN)
end

function request()
   if every > 0 then
      sent = sent + 1
      if sent % every == 0 then
         -- A fresh id: built here (2% of requests), not pre-built.
         local id = miss_first + miss_next
         misses = misses + 1
         miss_next = miss_next + 1
         if miss_next >= miss_slice then
            miss_next = 0
            miss_wraps = miss_wraps + 1
         end
         return wrk.format("GET", "/v2/images/" .. image_id(id), headers)
      end
   end
   pos = pos + 1
   if pos > SEQ_LEN then pos = 1 end
   return requests[seq[pos]]
end

function done(summary, latency, requests)
   local e = summary.errors
   local sent_misses, wraps = 0, 0
   for _, thread in ipairs(threads) do
      sent_misses = sent_misses + (tonumber(thread:get("misses")) or 0)
      wraps = wraps + (tonumber(thread:get("miss_wraps")) or 0)
   end
   io.write(string.format(
      '@@RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"sent_misses": %d, "miss_wraps": %d, ' ..
      '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes, sent_misses, wraps,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean))
end
