-- GET requests with the bench token. TIA_PATH is the path; "{agent}" in it
-- rotates over the five seed agents, one per request.
local token = os.getenv("TIA_TOKEN") or ""
local path = os.getenv("TIA_PATH") or "/api/v1/stats"
local agents = {"akira-001", "yuki-002", "hiro-003", "sakura-004", "kenji-005"}
local n = 0
local headers = {}
if token ~= "" then headers["Authorization"] = "Bearer " .. token end

request = function()
  n = n + 1
  local p = path:gsub("{agent}", agents[n % 5 + 1])
  return wrk.format("GET", p, headers)
end

errors = 0
response = function(status, hdrs, body)
  if status ~= 200 then errors = errors + 1 end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local e = 0
  for _, t in ipairs(threads) do e = e + t:get("errors") end
  io.write(string.format("wrk-result requests/s %.1f non-200 %d\n",
                         summary.requests / (summary.duration / 1e6), e))
end
