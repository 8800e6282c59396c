-- wrk's script for scripts/bench_replicas.sh: the flow of BENCH_FLOW ("customer" or "cart") over the
-- catalogue the script made (customers 1..BENCH_CUSTOMERS, items 1..BENCH_ITEMS), the service token
-- from MERCADO_API_TOKEN. Its last output line is one JSON object: requests, errors (non-2xx,
-- sockets), requests/s, p50 and p99 in ms.

local flow = os.getenv("BENCH_FLOW") or "customer"
local run = os.getenv("BENCH_RUN") or "0"
local customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "200")
local items = tonumber(os.getenv("BENCH_ITEMS") or "40")
local threads = {}
local counter = 0
-- `id`: the thread's number, a global set by setup() through thread:set.

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed((id or 0) * 7919 + tonumber(run))
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("MERCADO_API_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  if flow == "cart" then
    local body = string.format('{"user_id":%d,"cart":[{"item_id":%d,"qty":1}]}',
      math.random(1, customers), math.random(1, items))
    return wrk.format("POST", "/cart/", nil, body)
  end
  if counter % 2 == 0 then
    return wrk.format("GET", "/customers/" .. math.random(1, customers))
  end
  local body = string.format('{"first_name":"W","last_name":"Rk","email":"w%s-%d-%d@example.com"}', run, id or 0, counter)
  return wrk.format("POST", "/customers/", nil, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format('{"requests":%d,"errors":%d,"rps":%.1f,"p50_ms":%.2f,"p99_ms":%.2f}\n',
    summary.requests, errors, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
