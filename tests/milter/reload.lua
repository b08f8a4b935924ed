-- SIGHUP reloads the policy (the file is changed in place with the same
-- size and time stamp, so only the signal can tell); a changed file is
-- picked up by itself; a broken file keeps the policy in force and says
-- where it is broken.
dofile(SRCDIR .. "/lib.lua")
local policy = DIR .. "/policy"
local conn = start()
local r, step = envelope(conn, { from = "bob@example.com", rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "bob tracked before the change")
mt.disconnect(conn)

local text = read_file(policy)
local new = text:gsub("bob@example.com  off   ", "bob@example.com  opens ")
assert(#new == #text and new ~= text, "test policy not as expected")
os.execute("cp -p " .. policy .. " " .. DIR .. "/policy.stamp")
write_file(policy, new)
os.execute("touch -r " .. DIR .. "/policy.stamp " .. policy)
mt.sleep(1.2)
conn = reconnect()
r, step = envelope(conn, { from = "bob@example.com", rcpts = { "x@example.net" } })
assert(r == SMFIR_ACCEPT and step == "mail", "policy reloaded without a signal")
mt.disconnect(conn)

mt.signal(1)	-- SIGHUP
assert(log_has("reloaded keys and policy %(SIGHUP%)"), "no reload line")
conn = reconnect()
r = envelope(conn, { from = "bob@example.com", rcpts = { "x@example.net" } })
assert(r == SMFIR_CONTINUE, "bob not tracked after SIGHUP")
mt.disconnect(conn)

write_file(policy, text .. "dave@example.com opens\n")	-- changes size and time
mt.sleep(1.2)
conn = reconnect()
r = envelope(conn, { from = "dave@example.com", rcpts = { "x@example.net" } })
assert(r == SMFIR_CONTINUE, "changed policy file not picked up")
mt.disconnect(conn)

write_file(policy, text .. "eve@example.com opens sometimes\n")
mt.sleep(1.2)
conn = reconnect()
r = envelope(conn, { from = "dave@example.com", rcpts = { "x@example.net" } })
assert(r == SMFIR_CONTINUE, "a broken policy file replaced the good one")
mt.disconnect(conn)
assert(log_has("keeping the previous keys and policy: .*policy:%d+: "), "no file:line in the log")
