-- Issue 11, item 15: with log_level = debug, inbound mail is logged too,
-- one line a message with why it is not outbound.
dofile(SRCDIR .. "/lib.lua")
local conn = start(variant("debug", nil, "log_level = debug\n"))
local r = envelope(conn, { ip = "192.0.2.7", mail_qid = "QDBG1", from = "nobody@example.org",
	rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT, "inbound mail not accepted")
mt.disconnect(conn)
assert(log_has("QDBG1: untouched from=<nobody@example.org>: not outbound: client 192.0.2.7", 5, true),
	"no debug line for inbound mail")
