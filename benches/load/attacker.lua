-- wrk script (LuaJIT): the one misbehaving client of isolation.sh, at its
-- best rate, each wrk thread rotating through four requests:
--
--   1. GET /v2/images/%ff without credentials: the sample, like Glance
--      under uWSGI, closes the connection without answering;
--   2. GET /v2/images/<id> with a request body, and
--   3. POST /v2/no-such-path with a body (both with the attacker's own
--      valid token): the sample, like uWSGI, answers but poisons that
--      keep-alive connection, so the next request on it gets no answer;
--   4. GET /v2/images/<id> with a new garbage X-Auth-Token each time
--      (a principal nobody has seen; the sample answers 401).
--
--   wrk ... -s attacker.lua URL -- N BASE TOKEN
--
-- Ids are random over the sample's generated BASE..BASE+N-1 (workload.lua's
-- scheme): isolation.sh gives the attacker ids the tenants never read, so
-- imgcache's access log tells whose request each line was. done() prints "@@RESULT {json}" with the summary, as
-- workload.lua does, plus how many of each kind were sent.

local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

-- Per-thread counts (globals, so that done() can read them).
sent_undecodable, sent_get_body, sent_post_body, sent_garbage = 0, 0, 0, 0
local n, base, token
local sent = 0
local BODY = '{"padding": "' .. string.rep("x", 200) .. '"}'

local function image_id(i)
   return string.format("00000000-0000-4000-8000-%012x", i)
end

function init(args)
   n = tonumber(args[1] or "10000")
   base = tonumber(args[2] or "0")
   token = args[3] or "attacker:project-x:member"
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 104729)
end

function request()
   sent = sent + 1
   local kind = sent % 4
   -- wrk.format writes Host and Content-Length into the table it is
   -- given: a new one each time.
   if kind == 0 then
      sent_undecodable = sent_undecodable + 1
      return wrk.format("GET", "/v2/images/%ff", {})
   elseif kind == 1 then
      sent_get_body = sent_get_body + 1
      return wrk.format("GET", "/v2/images/" .. image_id(base + math.random(0, n - 1)),
         { ["X-Auth-Token"] = token, ["Content-Type"] = "application/json" }, BODY)
   elseif kind == 2 then
      sent_post_body = sent_post_body + 1
      return wrk.format("POST", "/v2/no-such-path",
         { ["X-Auth-Token"] = token, ["Content-Type"] = "application/json" }, BODY)
   end
   sent_garbage = sent_garbage + 1
   local garbage = string.format("%08x%08x-%d-%d", math.random(0, 0x7fffffff),
      math.random(0, 0x7fffffff), thread_id or 0, sent)
   return wrk.format("GET", "/v2/images/" .. image_id(base + math.random(0, n - 1)),
      { ["X-Auth-Token"] = garbage })
end

function done(summary, latency, requests)
   local e = summary.errors
   local kinds = { sent_undecodable = 0, sent_get_body = 0, sent_post_body = 0, sent_garbage = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(kinds) do
         kinds[name] = kinds[name] + (tonumber(thread:get(name)) or 0)
      end
   end
   io.write(string.format(
      '@@RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
      '"sent_undecodable": %d, "sent_get_body": %d, "sent_post_body": %d, "sent_garbage": %d, ' ..
      '"err_connect": %d, "err_read": %d, "err_write": %d, "err_status": %d, "err_timeout": %d, ' ..
      '"p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      kinds.sent_undecodable, kinds.sent_get_body, kinds.sent_post_body, kinds.sent_garbage,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean))
end
