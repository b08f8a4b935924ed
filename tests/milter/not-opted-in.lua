-- A sender with no policy rule (and one whose rule says off) is accepted at
-- MAIL FROM: the MTA sends us neither recipients nor body.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local r, step = envelope(conn, { from = "nobody@example.org", rcpts = { "bob@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "not accepted at MAIL: " .. tostring(r) .. " at " .. step)
mt.disconnect(conn)
conn = reconnect()
r, step = envelope(conn, { from = "bob@example.com", rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "off sender not accepted at MAIL")
assert(sql("SELECT count(*) FROM messages") == "0", "a record was written")
mt.disconnect(conn)
