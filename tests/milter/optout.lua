-- A recipient who opted out: the message is accepted untouched at that
-- RCPT, with a log line, and nothing is recorded.
dofile(SRCDIR .. "/lib.lua")
local out = sh(MB .. " -c " .. CONF .. " optout Carol@Example.NET")
assert(out:find("opted out"), "mailbeacon optout said: " .. out)
local conn = start()
local r, step = envelope(conn, { from = "alice@example.com", qid = "QOPT1",
	rcpts = { "bob@example.net", "carol@example.net" } })
assert(r == SMFIR_ACCEPT and step == "rcpt", "not accepted at the opted-out RCPT")
assert(log_has("QOPT1: untouched from=<alice@example.com>: a recipient opted out"), "no log line")
assert(sql("SELECT count(*) FROM messages") == "0", "a record was written")
mt.disconnect(conn)
