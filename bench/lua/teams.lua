-- POST /teams/api/messages: message activities with unique ids over BENCH_CHATS
-- personal conversations, all carrying one pre-signed connector JWT (BENCH_AUTH).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local convs = tonumber(os.getenv("BENCH_CHATS") or "1000")
local service_url = os.getenv("BENCH_SERVICE_URL")
local bot_id = os.getenv("BENCH_BOT_ID")
local stamp = os.date("!%Y-%m-%dT%H:%M:%S.000Z")
local headers = {["Content-Type"] = "application/json",
                 ["Authorization"] = os.getenv("BENCH_AUTH")}

function request()
   local n = next_id()
   local c = n % convs
   local body = string.format(
      '{"type":"message","id":"b%d","timestamp":"%s","serviceUrl":"%s","channelId":"msteams",' ..
      '"from":{"id":"29:user-%d","name":"Bench %d","aadObjectId":"aad-%d"},' ..
      '"conversation":{"id":"a:bench-%d","conversationType":"personal","tenantId":"tenant-1"},' ..
      '"recipient":{"id":"%s","name":"hostline-bot"},"locale":"en-US",' ..
      '"channelData":{"tenant":{"id":"tenant-1"}},"text":"t%d","textFormat":"plain"}',
      n, stamp, service_url, c, c, c, c, bot_id, n)
   return wrk.format("POST", target_path, headers, body)
end
