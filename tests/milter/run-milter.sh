#!/bin/sh
# Runs each miltertest script (one case per script) against a fresh
# mailbeacon-milter with its own configuration, keys, policy and database.
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:?top_builddir must name the build directory}
milter="$build/milter/mailbeacon-milter"
mb="$build/admin/mailbeacon"
for tool in miltertest sqlite3; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "SKIP: $tool is missing: the milter tests did NOT run" >&2
		exit 77
	fi
done
# MILTER_VALGRIND=1: every case runs the milter (supervisor and worker)
# under valgrind's memcheck, and also fails on any memory error or on
# memory definitely lost when the milter exits.
if [ "${MILTER_VALGRIND:-0}" = 1 ]; then
	if ! command -v valgrind >/dev/null 2>&1; then
		echo "FAIL: MILTER_VALGRIND=1 but valgrind is not installed" >&2
		exit 1
	fi
	real_milter=$milter
fi
passed=0
failed=0
# valgrind_clean DIR: true when valgrind (if used) reported nothing; with
# -q its logs hold only errors and definite leaks.
valgrind_clean() {
	[ -n "${real_milter:-}" ] || return 0
	# The milter's exit is asynchronous to miltertest's: let it finish.
	sleep 1
	set -- "$1"/valgrind.*
	[ -f "$1" ] || { echo "no valgrind log" >>"$dir/log"; return 1; }
	for vg in "$@"; do
		if [ -s "$vg" ]; then
			cat "$vg" >>"$dir/log"
			return 1
		fi
	done
	return 0
}
newkey() { head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n'; }
for script in "$here"/*.lua; do
	name=$(basename "$script" .lua)
	case $name in lib|driver) continue ;; esac
	dir=$(mktemp -d)
	(umask 077 && printf 'k1 %s\n' "$(newkey)" >"$dir/keys" && printf '%s\n' "$(newkey)" >"$dir/hash.key")
	cat >"$dir/mailbeacon.conf" <<CONF
beacon_url = https://t.example.com
key_file = keys
hash_key_file = hash.key
policy_file = policy
database = $dir/mb.db
milter_socket = unix:$dir/milter.sock
user = $(id -un)
on_error = accept
max_message_size = 65536
milter_memory_limit = 1048576
internal_hosts = 127.0.0.0/8
CONF
	cat >"$dir/policy" <<'POLICY'
alice@example.com  opens clicks footer
bob@example.com  off   
@sales.example.com  opens clicks footer max_recipients=2
POLICY
	milter=${real_milter:-$milter}
	"$milter" -n -c "$dir/mailbeacon.conf" >/dev/null
	if [ -n "${real_milter:-}" ]; then
		milter="$dir/milter-valgrind"
		cat >"$milter" <<WRAP
#!/bin/sh
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --log-file="$dir/valgrind.%p" "$real_milter" "\$@"
WRAP
		chmod +x "$milter"
	fi
	if timeout 120 miltertest -D MILTER="$milter" -D MB="$mb" -D CONF="$dir/mailbeacon.conf" \
		-D DIR="$dir" -D LOG="$dir/log" -D SRCDIR="$here" -D SCRIPT="$script" -s "$here/driver.lua" >"$dir/out" 2>"$dir/log" &&
		valgrind_clean "$dir"; then
		echo "ok $name"
		passed=$((passed + 1))
		rm -rf "$dir"
	else
		echo "FAIL $name"
		sed 's/^/    /' "$dir/out" "$dir/log" | tail -20
		failed=$((failed + 1))
	fi
	# A miltertest that died leaves the milter it started running.
	[ -f "$dir/milter.pid" ] && kill "$(cat "$dir/milter.pid")" 2>/dev/null
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
