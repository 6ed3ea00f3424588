-- wrk script for bench/verify: GET /verify exactly as Traefik's ForwardAuth sends it (the client's
-- headers plus X-Forwarded-*), read from the environment that run.ts sets:
--   BENCH_HOST      X-Forwarded-Host (the gateway's public host)
--   BENCH_TOKEN     one access token on every request (static request: the cheapest for wrk)
--   BENCH_TOKENS    a file of tokens, one a line: each request takes the next one (threads take
--                   disjoint slices), starting BENCH_OFFSET tokens in
--   BENCH_THREADS   wrk's -t, to split the tokens between threads
--   BENCH_DELAY_MS  mean think time per connection, exponentially distributed (the arrivals of
--                   all connections together are then close to Poisson); unset: flat out
--   BENCH_BODY      set: each request carries a 2026-07-28 tools/call body with its Mcp-Method
--                   and Mcp-Name, as Traefik's forwardAuth sends it (forwardBody), which /verify
--                   holds the headers to
-- done() prints one line `BENCH_RESULT {json}` that run.ts reads.

local token = os.getenv('BENCH_TOKEN')
local tokens_file = os.getenv('BENCH_TOKENS')
local threads = tonumber(os.getenv('BENCH_THREADS') or '1')
local offset = tonumber(os.getenv('BENCH_OFFSET') or '0')
local delay_ms = tonumber(os.getenv('BENCH_DELAY_MS') or '')

local created = 0
function setup(thread)
  thread:set('thread_index', created)
  created = created + 1
end

local tokens = {}
local next_token = 1

function init(args)
  math.randomseed(os.time() + thread_index)
  wrk.method = 'GET'
  wrk.path = '/verify'
  wrk.headers['X-Forwarded-Method'] = 'POST'
  wrk.headers['X-Forwarded-Proto'] = 'https'
  wrk.headers['X-Forwarded-Host'] = os.getenv('BENCH_HOST')
  wrk.headers['X-Forwarded-Uri'] = '/echo/mcp'
  wrk.headers['X-Forwarded-For'] = '203.0.113.7'
  wrk.headers['Accept'] = 'application/json, text/event-stream'
  wrk.headers['Content-Type'] = 'application/json'
  wrk.headers['Mcp-Protocol-Version'] = '2025-11-25'
  if token then
    wrk.headers['Authorization'] = 'Bearer ' .. token
  end
  if os.getenv('BENCH_BODY') then
    wrk.headers['Mcp-Protocol-Version'] = '2026-07-28'
    wrk.headers['Mcp-Method'] = 'tools/call'
    wrk.headers['Mcp-Name'] = 'echo'
    wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"},'
      .. '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
      .. '"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},'
      .. '"io.modelcontextprotocol/clientCapabilities":{}}}}'
  end
  if tokens_file then
    local i = 0
    for line in io.lines(tokens_file) do
      if i % threads == thread_index then
        tokens[#tokens + 1] = line
      end
      i = i + 1
    end
    next_token = math.floor(offset / threads) % #tokens + 1
  end
end

if tokens_file then
  function request()
    wrk.headers['Authorization'] = 'Bearer ' .. tokens[next_token]
    next_token = next_token % #tokens + 1
    return wrk.format()
  end
end

if delay_ms then
  function delay()
    return -delay_ms * math.log(1 - math.random())
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
