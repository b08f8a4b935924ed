-- Mail from outside (not in internal_hosts, not authenticated, not from an
-- originating daemon) is inbound: accepted at MAIL even for an opted-in
-- sender address. The same address authenticated is outbound.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local r, step = envelope(conn, { ip = "192.0.2.7", from = "alice@example.com", rcpts = { "bob@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "inbound mail not accepted at MAIL")
mt.disconnect(conn)
conn = reconnect()
r, step = envelope(conn, { ip = "192.0.2.7", auth = "alice", from = "alice@example.com",
	rcpts = { "bob@example.net" } })
assert(r == SMFIR_CONTINUE, "authenticated mail from outside was not taken")
mt.disconnect(conn)
