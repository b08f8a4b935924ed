-- @sales.example.com may track mail to at most 2 recipients: the third
-- RCPT makes the message pass untouched.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local r, step = envelope(conn, { from = "sam@sales.example.com", qid = "QMAX1",
	rcpts = { "a@example.net", "b@example.net", "c@example.net" } })
assert(r == SMFIR_ACCEPT and step == "rcpt", "not accepted at the third RCPT")
assert(log_has("QMAX1: untouched from=<sam@sales.example.com>: recipient limit"), "no log line")
mt.disconnect(conn)
conn = reconnect()
r = envelope(conn, { from = "sam@sales.example.com", qid = "QMAX2", rcpts = { "a@example.net", "b@example.net" } })
assert(r == SMFIR_CONTINUE, "two recipients were not taken")
mt.disconnect(conn)
