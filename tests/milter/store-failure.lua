-- The store cannot be written (another process holds the write lock, then
-- the file is gone): the message is delivered untouched and a line says why.
dofile(SRCDIR .. "/lib.lua")
local conn = start()
local headers = { { "Content-Type", "text/html" }, { "Message-ID", "<lock@example.com>" } }
local body = "<p><a href=\"https://example.com/\">x</a></p>\r\n"
lock_store(6)
assert(envelope(conn, { from = "alice@example.com", qid = "QLOCK", rcpts = { "bob@example.net" } }) == SMFIR_CONTINUE)
local r = content(conn, headers, body)
assert(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "eom reply " .. tostring(r))
assert(not mt.eom_check(conn, MT_BODYCHANGE), "body changed although the store failed")
assert(not mt.eom_check(conn, MT_HDRADD), "header added although the store failed")
assert(log_has("QLOCK: delivered untouched %(on_error = accept%): store: "), "no log line")
mt.disconnect(conn)
mt.sleep(6)

os.remove(DIR .. "/mb.db")
os.remove(DIR .. "/mb.db-wal")
os.remove(DIR .. "/mb.db-shm")
conn = reconnect()
r = envelope(conn, { from = "alice@example.com", qid = "QGONE", rcpts = { "bob@example.net" } })
if r == SMFIR_CONTINUE then
	r = content(conn, headers, body)
	assert(not mt.eom_check(conn, MT_BODYCHANGE), "body changed without a store")
end
assert(r == SMFIR_ACCEPT or r == SMFIR_CONTINUE, "reply " .. tostring(r))
assert(log_has("QGONE: delivered untouched %(on_error = accept%): store: "), "no log line for QGONE")
mt.disconnect(conn)
