-- Issue 11, item 16: a SASL login that is not the envelope sender's is
-- not tracked under the sender's name (the log says why), unless the
-- sender's rule lists it in logins=. A login without '@' is the sender's
-- local part.
dofile(SRCDIR .. "/lib.lua")
local conf = variant("sasl", "alice@example.com opens clicks footer\n" ..
	"shared@example.com opens clicks footer logins=bob,carol@example.com\n")
local conn = start(conf)
local function try(auth, from, qid)
	local r, step = envelope(conn, { ip = "192.0.2.7", auth = auth, mail_qid = qid, from = from,
		rcpts = { "x@example.net" } })
	mt.disconnect(conn)
	conn = reconnect()
	return r, step
end
local r, step = try("bob@example.com", "alice@example.com", "QSASL1")
assert(r == SMFIR_ACCEPT and step == "mail", "bob's login was tracked as alice")
assert(log_has("QSASL1: untouched from=<alice@example.com>: SASL login bob@example.com is not " ..
	"the sender's and not in logins= of its rule (" .. DIR .. "/sasl.policy:1: alice@example.com)",
	5, true), "no line saying why")
r, step = try("bob", "alice@example.com", "QSASL2")
assert(r == SMFIR_ACCEPT and step == "mail", "login bob was tracked as alice")
assert(log_has("QSASL2: untouched from=<alice@example.com>: SASL login bob is not", 5, true),
	"no line for login bob")
-- The sender's own login, in any spelling, with or without the domain.
for _, case in ipairs({ { "alice@example.com", "alice@example.com" },
		{ "ALICE@Example.COM", [["alice"@example.com]] }, { "alice", "alice@example.com" } }) do
	r = try(case[1], case[2])
	assert(r == SMFIR_CONTINUE, "login " .. case[1] .. " as " .. case[2] .. " not taken")
end
-- A shared mailbox: the logins listed, and no other.
assert(try("bob", "shared@example.com") == SMFIR_CONTINUE, "bob as shared@ not taken")
assert(try("Carol@Example.com", "shared@example.com") == SMFIR_CONTINUE, "carol as shared@ not taken")
r, step = try("dave@example.com", "shared@example.com", "QSASL3")
assert(r == SMFIR_ACCEPT and step == "mail", "dave was tracked as shared@")
assert(log_has("QSASL3: untouched from=<shared@example.com>: SASL login dave@example.com", 5, true),
	"no line for dave")
mt.disconnect(conn)
