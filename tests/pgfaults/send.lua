-- send.lua: one phase of pgfaults.py's milter traffic. Sends one small
-- tracked-sender message per queue id in QIDS (comma-separated) to the
-- running milter on SOCK (QID/LOCAL sends it to LOCAL@example.net instead
-- of qid@example.net), checks the reply and the changes against EXPECT
-- (tracked, untouched or tempfail) and prints a line per message:
--   QID REPLY MILLISECONDS MSGID     (MSGID "-" when not tracked)
-- For a tracked message it also checks, before the next one, that its
-- record is already in the database (ROW_CMD QID prints the row's id):
-- the record exists before eom returns.
-- Bodies stay small: Debian's miltertest overflows on replies over ~1 KB.

local function sh(cmd)
	local p = assert(io.popen(cmd))
	local out = p:read("*a")
	p:close()
	return (out:gsub("%s+$", ""))
end

-- Wall-clock milliseconds since boot (10 ms steps): miltertest's Lua has
-- no sub-second clock of its own.
local function now_ms()
	local f = assert(io.open("/proc/uptime"))
	local up = f:read("*n")
	f:close()
	return math.floor(up * 1000 + 0.5)
end

local names = { [SMFIR_ACCEPT] = "accept", [SMFIR_CONTINUE] = "continue",
	[SMFIR_TEMPFAIL] = "tempfail", [SMFIR_REJECT] = "reject", [SMFIR_DISCARD] = "discard" }

local function one(entry)
	local qid, rcpt = entry:match("^([^/]+)/?(.*)$")
	if rcpt == "" then
		rcpt = qid:lower()
	end
	local conn = mt.connect("unix:" .. SOCK, 40, 0.25)
	assert(conn, "cannot connect to the milter on " .. SOCK)
	local t0 = now_ms()
	local r, step
	assert(mt.conninfo(conn, "client.example", "127.0.0.1") == nil)
	r = mt.getreply(conn)
	assert(r == SMFIR_CONTINUE, qid .. ": connect not continued")
	assert(mt.mailfrom(conn, "<alice@example.com>") == nil)
	r, step = mt.getreply(conn), "mail"
	if r == SMFIR_CONTINUE then
		assert(mt.macro(conn, SMFIC_RCPT, "i", qid) == nil)
		assert(mt.rcptto(conn, "<" .. rcpt .. "@example.net>") == nil)
		r, step = mt.getreply(conn), "rcpt"
	end
	if r == SMFIR_CONTINUE then
		local headers = { { "From", "alice@example.com" }, { "To", rcpt .. "@example.net" },
			{ "Message-ID", "<" .. qid .. "@example.com>" }, { "Subject", "pgfaults" },
			{ "Content-Type", "text/html" } }
		for _, h in ipairs(headers) do
			assert(mt.header(conn, h[1], h[2]) == nil)
			assert(mt.getreply(conn) == SMFIR_CONTINUE, qid .. ": header not continued")
		end
		assert(mt.eoh(conn) == nil)
		assert(mt.getreply(conn) == SMFIR_CONTINUE, qid .. ": eoh not continued")
		assert(mt.bodystring(conn, "<p><a href=\"https://example.org/" .. qid .. "\">x</a></p>\r\n") == nil)
		assert(mt.getreply(conn) == SMFIR_CONTINUE, qid .. ": body not continued")
		assert(mt.eom(conn) == nil)
		r, step = mt.getreply(conn), "eom"
	end
	local ms = now_ms() - t0
	local msgid = "-"
	if EXPECT == "tracked" then
		assert(step == "eom" and (r == SMFIR_CONTINUE or r == SMFIR_ACCEPT),
			qid .. ": not tracked: " .. tostring(names[r] or r) .. " at " .. step)
		assert(mt.eom_check(conn, MT_BODYCHANGE), qid .. ": body not changed")
		local value = mt.getheader(conn, "X-Mailbeacon", 0)
		assert(value, qid .. ": no X-Mailbeacon header added")
		msgid = value:match("^([%w_-]+); ")
		assert(msgid, qid .. ": X-Mailbeacon " .. value)
		local row = sh(ROW_CMD .. " " .. qid)
		assert(row == msgid, qid .. ": eom returned before its record was there (" .. row .. ")")
	elseif EXPECT == "untouched" then
		assert(r == SMFIR_ACCEPT, qid .. ": not accepted: " .. tostring(names[r] or r) .. " at " .. step)
		if step == "eom" then
			assert(not mt.eom_check(conn, MT_BODYCHANGE), qid .. ": body changed")
			assert(not mt.eom_check(conn, MT_HDRADD), qid .. ": header added")
		end
	elseif EXPECT == "tempfail" then
		assert(r == SMFIR_TEMPFAIL, qid .. ": not deferred: " .. tostring(names[r] or r) .. " at " .. step)
	else
		error("EXPECT is tracked, untouched or tempfail, not " .. tostring(EXPECT))
	end
	mt.disconnect(conn)
	print(string.format("%s %s %d %s", qid, names[r] or tostring(r), ms, msgid))
end

for qid in QIDS:gmatch("[^,]+") do
	local ok, err = pcall(one, qid)
	if not ok then
		io.stderr:write("ASSERTION: " .. tostring(err) .. "\n")
		error(err)
	end
end
