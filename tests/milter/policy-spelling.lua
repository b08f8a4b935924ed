-- Issue 11, item 4: the sender policy matches every spelling of an
-- address. With "bob@example.com off" and "@example.com opens clicks
-- footer", "bob"@example.com is bob: off, in "policy check" and in the
-- milter; an IDN domain rule matches the domain as U-label and A-label.
dofile(SRCDIR .. "/lib.lua")
local conf = variant("spell", "bob@example.com off\n@example.com opens clicks footer\n" ..
	"@b\xc3\xbccher.example opens\n")
local function check(addr)
	return sh(MB .. " -c " .. conf .. " policy check '" .. addr .. "'")
end
for _, addr in ipairs({ "bob@example.com", [["bob"@example.com]], [["b\ob"@example.com]],
		"<BOB@EXAMPLE.COM>" }) do
	local out = check(addr)
	assert(out:find(": off %(.*spell%.policy:1: bob@example%.com%)"), "policy check " .. addr .. ": " .. out)
end
assert(check("carol@example.com"):find("opens clicks footer %(.*:2: @example%.com%)"), "carol")
assert(check("x@B\xc3\x9cCHER.example"):find(":3: @xn%-%-bcher%-kva%.example%)"), "IDN U-label")
assert(check("x@xn--bcher-kva.example"):find(":3: @xn%-%-bcher%-kva%.example%)"), "IDN A-label")
local conn = start(conf)
local r, step = envelope(conn, { from = [["bob"@example.com]], rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "\"bob\"@example.com was taken for tracking")
assert(log_has("untouched from=<bob@example.com>: sender not opted in (" .. DIR ..
	"/spell.policy:1: bob@example.com)", 5, true), "no not-opted-in line")
mt.disconnect(conn)
conn = reconnect()
r = envelope(conn, { from = [["carol"@example.com]], rcpts = { "x@example.net" } })
assert(r == SMFIR_CONTINUE, "\"carol\"@example.com (opted in by @example.com) was not taken")
mt.disconnect(conn)
-- The message is stored under the canonical sender, which export --sender
-- finds whatever the spelling it is given.
conn = reconnect()
r = envelope(conn, { from = [["Carol"@example.com]], qid = "QSPELL9", rcpts = { "x@example.net" } })
assert(r == SMFIR_CONTINUE, "envelope not continued")
assert(mt.header(conn, "Content-Type", "text/html") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.eoh(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.bodystring(conn, "<p>Hi <a href=\"https://example.com/\">x</a></p>\r\n") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "eom not continued")
assert(mt.eom_check(conn, MT_BODYCHANGE), "the body was not edited")
mt.disconnect(conn)
assert(sql("SELECT sender FROM messages WHERE queue_id = 'QSPELL9'") == "carol@example.com",
	"stored sender not canonical")
local j = sh(MB .. " -c " .. conf .. [[ export --sender '"c\arol"@EXAMPLE.com']])
assert(j:find('"queue_id": "QSPELL9"', 1, true), "export --sender \"c\\arol\"@EXAMPLE.com: " .. j)
