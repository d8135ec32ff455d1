-- Shared by every bench script: per-thread ids, a request counter, and a
-- machine-readable summary line (BENCH_JSON {...}) printed by done().
-- Parameters come from the environment (set by bench/run.py).

local threads = {}
local nthreads = 0

function setup(thread)
   thread:set("tid", nthreads)
   nthreads = nthreads + 1
   table.insert(threads, thread)
end

sent = 0
tid = tid or 0
-- Ids of one thread are id_base + tid * stride + 1 .. sent: unique per run.
id_base = tonumber(os.getenv("BENCH_ID_BASE") or "1")
stride = tonumber(os.getenv("BENCH_STRIDE") or "10000000")
target_path = os.getenv("BENCH_PATH") or "/"

function next_id()
   sent = sent + 1
   return id_base + tid * stride + sent
end

function done(summary, latency, requests)
   local ts = {}
   for _, t in ipairs(threads) do
      table.insert(ts, string.format('{"tid":%d,"sent":%d}', t:get("tid"), t:get("sent")))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"threads":[%s]}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      latency.mean, table.concat(ts, ",")))
end
