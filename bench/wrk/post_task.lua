-- POST /api/v1/tasks: one standalone task per request, rotating over five agents
-- of the benchmark's own (bench/run-api.sh prepares them), so that the tasks it
-- creates do not become the seed agents' newest, which the recent-tasks reads of
-- the next round would then read instead of the generated ones.
local token = os.getenv("TIA_TOKEN") or ""
local agents = {"bench-new-1", "bench-new-2", "bench-new-3", "bench-new-4", "bench-new-5"}
local n = 0
local headers = {["Content-Type"] = "application/json"}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end

request = function()
  n = n + 1
  local body = '{"agent_id":"' .. agents[n % 5 + 1] ..
    '","task_type":"bench_api","description":"a task created by wrk","input_data":{"n":1}}'
  return wrk.format("POST", "/api/v1/tasks", headers, body)
end

errors = 0
response = function(status, hdrs, body)
  if status ~= 201 then errors = errors + 1 end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("wrk-result requests/s %.1f non-201 %d\n",
                         summary.requests / (summary.duration / 1e6), e))
end
