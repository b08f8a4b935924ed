-- Signed mail is never touched: a DKIM-Signature makes the milter accept
-- at that header; a multipart/signed body comes back without any change.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
assert(envelope(conn, { from = "alice@example.com", qid = "QDKIM", rcpts = { "bob@example.net" } }) == SMFIR_CONTINUE)
local r, step = content(conn, { { "DKIM-Signature", "v=1; a=rsa-sha256; d=example.com; s=s1; b=abc" },
	{ "Content-Type", "text/html" } }, "<p><a href=\"https://example.com/\">x</a></p>\r\n")
assert(r == SMFIR_ACCEPT and step == "header", "DKIM-signed mail not accepted at the header")
mt.disconnect(conn)

conn = reconnect()
assert(envelope(conn, { from = "alice@example.com", qid = "QSMIME", rcpts = { "bob@example.net" } }) == SMFIR_CONTINUE)
local body = "--sig\r\nContent-Type: text/html\r\n\r\n<p><a href=\"https://example.com/\">x</a></p>\r\n" ..
	"--sig\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n" ..
	"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQEx\r\n--sig--\r\n"
r = content(conn, { { "MIME-Version", "1.0" },
	{ "Content-Type", "multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"" } }, body)
assert(r == SMFIR_CONTINUE or r == SMFIR_ACCEPT, "eom reply " .. tostring(r))
assert(not mt.eom_check(conn, MT_BODYCHANGE), "signed body changed")
assert(not mt.eom_check(conn, MT_HDRADD), "header added to signed mail")
assert(log_has("QSMIME: untouched from=<alice@example.com>: signed: multipart/signed"), "no log line")
assert(sql("SELECT count(*) FROM messages") == "0", "a record was written")
mt.disconnect(conn)
