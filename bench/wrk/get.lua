-- GET requests with the bench token. TIA_PATH is the path; "{agent}" in it
-- rotates over the five seed agents, one per request. The five requests are
-- formatted once per thread (init), and failures are wrk's own count of
-- answers with a status above 399 (summary.errors.status): a response()
-- callback would make wrk hand every answer's headers and body to Lua, CPU
-- that the shared cores then take from the server being measured.
local token = os.getenv("TIA_TOKEN") or ""
local path = os.getenv("TIA_PATH") or "/api/v1/stats"
local agents = {"akira-001", "yuki-002", "hiro-003", "sakura-004", "kenji-005"}
local reqs = {}
local n = 0

init = function(args)
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  for i, a in ipairs(agents) do
    reqs[i] = wrk.format("GET", (path:gsub("{agent}", a)), headers)
  end
end

request = function()
  n = n + 1
  return reqs[n % 5 + 1]
end

done = function(summary, latency, requests)
  -- bytes/request: an answer that came empty (a 200 without its body) shows here.
  io.write(string.format("wrk-result requests/s %.1f non-200 %d bytes/request %.0f\n",
                         summary.requests / (summary.duration / 1e6), summary.errors.status,
                         summary.bytes / math.max(summary.requests, 1)))
end
