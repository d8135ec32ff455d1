-- POST /telegram/webhook: Telegram Updates with unique update_ids over BENCH_CHATS chats.
-- The text is "u<update_id>", so the echo reply names the update it answers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local chats = tonumber(os.getenv("BENCH_CHATS") or "1000")
local chat_base = tonumber(os.getenv("BENCH_CHAT_BASE") or "100000")
local headers = {["Content-Type"] = "application/json",
                 ["X-Telegram-Bot-Api-Secret-Token"] = os.getenv("BENCH_SECRET")}
local now = os.time()

function request()
   local uid = next_id()
   local chat = chat_base + uid % chats
   local body = string.format(
      '{"update_id":%d,"message":{"message_id":%d,"date":%d,' ..
      '"chat":{"id":%d,"type":"private","first_name":"Bench"},' ..
      '"from":{"id":%d,"is_bot":false,"first_name":"Bench"},"text":"u%d"}}',
      uid, sent, now, chat, chat, uid)
   return wrk.format("POST", target_path, headers, body)
end
