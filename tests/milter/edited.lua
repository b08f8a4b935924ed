-- An opted-in sender's HTML mail is edited: the replacement body and the
-- added header are exactly what "mailbeacon preview" makes of the message
-- with the id and send time the store recorded, and the record is there.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local headers = {
	{ "From", "Alice <alice@example.com>" },
	{ "To", "bob@example.net" },
	{ "Subject", "Proposal" },
	{ "Message-ID", "<edited-1@example.com>" },
	{ "MIME-Version", "1.0" },
	{ "Content-Type", "text/html; charset=utf-8" },
}
local body = "<html><body>\r\n<p>See <a href=\"https://example.com/p?a=1&amp;b=2#f\">the proposal</a>" ..
	" and <a href=\"mailto:alice@example.com\">write</a>.</p>\r\n</body></html>\r\n"
local r = envelope(conn, { from = "alice@example.com", auth = "alice", qid = "QEDIT1",
	rcpts = { "bob@example.net" } })
assert(r == SMFIR_CONTINUE, "envelope not continued")
r = content(conn, headers, body)
assert(r == SMFIR_CONTINUE or r == SMFIR_ACCEPT, "eom reply " .. tostring(r))

local row = sql("SELECT id || ' ' || sent || ' ' || sasl_login || ' ' || link_count || ' ' || " ..
	"recipient_count FROM messages WHERE queue_id = 'QEDIT1'")
local id, sent, login, links, rcpts = row:match("^(%S+) (%d+) (%S+) (%d+) (%d+)$")
assert(id, "no store record for QEDIT1: " .. row)
assert(login == "alice" and links == "1" and rcpts == "1", "record: " .. row)
assert(sql("SELECT url FROM links WHERE message_id = '" .. id .. "'") == "https://example.com/p",
	"link stored without its query string (store_link_urls = path)")

local want_body, added = preview_of(as_file(headers, body), "alice@example.com", "bob@example.net", id, sent)
assert(want_body:find("/c/" .. id, 1, true), "preview has no click link for " .. id)
assert(mt.eom_check(conn, MT_BODYCHANGE, want_body), "the body is not preview's")
assert(added["X-Mailbeacon"] == id .. "; opens clicks footer", "preview header " .. tostring(added["X-Mailbeacon"]))
assert(mt.eom_check(conn, MT_HDRADD, "X-Mailbeacon", added["X-Mailbeacon"]), "X-Mailbeacon not added")
assert(not mt.eom_check(conn, MT_HDRCHANGE), "a header was changed")
assert(log_has("QEDIT1: tracked from=<alice@example.com> sasl=alice id=" .. id, 5, true), "no log line")
mt.disconnect(conn)
