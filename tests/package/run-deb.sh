#!/bin/sh
# run-deb.sh: builds the Debian packages (debian/) and checks them. Not in
# "make check": it takes a minute or two and installs packages system-wide,
# so ./dev.sh runs it once per "./dev.sh test".
#
#  1. Copies the source tree (git's tracked and untracked, not ignored,
#     files: no build directories) into a temporary directory and runs
#     "dpkg-buildpackage -us -uc -b" there with DEB_BUILD_OPTIONS=nocheck
#     (the quick tests that dh_auto_test would run are part of make check
#     already); the repository is left as it was.
#  2. Checks the two .debs: their files, conffiles, dependencies (the
#     libraries dpkg-shlibdeps found, adduser), maintainer scripts.
#  3. Unpacks them (dpkg -x) into an empty tree and runs the programs from
#     there, with this host's libraries, on the installed mailbeacon.conf
#     (its paths pointed into the tree): mailbeacon keygen, mailbeacon-milter
#     -n, mailbeacond -n, mailbeacon policy check.
#  4. As root, on a host where systemd is not PID 1 (so no service can be
#     started) and no mailbeacon is installed: dpkg -i both packages and
#     checks what the postinst made (user, /var/lib/mailbeacon, keys with
#     their owner and mode), runs mailbeacon-milter -n with the default
#     configuration as root and as the service user, verifies the installed
#     units, reinstalls (the keys stay), removes (data stays) and purges
#     (data goes), then deletes the user. Anything left is cleaned up on exit.
#     Otherwise step 4 is skipped, loudly, and the test exits 77.
#
# Needs dpkg-dev, debhelper (which brings dh-autoreconf) and the build
# dependencies of debian/control. KEEP=1 keeps the temporary directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=${top_srcdir:-$here/../..}
src=$(cd "$src" && pwd)

passed=0
failed=0
ok() { echo "ok $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
finish() {
	echo "run-deb: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] || exit 1
	exit "${1:-0}"
}

for tool in dpkg-buildpackage dh dh_autoreconf dpkg-deb; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is missing (apt-get install dpkg-dev debhelper):" \
			"THE DEBIAN PACKAGES WERE NOT BUILT NOR CHECKED" >&2
		exit 77
	fi
done
if ! missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1); then
	echo "FAIL: $missing" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/mb-deb.XXXXXX") || exit 1
installed_here=no
milter_pid=
beacon_pid=
cleanup() {
	for pid in $milter_pid $beacon_pid; do
		kill -KILL "$pid" 2>/dev/null
	done
	if [ "$installed_here" = yes ]; then
		rm -rf /run/mailbeacon
		dpkg --purge mailbeacon-beacon mailbeacon >/dev/null 2>&1
		deluser --system mailbeacon >/dev/null 2>&1
		getent group mailbeacon >/dev/null && delgroup --system mailbeacon >/dev/null 2>&1
		rm -rf /etc/mailbeacon /var/lib/mailbeacon
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- 1. build -------------------------------------------------------------
version=$(sed -n '1s/^mailbeacon (\([^)]*\)).*/\1/p' "$src/debian/changelog")
tree="$work/mailbeacon-$version"
mkdir -p "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked files that were deleted in the work tree are skipped.
	(cd "$src" && git ls-files -z -co --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -C "$tree" -xf -
else
	# A release tarball: everything but the outputs of a build in it.
	tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./autom4te.cache \
		--exclude=./config.status --exclude=./config.log --exclude=./debian/build \
		-cf - . | tar -C "$tree" -xf -
fi
start=$(date +%s)
if (cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b ($(($(date +%s) - start)) s)"
else
	bad "dpkg-buildpackage -us -uc -b; its log ends:"
	tail -40 "$work/build.log" | sed 's/^/  /'
	finish
fi
arch=$(dpkg --print-architecture)
deb="$work/mailbeacon_${version}_$arch.deb"
debb="$work/mailbeacon-beacon_${version}_$arch.deb"
check "both .debs were made" test -f "$deb" -a -f "$debb"
[ "$failed" -eq 0 ] || finish

# --- 2. the packages' contents --------------------------------------------
# has_files DEB PATH...: each PATH is in the package.
has_files() {
	d=$1
	shift
	dpkg-deb -c "$d" | awk '{print $6}' | sed 's|^\./|/|' >"$work/list"
	for f in "$@"; do
		grep -qx "$f" "$work/list" || { echo "  $(basename "$d") lacks $f"; return 1; }
	done
}
check "mailbeacon holds the milter, the admin command, configuration, unit, man pages" \
	has_files "$deb" /usr/sbin/mailbeacon-milter /usr/bin/mailbeacon \
	/etc/mailbeacon/mailbeacon.conf /etc/mailbeacon/policy \
	/etc/mailbeacon/footer.html /etc/mailbeacon/footer.txt \
	/lib/systemd/system/mailbeacon-milter.service \
	/usr/share/man/man8/mailbeacon-milter.8.gz /usr/share/man/man1/mailbeacon.1.gz \
	/usr/share/man/man5/mailbeacon.conf.5.gz /usr/share/man/man5/mailbeacon-policy.5.gz \
	/usr/share/doc/mailbeacon/examples/README.setup \
	/usr/share/doc/mailbeacon/examples/mailbeacon.conf \
	/usr/share/doc/mailbeacon/examples/postfix/main.cf.snippet \
	/usr/share/doc/mailbeacon/examples/postgresql/setup.sql
check "mailbeacon-beacon holds the beacon, its unit and man page" \
	has_files "$debb" /usr/sbin/mailbeacond /lib/systemd/system/mailbeacond.service \
	/usr/share/man/man8/mailbeacond.8.gz
no_keys() { ! dpkg-deb -c "$deb" | grep -q 'etc/mailbeacon/\(keys\|hash.key\)'; }
check "no key is shipped (each host makes its own)" no_keys
conffiles_ok() {
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles >"$work/conffiles" &&
		[ "$(LC_ALL=C sort "$work/conffiles" | tr '\n' ' ')" = "/etc/mailbeacon/footer-ask.html /etc/mailbeacon/footer-ask.txt /etc/mailbeacon/footer.html /etc/mailbeacon/footer.txt /etc/mailbeacon/mailbeacon.conf /etc/mailbeacon/policy " ]
}
check "the six files in /etc/mailbeacon are conffiles (configuration, policy, the two footers of each kind)" conffiles_ok
# depends DEB PACKAGE...: each PACKAGE is in Depends.
depends() {
	d=$1
	shift
	dep=$(dpkg-deb -f "$d" Depends)
	for p in "$@"; do
		printf '%s' "$dep" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$p" ||
			{ echo "  $(basename "$d"): Depends: $dep lacks $p"; return 1; }
	done
}
check "mailbeacon depends on adduser and the libraries it links" \
	depends "$deb" adduser libmilter1.0.1 libxml2 libsqlite3-0 libpq5 libsodium23 libcurl4
check "mailbeacon-beacon depends on mailbeacon, libmicrohttpd and libpq" \
	depends "$debb" mailbeacon libmicrohttpd12 libsqlite3-0 libpq5 libsodium23
scripts_ok() {
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postinst >"$work/postinst" &&
		dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./postrm >"$work/postrm" &&
		sh -n "$work/postinst" && sh -n "$work/postrm" &&
		grep -q 'deb-systemd-helper enable .mailbeacon-milter.service' "$work/postinst" &&
		grep -q 'mailbeacon keygen --hash' "$work/postinst" &&
		grep -q 'adduser --system --group' "$work/postinst"
}
check "maintainer scripts parse, make the user and keys, enable the unit" scripts_ok

# --- 3. unpacked into an empty tree ---------------------------------------
root="$work/root"
mkdir -p "$root/var/lib/mailbeacon"
dpkg -x "$deb" "$root" && dpkg -x "$debb" "$root"
conf="$root/etc/mailbeacon/mailbeacon.conf.test"
sed -e "s|/etc/mailbeacon|$root/etc/mailbeacon|g" \
    -e "s|/var/lib/mailbeacon|$root/var/lib/mailbeacon|g" \
    -e "s|/run/mailbeacon|$root/run/mailbeacon|g" \
    -e "s|^user = mailbeacon|user = $(id -un)|" \
    "$root/etc/mailbeacon/mailbeacon.conf" >"$conf"
names() { grep -v '^[#[:space:]]' "$1" | grep . | cut -d' ' -f1; }
check "the test configuration is the installed one with other paths and user" \
	test "$(names "$root/etc/mailbeacon/mailbeacon.conf")" = "$(names "$conf")"
mb="$root/usr/bin/mailbeacon"
check "unpacked: mailbeacon keygen makes the two keys" \
	sh -c "'$mb' keygen -o '$root/etc/mailbeacon/keys' && '$mb' keygen --hash -o '$root/etc/mailbeacon/hash.key'" 2>/dev/null
run_ok() { out=$("$@" 2>&1) || { echo "  $out"; return 1; }; }
check "unpacked: mailbeacon-milter -n on the installed configuration" \
	run_ok "$root/usr/sbin/mailbeacon-milter" -n -c "$conf"
check "unpacked: mailbeacond -n on the installed configuration" \
	run_ok "$root/usr/sbin/mailbeacond" -n -c "$conf"
policy_off() { [ "$("$mb" -c "$conf" policy check alice@example.com 2>&1)" = "alice@example.com: off (no rule matches; the default is off)" ]; }
check "unpacked: the installed policy tracks nobody" policy_off
check "unpacked: the database was made where the configuration says" \
	test -f "$root/var/lib/mailbeacon/mailbeacon.db"

# --- 4. dpkg -i on this host ----------------------------------------------
why=
if [ "$(id -u)" -ne 0 ]; then
	why="not root"
elif [ -d /run/systemd/system ]; then
	why="systemd runs here: the postinst would start the daemons"
elif dpkg-query -W -f='${Status}' mailbeacon 2>/dev/null | grep -q installed ||
	dpkg-query -W -f='${Status}' mailbeacon-beacon 2>/dev/null | grep -q installed; then
	why="a mailbeacon package is installed here already"
elif getent passwd mailbeacon >/dev/null || getent group mailbeacon >/dev/null ||
	[ -e /etc/mailbeacon ] || [ -e /var/lib/mailbeacon ]; then
	why="a user, group or directory mailbeacon exists here already"
fi
if [ -n "$why" ]; then
	echo "SKIP: dpkg -i and the maintainer scripts were NOT CHECKED: $why" >&2
	finish 77
fi

# dpkg_wait ARGS...: dpkg, retried for up to 2 minutes while another
# process (an apt-get of a concurrent job) holds dpkg's lock.
dpkg_wait() {
	i=0
	while :; do
		dpkg "$@" && return 0
		rc=$?
		i=$((i + 1))
		fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock >/dev/null 2>&1 &&
			[ "$i" -lt 60 ] || return "$rc"
		sleep 2
	done
}
installed_here=yes
if dpkg_wait -i "$deb" "$debb" >"$work/dpkg-i.log" 2>&1; then
	ok "dpkg -i mailbeacon mailbeacon-beacon"
else
	bad "dpkg -i; its output:"
	sed 's/^/  /' "$work/dpkg-i.log"
	finish
fi
stat_is() { [ "$(stat -c '%U:%G %a' "$1" 2>/dev/null)" = "$2" ] || { echo "  $1: $(stat -c '%U:%G %a' "$1" 2>&1), not $2"; return 1; }; }
system_user() {
	uid=$(id -u mailbeacon) && [ "$uid" -lt 1000 ] &&
		[ "$(getent passwd mailbeacon | cut -d: -f7)" = /usr/sbin/nologin ] &&
		[ "$(id -gn mailbeacon)" = mailbeacon ]
}
check "postinst made the system user mailbeacon (group mailbeacon, no login)" system_user
check "postinst made /var/lib/mailbeacon mailbeacon:mailbeacon 0750" \
	stat_is /var/lib/mailbeacon "mailbeacon:mailbeacon 750"
check "postinst made /etc/mailbeacon/keys root:mailbeacon 0640" \
	stat_is /etc/mailbeacon/keys "root:mailbeacon 640"
check "postinst made /etc/mailbeacon/hash.key root:mailbeacon 0640" \
	stat_is /etc/mailbeacon/hash.key "root:mailbeacon 640"
check "the unit is enabled (multi-user.target.wants)" \
	test -L /etc/systemd/system/multi-user.target.wants/mailbeacon-milter.service
check "mailbeacon-milter -n with the default configuration, as root" \
	run_ok /usr/sbin/mailbeacon-milter -n
owner_is() { [ "$(stat -c '%U:%G' "$1" 2>/dev/null)" = "$2" ] || { echo "  $1: $(stat -c '%U:%G' "$1" 2>&1), not $2"; return 1; }; }
check "the database belongs to the service user" \
	owner_is /var/lib/mailbeacon/mailbeacon.db mailbeacon:mailbeacon
check "mailbeacon-milter -n as the service user (systemd's User=mailbeacon)" \
	run_ok runuser -u mailbeacon -- /usr/sbin/mailbeacon-milter -n
check "mailbeacond -n as the service user" \
	run_ok runuser -u mailbeacon -- /usr/sbin/mailbeacond -n
check "mailbeacon policy check with the default configuration" \
	run_ok /usr/bin/mailbeacon policy check alice@example.com
# The daemons as their units run them: as the user mailbeacon from the
# start, in the foreground, with /run/mailbeacon made for the milter
# (RuntimeDirectory=mailbeacon, mode 0750).
install -d -o mailbeacon -g mailbeacon -m 0750 /run/mailbeacon
setpriv --reuid=mailbeacon --regid=mailbeacon --init-groups /usr/sbin/mailbeacon-milter -f >"$work/milter.log" 2>&1 &
milter_pid=$!
sock_ok() {
	for _ in $(seq 50); do
		[ -S /run/mailbeacon/milter.sock ] && break
		sleep 0.1
	done
	stat_is /run/mailbeacon/milter.sock "mailbeacon:mailbeacon 660" || { sed 's/^/  /' "$work/milter.log"; return 1; }
}
check "mailbeacon-milter -f as the service user makes its socket 0660, group mailbeacon" sock_ok
# stop_ok PID LOG: SIGTERM stops it with status 0; otherwise the status and
# its log are shown (a rare failure here once printed no reason at all).
stop_ok() {
	kill -TERM "$1" && for _ in $(seq 100); do
		if ! kill -0 "$1" 2>/dev/null; then
			st=0
			wait "$1" || st=$?
			[ "$st" -eq 0 ] && return 0
			echo "  exit status $st; its log:"
			sed 's/^/  /' "$2"
			return 1
		fi
		sleep 0.1
	done
	kill -KILL "$1"
	echo "  still running 10 s after SIGTERM; its log:"
	sed 's/^/  /' "$2"
	return 1
}
check "mailbeacon-milter stops on SIGTERM with status 0" stop_ok "$milter_pid" "$work/milter.log"
milter_pid=
rm -rf /run/mailbeacon
if command -v curl >/dev/null 2>&1 && ! curl -s -o /dev/null http://127.0.0.1:8025/ 2>/dev/null; then
	setpriv --reuid=mailbeacon --regid=mailbeacon --init-groups /usr/sbin/mailbeacond -f >"$work/beacon.log" 2>&1 &
	beacon_pid=$!
	healthz() {
		for _ in $(seq 50); do
			[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8025/healthz)" = 200 ] && return 0
			sleep 0.1
		done
		sed 's/^/  /' "$work/beacon.log"
		return 1
	}
	check "mailbeacond -f as the service user answers /healthz on 127.0.0.1:8025" healthz
	check "mailbeacond stops on SIGTERM with status 0" stop_ok "$beacon_pid" "$work/beacon.log"
	beacon_pid=
else
	echo "note: 127.0.0.1:8025 is in use (or curl is missing): mailbeacond was not started"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
	units_ok() {
		out=$(systemd-analyze verify /lib/systemd/system/mailbeacon-milter.service \
			/lib/systemd/system/mailbeacond.service 2>&1)
		[ -z "$out" ] || { echo "$out" | sed 's/^/  /'; return 1; }
	}
	check "systemd-analyze verify of the installed units says nothing" units_ok
fi
sums=$(md5sum /etc/mailbeacon/keys /etc/mailbeacon/hash.key)
reinstall() { dpkg_wait -i "$deb" "$debb" >"$work/dpkg-i2.log" 2>&1 || { sed 's/^/  /' "$work/dpkg-i2.log"; return 1; }; }
check "dpkg -i again (reinstall)" reinstall
check "reinstalling kept both keys" test "$(md5sum /etc/mailbeacon/keys /etc/mailbeacon/hash.key)" = "$sums"
remove() { dpkg_wait -r mailbeacon-beacon mailbeacon >"$work/dpkg-r.log" 2>&1 || { sed 's/^/  /' "$work/dpkg-r.log"; return 1; }; }
check "dpkg -r (remove)" remove
check "remove kept the keys, the configuration and the database" \
	test -f /etc/mailbeacon/hash.key -a -f /etc/mailbeacon/mailbeacon.conf -a -f /var/lib/mailbeacon/mailbeacon.db
check "remove took the programs" test ! -e /usr/sbin/mailbeacon-milter -a ! -e /usr/bin/mailbeacon
purge() { dpkg_wait --purge mailbeacon-beacon mailbeacon >"$work/dpkg-p.log" 2>&1 || { sed 's/^/  /' "$work/dpkg-p.log"; return 1; }; }
check "dpkg --purge" purge
check "purge deleted /etc/mailbeacon and /var/lib/mailbeacon" \
	test ! -e /etc/mailbeacon -a ! -e /var/lib/mailbeacon
check "purge removed the unit's enable link" \
	test ! -e /etc/systemd/system/multi-user.target.wants/mailbeacon-milter.service
check "purge kept the user (Debian practice)" sh -c 'getent passwd mailbeacon >/dev/null'
deluser --system mailbeacon >/dev/null 2>&1
getent group mailbeacon >/dev/null && delgroup --system mailbeacon >/dev/null 2>&1
check "the user and group are gone again" \
	sh -c '! getent passwd mailbeacon >/dev/null && ! getent group mailbeacon >/dev/null'
installed_here=no
finish
