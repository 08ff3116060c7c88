-- A worker over HTTP: POST /api/v1/tasks/claim (one task of TIA_AGENT), then
-- POST /api/v1/tasks/{id}/complete with the claim's attempt. Claimed tasks wait
-- in a per-thread queue; the next request of any connection of the thread
-- completes one if there is one, else claims. Reports completed cycles per second.
local token = os.getenv("TIA_TOKEN") or ""
local agent = os.getenv("TIA_AGENT") or "bench-http"
local headers = {["Content-Type"] = "application/json"}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
local queue = {}
local worker

init = function(args)
  worker = "wrk-" .. tostring(math.random(1, 1000000000))
end

request = function()
  local c = table.remove(queue)
  if c then
    return wrk.format("POST", "/api/v1/tasks/" .. c.id .. "/complete", headers,
      '{"worker_id":"' .. worker .. '","attempt":' .. c.attempt ..
      ',"output_data":{"ok":true},"tokens_used":100}')
  end
  return wrk.format("POST", "/api/v1/tasks/claim", headers,
    '{"agent_ids":["' .. agent .. '"],"worker_id":"' .. worker .. '","max":1,"lease":"60s"}')
end

completes = 0
errors = 0
response = function(status, hdrs, body)
  if status ~= 200 then
    errors = errors + 1
    return
  end
  if body:find('"items"', 1, true) then
    local id = body:match('"task":{"id":"([%x%-]+)"')
    local attempt = body:match('"attempt":(%d+)')
    if id and attempt then table.insert(queue, {id = id, attempt = attempt}) end
  else
    completes = completes + 1
  end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local c, e = 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("completes")
    e = e + t:get("errors")
  end
  io.write(string.format("wrk-result cycles/s %.1f non-200 %d requests/s %.1f\n",
                         c / (summary.duration / 1e6), e,
                         summary.requests / (summary.duration / 1e6)))
end
