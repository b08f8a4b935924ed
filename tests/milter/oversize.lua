-- A message over max_message_size (65536 in the test configuration) is
-- accepted untouched while its body arrives.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
assert(envelope(conn, { from = "alice@example.com", qid = "QBIG", rcpts = { "bob@example.net" } }) == SMFIR_CONTINUE)
local part = string.rep("<p><a href=\"https://example.com/\">x</a></p>\r\n", 500)
local body = { part, part, part, part }	-- 4 x 21 KB
local r, step = content(conn, { { "Content-Type", "text/html" } }, body)
assert(r == SMFIR_ACCEPT and step == "body", "oversize mail: " .. tostring(r) .. " at " .. step)
assert(log_has("QBIG: untouched from=<alice@example.com>: size: over max_message_size"), "no log line")
mt.disconnect(conn)
