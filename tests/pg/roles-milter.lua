-- roles-milter.lua: one tracked message through mailbeacon-milter connected
-- as the daemons' role of contrib/postgresql/setup.sql (run-roles.sh). The
-- milter fails open, so the X-Mailbeacon header is the sign that the store
-- took the record; run-roles.sh then counts the rows.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local headers = {
	{ "From", "Alice <alice@example.com>" },
	{ "To", "bob@example.net" },
	{ "Subject", "Roles" },
	{ "Message-ID", "<roles-1@example.com>" },
	{ "MIME-Version", "1.0" },
	{ "Content-Type", "text/html; charset=utf-8" },
}
local body = "<html><body>\r\n<p>See <a href=\"https://example.com/offer\">the offer</a>.</p>\r\n" ..
	"</body></html>\r\n"
local r = envelope(conn, { from = "alice@example.com", qid = "QROLES1", rcpts = { "bob@example.net" } })
assert(r == SMFIR_CONTINUE, "envelope not continued")
r = content(conn, headers, body)
assert(r == SMFIR_CONTINUE or r == SMFIR_ACCEPT, "eom reply " .. tostring(r))
assert(mt.eom_check(conn, MT_HDRADD, "X-Mailbeacon"), "not tracked: the store did not take the record")
assert(log_has("QROLES1: tracked", 5, true), "no tracked line in the log")
mt.disconnect(conn)
