-- Issue 11, item 3: an opt-out holds for every spelling of the mailbox.
-- After "mailbeacon optout bob@example.net", mail to "bob"@example.net,
-- "b\ob"@example.net or BOB@Example.NET is accepted untouched at that RCPT;
-- an opt-out given quoted holds for the plain form; export finds the same
-- recipient whatever the spelling; bob+news@ is another mailbox.
dofile(SRCDIR .. "/lib.lua")
local out = sh(MB .. " -c " .. CONF .. " optout bob@example.net")
assert(out:find("opted out"), "mailbeacon optout said: " .. out)
out = sh(MB .. " -c " .. CONF .. [[ optout '"C\arol"@EXAMPLE.net']])
assert(out:find("opted out"), "mailbeacon optout said: " .. out)
local conn = start()
local spellings = { [["bob"@example.net]], [["b\ob"@example.net]], "BOB@Example.NET",
	[["\b\o\b"@EXAMPLE.net]], "carol@example.net" }
for i, rcpt in ipairs(spellings) do
	local qid = "QSPELL" .. i
	local r, step = envelope(conn, { from = "alice@example.com", qid = qid, rcpts = { rcpt } })
	assert(r == SMFIR_ACCEPT and step == "rcpt", "mail to " .. rcpt .. " was not accepted untouched")
	assert(log_has(qid .. ": untouched from=<alice@example.com>: a recipient opted out", 5, true),
		"no opted-out line for " .. rcpt)
	mt.disconnect(conn)
	conn = reconnect()
end
local r = envelope(conn, { from = "alice@example.com", rcpts = { "bob+news@example.net" } })
assert(r == SMFIR_CONTINUE, "bob+news@example.net (another mailbox) was not taken")
mt.disconnect(conn)
assert(sql("SELECT count(*) FROM messages") == "0", "a record was written")
-- export: one recipient hash for every spelling.
local function hash_of(addr)
	local j = sh(MB .. " -c " .. CONF .. " export --recipient '" .. addr .. "'")
	local h = j:match('"recipient_hash": "(%x+)"')
	assert(h, "export --recipient " .. addr .. " gave no hash: " .. j)
	return h
end
local plain = hash_of("bob@example.net")
assert(hash_of([["b\ob"@example.net]]) == plain, "export: another hash for \"b\\ob\"")
assert(hash_of("<BOB@example.NET>") == plain, "export: another hash for <BOB@example.NET>")
assert(hash_of("bob+news@example.net") ~= plain, "export: bob+news has bob's hash")
