-- Issue 11, item 15: -d (foreground) logs at debug whatever log_level
-- says; log_level = warning alone would hide even the start line.
dofile(SRCDIR .. "/lib.lua")
local conn = start(variant("quiet", nil, "log_level = warning\n"), "-d")
assert(inbound_logged(conn, "QDBG2"), "-d did not log inbound mail")
