-- notify=mail: the beacon's own "Read:" mail (X-Mailbeacon: notification)
-- is never tracked, even from an opted-in sender; the milter accepts it at
-- that header. Another X-Mailbeacon value does not stop tracking.
dofile(SRCDIR .. "/lib.lua")
local html = "<p><a href=\"https://example.com/\">x</a></p>\r\n"
local conn = start()
assert(envelope(conn, { from = "alice@example.com", qid = "QNOTE", rcpts = { "alice@example.com" } }) == SMFIR_CONTINUE)
local r, step = content(conn, { { "Auto-Submitted", "auto-generated" },
	{ "X-Mailbeacon", "notification" }, { "Content-Type", "text/html" } }, html)
assert(r == SMFIR_ACCEPT and step == "header", "the notification was not accepted at its header")
assert(log_has("QNOTE: untouched from=<alice@example.com>: a mailbeacon notification"), "no log line")
assert(sql("SELECT count(*) FROM messages") == "0", "a record was written")
mt.disconnect(conn)

conn = reconnect()
assert(envelope(conn, { from = "alice@example.com", qid = "QNOTE2", rcpts = { "bob@example.net" } }) == SMFIR_CONTINUE)
r = content(conn, { { "X-Mailbeacon", "notifications please" }, { "Content-Type", "text/html" } }, html)
assert(r == SMFIR_CONTINUE, "eom reply " .. tostring(r))
assert(mt.eom_check(conn, MT_BODYCHANGE), "a message that is no notification was not tracked")
mt.disconnect(conn)
