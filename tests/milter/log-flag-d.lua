-- Issue 11, item 15: -d (foreground) logs at debug whatever log_level
-- says; log_level = warning alone would hide even the start line.
dofile(SRCDIR .. "/lib.lua")
local conn = start(variant("quiet", nil, "log_level = warning\n"), "-d")
local r = envelope(conn, { ip = "192.0.2.7", mail_qid = "QDBG2", from = "nobody@example.org",
	rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT, "inbound mail not accepted")
mt.disconnect(conn)
assert(log_has("QDBG2: untouched from=<nobody@example.org>: not outbound", 5, true),
	"-d did not log inbound mail")
