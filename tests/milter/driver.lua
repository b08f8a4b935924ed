-- driver.lua: runs one case (SCRIPT) and prints why it failed: miltertest
-- itself exits non-zero on an error without saying what the error was.
local ok, err = pcall(dofile, SCRIPT)
if not ok then
	io.stderr:write("ASSERTION: " .. tostring(err) .. "\n")
	error(err)
end
