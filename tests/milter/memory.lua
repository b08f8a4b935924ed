-- The memory budget (milter_memory_limit = 1 MiB in the test configuration;
-- a message reserves 12 times what it has buffered): while one message
-- holds 60 KB, another that would pass the budget is accepted untouched at
-- its body, with a log line. Once the first message ends, its share is
-- given back and the same message goes through.
dofile(SRCDIR .. "/lib.lua")
local text = string.rep("nothing to see here, no links at all\r\n", 540)	-- about 20 KB
local headers = { { "Content-Type", "text/plain" } }

local conn1 = start()
assert(envelope(conn1, { from = "alice@example.com", qid = "QMEM1", rcpts = { "bob@example.net" } }) ==
	SMFIR_CONTINUE)
assert(mt.header(conn1, "Content-Type", "text/plain") == nil)
assert(mt.getreply(conn1) == SMFIR_CONTINUE)
assert(mt.eoh(conn1) == nil)
assert(mt.getreply(conn1) == SMFIR_CONTINUE)
for _ = 1, 3 do
	assert(mt.bodystring(conn1, text) == nil)
	assert(mt.getreply(conn1) == SMFIR_CONTINUE, "QMEM1 refused within the budget")
end

local conn2 = reconnect()
assert(envelope(conn2, { from = "alice@example.com", qid = "QMEM2", rcpts = { "bob@example.net" } }) ==
	SMFIR_CONTINUE)
local r, step = content(conn2, headers, { text, text })
assert(r == SMFIR_ACCEPT and step == "body", "over the budget: " .. tostring(r) .. " at " .. step)
assert(log_has("QMEM2: untouched from=<alice@example.com>: memory: the messages in flight use " ..
	"milter_memory_limit (1048576)", 5, true), "no log line for QMEM2")
mt.disconnect(conn2)

assert(mt.eom(conn1) == nil)
r = mt.getreply(conn1)
assert(r == SMFIR_CONTINUE or r == SMFIR_ACCEPT, "QMEM1 eom reply " .. tostring(r))
assert(not mt.eom_check(conn1, MT_BODYCHANGE), "QMEM1 has nothing to track")
assert(log_has("QMEM1: untouched from=<alice@example.com>: ", 5, true), "no log line for QMEM1")
mt.disconnect(conn1)

local conn3 = reconnect()
assert(envelope(conn3, { from = "alice@example.com", qid = "QMEM3", rcpts = { "bob@example.net" } }) ==
	SMFIR_CONTINUE)
r, step = content(conn3, headers, { text, text })
assert(step == "eom", "the budget was not given back: refused at " .. step)
mt.disconnect(conn3)
