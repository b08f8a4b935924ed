-- lib.lua: helpers shared by the miltertest scripts. The runner defines
-- MILTER, MB (the admin command), CONF, DIR (this test's scratch directory)
-- and LOG (where the milter's standard error goes).
--
-- Debian's miltertest (2.11.0~beta2) overflows a 1 KB stack buffer when a
-- reply packet is larger than that, so bodies replaced in these tests stay
-- under 1 KB. Larger bodies and the switch to quoted-printable are checked
-- through a real Postfix in tests/e2e.

function sh(cmd)
	local p = assert(io.popen(cmd))
	local out = p:read("*a")
	p:close()
	return out
end

function sql(query)
	return (sh("sqlite3 " .. DIR .. "/mb.db \"" .. query .. "\""):gsub("%s+$", ""))
end

-- Starts the milter on CONF, or on conf (a file variant() wrote) with
-- flag ("-f" by default, or "-d").
function start(conf, flag)
	mt.startfilter(MILTER, flag or "-f", "-c", conf or CONF, "-p", DIR .. "/milter.pid")
	local conn = mt.connect("unix:" .. DIR .. "/milter.sock", 80, 0.25)
	assert(conn, "cannot connect to the milter")
	-- The socket listens before the store is checked; a case that locks
	-- the store must not race that check (slow under valgrind).
	assert(log_has("started: socket", 60, true), "the milter did not start")
	return conn
end

function reconnect()
	local conn = mt.connect("unix:" .. DIR .. "/milter.sock", 40, 0.25)
	assert(conn, "cannot connect to the milter")
	return conn
end

-- A copy of the test configuration, DIR/NAME.conf, with its own policy
-- (DIR/NAME.policy holding policy_text, when given) and extra lines.
function variant(name, policy_text, extra)
	local conf = read_file(CONF)
	if policy_text then
		write_file(DIR .. "/" .. name .. ".policy", policy_text)
		conf = conf:gsub("policy_file = [^\n]*", "policy_file = " .. name .. ".policy")
	end
	write_file(DIR .. "/" .. name .. ".conf", conf .. (extra or ""))
	return DIR .. "/" .. name .. ".conf"
end

-- Sends connect, MAIL and RCPT; returns the reply to the last step sent.
-- opts: ip (default 127.0.0.1), auth, mail_qid (the queue id already at
-- MAIL), qid, from, rcpts (list).
function envelope(conn, opts)
	assert(mt.conninfo(conn, opts.host or "client.example", opts.ip or "127.0.0.1") == nil)
	assert(mt.getreply(conn) == SMFIR_CONTINUE, "connect was not continued")
	if opts.auth and opts.mail_qid then
		assert(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", opts.auth, "i", opts.mail_qid) == nil)
	elseif opts.auth then
		assert(mt.macro(conn, SMFIC_MAIL, "{auth_authen}", opts.auth) == nil)
	elseif opts.mail_qid then
		assert(mt.macro(conn, SMFIC_MAIL, "i", opts.mail_qid) == nil)
	end
	assert(mt.mailfrom(conn, "<" .. opts.from .. ">") == nil)
	local r = mt.getreply(conn)
	if r ~= SMFIR_CONTINUE then
		return r, "mail"
	end
	for _, rcpt in ipairs(opts.rcpts) do
		assert(mt.macro(conn, SMFIC_RCPT, "i", opts.qid or "QTEST1") == nil)
		assert(mt.rcptto(conn, "<" .. rcpt .. ">") == nil)
		r = mt.getreply(conn)
		if r ~= SMFIR_CONTINUE then
			return r, "rcpt"
		end
	end
	return r, "rcpt"
end

-- headers: list of {name, value}; body: a string, or a list of chunks
-- (each sent on its own; the MTA stops sending once the milter accepts).
-- Returns the reply to the last step sent and its name.
function content(conn, headers, body)
	for _, h in ipairs(headers) do
		assert(mt.header(conn, h[1], h[2]) == nil)
		local r = mt.getreply(conn)
		if r ~= SMFIR_CONTINUE then
			return r, "header"
		end
	end
	assert(mt.eoh(conn) == nil)
	local r = mt.getreply(conn)
	if r ~= SMFIR_CONTINUE then
		return r, "eoh"
	end
	local chunks = type(body) == "table" and body or { body }
	for _, chunk in ipairs(chunks) do
		assert(mt.bodystring(conn, chunk) == nil)
		r = mt.getreply(conn)
		if r ~= SMFIR_CONTINUE then
			return r, "body"
		end
	end
	assert(mt.eom(conn) == nil)
	return mt.getreply(conn), "eom"
end

-- Holds the store's write lock for the given seconds (another writer).
function lock_store(seconds)
	os.execute("sqlite3 " .. DIR .. "/mb.db 'BEGIN IMMEDIATE;' '.shell sleep " .. seconds ..
		"' >/dev/null 2>&1 &")
	mt.sleep(1)
end

-- The message as the milter rebuilds it: "Name: value" CRLF lines.
function as_file(headers, body)
	local t = {}
	for _, h in ipairs(headers) do
		t[#t + 1] = h[1] .. ": " .. h[2] .. "\r\n"
	end
	return table.concat(t) .. "\r\n" .. body
end

function write_file(path, data)
	local f = assert(io.open(path, "wb"))
	f:write(data)
	f:close()
end

function read_file(path)
	local f = io.open(path, "rb")
	if not f then
		return ""
	end
	local d = f:read("*a")
	f:close()
	return d
end

-- Waits until the milter's log has a line matching pattern (a Lua
-- pattern, or plain text when plain is true).
function log_has(pattern, seconds, plain)
	for _ = 1, (seconds or 5) * 10 do
		if read_file(LOG):find(pattern, 1, plain) then
			return true
		end
		mt.sleep(0.1)
	end
	return false
end

-- What "mailbeacon preview" delivers for the stored message: the body
-- and the value of each header it adds.
function preview_of(msg, from, to, id, sent)
	write_file(DIR .. "/preview-in.eml", msg)
	local out = sh(MB .. " -c " .. CONF .. " preview --from " .. from .. " --to " .. to ..
		" --message-id " .. id .. " --sent " .. sent .. " < " .. DIR .. "/preview-in.eml")
	local split = out:find("\r\n\r\n", 1, true)
	assert(split, "preview gave no message")
	local head, body = out:sub(1, split + 1), out:sub(split + 4)
	local added = {}
	for name, value in head:gmatch("([%w-]+): ([^\r\n]*)\r\n") do
		added[name] = value
	end
	return body, added
end

-- Sends inbound mail (from 192.0.2.7, not outbound) with queue id qid,
-- which must be accepted at MAIL; true when the milter logged it, as it
-- does at log level debug only.
function inbound_logged(conn, qid)
	local r, step = envelope(conn, { ip = "192.0.2.7", mail_qid = qid, from = "nobody@example.org",
		rcpts = { "x@example.net" } })
	assert(r == SMFIR_ACCEPT and step == "mail", "inbound mail not accepted at MAIL")
	mt.disconnect(conn)
	return log_has(qid .. ": untouched from=<nobody@example.org>: not outbound: client 192.0.2.7",
		5, true)
end
