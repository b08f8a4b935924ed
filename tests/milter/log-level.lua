-- Issue 11, item 15: at the default log_level (info) every decision about
-- outbound mail is logged with its reason and queue id, and so is mail of
-- an opted-in sender that does not look outbound (a submission service
-- without ORIGINATING, a login the MTA did not pass); other inbound mail
-- logs nothing.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local function send(opts)
	local r, step = envelope(conn, opts)
	mt.disconnect(conn)
	conn = reconnect()
	return r, step
end
local r, step = send({ ip = "192.0.2.7", mail_qid = "QLOG1", from = "nobody@example.org",
	rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "inbound mail not accepted at MAIL")
send({ ip = "192.0.2.7", mail_qid = "QLOG2", from = "alice@example.com", rcpts = { "x@example.net" } })
send({ mail_qid = "QLOG3", from = "nobody@example.org", rcpts = { "x@example.net" } })
send({ mail_qid = "QLOG4", from = "bob@example.com", rcpts = { "x@example.net" } })
send({ from = "carol@example.org", rcpts = { "x@example.net" } })
mt.disconnect(conn)
assert(log_has("QLOG2: untouched from=<alice@example.com>: not outbound: client 192.0.2.7, " ..
	"no SASL login ({auth_authen}), daemon name unknown ({daemon_name} not sent) not in " ..
	"outbound_daemon_names", 5, true), "no line for an opted-in sender's inbound-looking mail")
assert(log_has("QLOG3: untouched from=<nobody@example.org>: sender not opted in (no rule in " ..
	DIR .. "/policy matches)", 5, true), "no not-opted-in line")
assert(log_has("QLOG4: untouched from=<bob@example.com>: sender not opted in (" .. DIR ..
	"/policy:2: bob@example.com)", 5, true), "no line naming the rule that says off")
assert(log_has("NOQUEUE: untouched from=<carol@example.org>: sender not opted in", 5, true),
	"no NOQUEUE line when the queue id is not known yet")
-- (The lines above are in the log, so this one would be too.)
assert(not read_file(LOG):find("QLOG1", 1, true), "inbound mail logged at the default level")
