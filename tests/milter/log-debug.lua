-- Issue 11, item 15: with log_level = debug, inbound mail is logged too,
-- one line a message with why it is not outbound.
dofile(SRCDIR .. "/lib.lua")
local conn = start(variant("debug", nil, "log_level = debug\n"))
assert(inbound_logged(conn, "QDBG1"), "no debug line for inbound mail")
