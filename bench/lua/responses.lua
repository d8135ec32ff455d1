-- POST /responses/v1/responses, JSON or SSE (BENCH_STREAM=1), a fresh session each time.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local stream = os.getenv("BENCH_STREAM") == "1"
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY")}

function request()
   local n = next_id()
   local body
   if stream then
      body = string.format('{"model":"echo","input":"hello %d","stream":true}', n)
   else
      body = string.format('{"model":"echo","input":"hello %d"}', n)
   end
   return wrk.format("POST", target_path, headers, body)
end
