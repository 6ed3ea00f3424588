-- wrk script for bench/upstream: an MCP tools/list POST to the gateway's edge, as a client sends it.
--   BENCH_TOKEN   the gateway access token (Authorization: Bearer …)
-- done() prints one line `BENCH_RESULT {json}` that run.ts reads.

function init(args)
  wrk.method = 'POST'
  wrk.headers['Authorization'] = 'Bearer ' .. os.getenv('BENCH_TOKEN')
  wrk.headers['Accept'] = 'application/json, text/event-stream'
  wrk.headers['Content-Type'] = 'application/json'
  wrk.headers['Mcp-Protocol-Version'] = '2025-11-25'
  wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
