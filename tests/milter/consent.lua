-- consent=optin (issue 14): a recipient without consent gets the ask footer
-- once within consent_ask_interval (X-Mailbeacon "ID; ask", the ask
-- recorded, no message record), then the mail passes untouched; when the
-- consents cannot be read, the mail is delivered untracked and unasked
-- even with on_error = tempfail (closed on privacy, open on mail).
dofile(SRCDIR .. "/lib.lua")
local conf = variant("optin", "alice@example.com  opens clicks footer consent=optin\n")
write_file(conf, (read_file(conf):gsub("on_error = accept", "on_error = tempfail")))
assert(sh(MB .. " -c " .. conf .. " policy check alice@example.com"):find(
	"opens clicks footer consent=optin (", 1, true), "policy check does not show consent=optin")
local conn = start(conf)
local headers = { { "Content-Type", "text/html" }, { "Message-ID", "<ask@example.com>" } }
local body = "<p><a href=\"https://example.com/\">x</a></p>\r\n"

local r = envelope(conn, { from = "alice@example.com", qid = "QASK1", rcpts = { "bob@example.net" } })
assert(r == SMFIR_CONTINUE, "envelope not continued")
r = content(conn, headers, body)
assert(r == SMFIR_CONTINUE or r == SMFIR_ACCEPT, "eom reply " .. tostring(r))
local id = sql("SELECT message_id FROM consent_asks")
assert(id:match("^[%w_-]+$") and #id == 22, "the ask is not recorded: " .. id)
assert(mt.eom_check(conn, MT_BODYCHANGE), "no ask footer")
assert(mt.eom_check(conn, MT_HDRADD, "X-Mailbeacon", id .. "; ask"), "X-Mailbeacon is not 'ID; ask'")
assert(sql("SELECT count(*) FROM messages") == "0", "an ask recorded a message")
assert(log_has("QASK1: asked from=<alice@example.com> id=" .. id, 5, true), "no 'asked' line")
mt.disconnect(conn)

-- Asked within the interval (180 days): untouched.
conn = reconnect()
r = envelope(conn, { from = "alice@example.com", qid = "QASK2", rcpts = { "bob@example.net" } })
if r == SMFIR_CONTINUE then
	r = content(conn, headers, body)
	assert(not mt.eom_check(conn, MT_BODYCHANGE), "asked again within the interval")
	assert(not mt.eom_check(conn, MT_HDRADD), "a header added within the interval")
end
assert(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "reply " .. tostring(r))
assert(sql("SELECT count(*) FROM consent_asks") == "1", "a second ask recorded")
assert(log_has("QASK2: untouched from=<alice@example.com>: consent=optin: 1 of 1 recipients " ..
	"have not consented, and each was asked within consent_ask_interval", 5, true), "no log line")
mt.disconnect(conn)

-- The consents cannot be read: delivered (not deferred), untracked, unasked.
sql("DROP TABLE consents")
conn = reconnect()
r = envelope(conn, { from = "alice@example.com", qid = "QASK3", rcpts = { "carol@example.net" } })
assert(r == SMFIR_CONTINUE, "envelope not continued")
r = content(conn, headers, body)
assert(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "not delivered: reply " .. tostring(r))
assert(not mt.eom_check(conn, MT_BODYCHANGE), "body changed without readable consents")
assert(not mt.eom_check(conn, MT_HDRADD), "header added without readable consents")
assert(sql("SELECT count(*) FROM consent_asks") == "1", "asked without readable consents")
assert(log_has("QASK3: untouched from=<alice@example.com>: consent=optin: the consents could " ..
	"not be read, so the message goes untracked and unasked", 5, true), "no log line")
mt.disconnect(conn)
