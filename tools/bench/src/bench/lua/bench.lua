-- The one wrk script of the benchmark (tools/bench/src/bench/wrk.py runs it). Configured through
-- the environment, so that every thread's Lua state reads the same settings:
--
--   BENCH_METHOD       GET (default) or POST
--   BENCH_PATH         the path when there is one; otherwise
--   BENCH_PATHS_FILE   one path per line, cycled (each thread starts at its own offset)
--   BENCH_TOKEN        a bearer token for every request, or
--   BENCH_TOKENS_FILE  one token per line: request i of the run uses token i, each token once. The
--                      lines are dealt to the threads (line i to thread i mod BENCH_THREADS); a thread
--                      whose tokens are all answered prints BENCH_THREAD_DONE and stops, and the runner
--                      interrupts wrk once every thread has (wrk would otherwise sleep out -d).
--   BENCH_THREADS      wrk's -t (for dealing the tokens)
--   BENCH_COUNT        "0": do not count answers by status (a Lua call per response costs about a
--                      fifth of the throughput of a trivial endpoint; the baselines skip it)
--
-- At the end, done() prints one line: BENCH_JSON {...} with wrk's counts, its latency percentiles
-- (microseconds) and the answers by status, which wrk.py parses.

local method = os.getenv("BENCH_METHOD") or "GET"
local single_path = os.getenv("BENCH_PATH")
local paths_file = os.getenv("BENCH_PATHS_FILE")
local token = os.getenv("BENCH_TOKEN")
local tokens_file = os.getenv("BENCH_TOKENS_FILE")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local counting = os.getenv("BENCH_COUNT") ~= "0"

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local function lines_of(name, keep)
   local out = {}
   local i = 0
   for line in io.lines(name) do
      if line ~= "" then
         if keep(i) then out[#out + 1] = line end
         i = i + 1
      end
   end
   return out
end

local paths, tokens, filler
local sent, answered, mine = 0, 0, 0
local finished = false
local verified = true
statuses = {}

function init(args)
   wrk.method = method
   if token then wrk.headers["Authorization"] = "Bearer " .. token end
   if method == "POST" then wrk.headers["Content-Length"] = "0" end
   if single_path then wrk.path = single_path end
   if paths_file then
      paths = lines_of(paths_file, function(i) return true end)
      sent = (tid * 7919) % #paths -- each thread starts elsewhere in the list
   end
   if tokens_file then
      tokens = lines_of(tokens_file, function(i) return i % nthreads == tid end)
      mine = #tokens
      -- wrk calls request() once in the first thread before the run, to check it: that call must
      -- not use up a token.
      verified = tid ~= 0
      -- Once a thread's tokens are used up, its connections ask something harmless until wrk
      -- stops (those answers are not counted).
      filler = wrk.format("GET", "/gateway/ping", {})
   end
end

if os.getenv("BENCH_PATHS_FILE") or os.getenv("BENCH_TOKENS_FILE") then
   function request()
      if tokens then
         if not verified then
            verified = true
            return filler
         end
         sent = sent + 1
         if sent > mine then return filler end
         return wrk.format(method, wrk.path, {
            ["Authorization"] = "Bearer " .. tokens[sent],
            ["Content-Length"] = method == "POST" and "0" or nil,
         })
      end
      sent = sent + 1
      return wrk.format(method, paths[(sent % #paths) + 1])
   end
end

if os.getenv("BENCH_TOKENS_FILE") then
   -- A connection whose thread has sent every token waits instead of asking again: the thread
   -- stops long before (once the last answers are in), so no filler request skews the figures.
   function delay()
      if sent >= mine then return 10000 end
      return 0
   end
end

if counting then
   function response(status, headers, body)
      if tokens then
         if body == '{"status":"UP"}' then return end -- a filler's answer
         answered = answered + 1
         statuses[status] = (statuses[status] or 0) + 1
         if answered == mine and not finished then
            finished = true
            io.stdout:write("BENCH_THREAD_DONE\n")
            io.stdout:flush()
            wrk.thread:stop()
         end
         return
      end
      statuses[status] = (statuses[status] or 0) + 1
   end
end

local function json_object(t)
   local parts = {}
   for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s":%s', tostring(k), tostring(v)) end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses") or {}
      for status, n in pairs(counts) do merged[status] = (merged[status] or 0) + n end
   end
   local lat = {
      min = latency.min, max = latency.max, mean = string.format("%.1f", latency.mean),
      stdev = string.format("%.1f", latency.stdev),
      p50 = latency:percentile(50), p90 = latency:percentile(90), p95 = latency:percentile(95),
      p99 = latency:percentile(99), p999 = latency:percentile(99.9),
   }
   local e = summary.errors
   io.stdout:write("BENCH_JSON {",
      string.format('"requests":%d,"duration_us":%d,"bytes":%d,', summary.requests, summary.duration, summary.bytes),
      '"errors":', json_object({connect = e.connect, read = e.read, write = e.write, status = e.status,
                               timeout = e.timeout}), ",",
      '"latency_us":', json_object(lat), ",",
      '"statuses":', json_object(merged), ",",
      string.format('"counted":%s,"tokens":%s', counting and "true" or "false", tokens_file and "true" or "false"),
      "}\n")
   io.stdout:flush()
end
