#!/bin/bash
# run-digest.sh: `mailbeacon digest` end to end (issue 17). A private Postfix
# with the milter records mail from three senders: alice (digest=weekly),
# carol (digest=daily) and bob (no digest). digest --since 7d then sends,
# through sendmail_path = Postfix's own sendmail, one mail each to alice and
# carol at smtp-sink and none to bob; digest_check.py parses each one (the
# HTML part with html.parser) and finds exactly that sender's messages of
# the period in it and nothing of anyone else's. Then --period daily (carol
# alone), and a sendmail_path that fails (exit 2, said why).
#
# Needs root (a private Postfix), postfix, smtp-sink, sqlite3, python3;
# skips (77) without them. Environment: top_builddir (set by "make check"),
# E2E_KEEP=1 keeps the temporary directory.
# Prints "ok NAME" or "FAIL NAME: why", then "N passed, M failed".
here=$(cd "$(dirname "$0")" && pwd)
MB_BUILD=${MB_BUILD:-${top_builddir:-$here/../../build}}
MB_BUILD=$(cd "$MB_BUILD" && pwd)
export MB_BUILD
lib=$here/../e2e

# shellcheck source=../e2e/postfix-lib.sh
. "$lib/postfix-lib.sh"
e2e_require "the digest tests"
for p in admin/mailbeacon milter/mailbeacon-milter; do
	[ -x "$MB_BUILD/$p" ] || { echo "FAIL: $MB_BUILD/$p is not built"; exit 1; }
done

passed=0
failed=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

e2e_init || exit 1
mb_conf_init "$E2E_DIR/mb" 127.0.0.1/32 || exit 1
cat >"$MB_DIR/policy" <<EOF
alice@example.com     opens clicks footer digest=weekly
carol@example.com     opens clicks footer digest=daily
bob@example.com       opens clicks footer
*                     off
EOF
sink_start "$E2E_DIR/sink" "$PORT_SINK" || exit 1
pf_init "$E2E_DIR/pf" "unix:$MB_SOCK" accept || exit 1
# The digests go out through this instance's own sendmail (and so through
# its non_smtpd_milters: the milter sees them too).
echo "sendmail_path = /usr/sbin/sendmail -C $PF_CONF" >>"$MB_CONF"
mb_milter_start || { echo "FAIL: the milter did not start"; exit 1; }
pf_start || { echo "FAIL: Postfix did not start"; exit 1; }

send() {	# FROM COUNT
	python3 "$lib/send.py" --port "$PORT_SMTP" --from "$1" --to customer@example.net \
		--template "$lib/html.eml" --count "$2" --tag "${1%@*}" >/dev/null
}
send alice@example.com 3 && send bob@example.com 2 && send carol@example.com 2 ||
	{ echo "FAIL: cannot send the test mail"; exit 1; }
sink_wait 7 60 || { echo "FAIL: the test mail did not arrive"; exit 1; }
pf_wait_empty 30
stored=$(mb_sql "SELECT count(*) FROM messages")
[ "$stored" = 7 ] || { echo "FAIL: $stored messages stored, not 7"; exit 1; }
# One of alice's messages was sent 8 days ago: outside --since 7d.
mb_sql "UPDATE messages SET sent = sent - 8 * 86400
	WHERE id = (SELECT id FROM messages WHERE sender = 'alice@example.com' ORDER BY id LIMIT 1)"
mb_sql "SELECT id, sender, sent FROM messages" >"$E2E_DIR/messages.txt"
sink_clear

# digest_run NAME ARGS...: runs digest as the milter's user (the database's
# owner), its output in $E2E_DIR/NAME.out, its status in $digest_rc.
digest_run() {
	local name=$1
	shift
	mb_admin_as_pf -c "$MB_CONF" digest "$@" >"$E2E_DIR/$name.out" 2>&1
	digest_rc=$?
}
# sink_settle N: waits for N mails at the sink, then a little for any more.
sink_settle() {
	sink_wait "$1" 60
	pf_wait_empty 30
	sleep 2
}
check() {	# NAME ARGS... for digest_check.py
	local name=$1 out
	shift
	if out=$(python3 "$here/digest_check.py" "$SINK_DIR" "$E2E_DIR/messages.txt" \
		"$(date +%s)" "$@" 2>&1); then
		ok "$name"
	else
		fail "$name" "$out"
	fi
	printf '%s\n' "$out" | sed -n 's/^info: /  /p'
}

# 1. --since 7d: alice and carol, each their own messages; bob nothing.
digest_run since7d --since 7d
if [ "$digest_rc" -ne 0 ]; then
	fail since7d "digest exited $digest_rc: $(cat "$E2E_DIR/since7d.out")"
else
	sink_settle 2
	check since7d --since-days 7 alice@example.com carol@example.com
	grep -q '^alice@example.com: digest of 2 messages sent$' "$E2E_DIR/since7d.out" &&
	grep -q '^carol@example.com: digest of 2 messages sent$' "$E2E_DIR/since7d.out" &&
	! grep -q bob "$E2E_DIR/since7d.out" ||
		fail since7d-output "$(cat "$E2E_DIR/since7d.out")"
fi
# The digests passed the milter untouched: nothing more was recorded.
[ "$(mb_sql "SELECT count(*) FROM messages")" = 7 ] && ok digest-not-tracked ||
	fail digest-not-tracked "the milter recorded a digest as a tracked message"
sink_clear

# 2. --period daily: carol alone, the last 24 hours.
digest_run daily --period daily
if [ "$digest_rc" -ne 0 ]; then
	fail period-daily "digest exited $digest_rc: $(cat "$E2E_DIR/daily.out")"
else
	sink_settle 1
	check period-daily --since-days 1 carol@example.com
fi
sink_clear

# 3. A sendmail_path that fails: exit 2, the reason named, nothing sent.
cp "$MB_CONF" "$MB_DIR/broken.conf"
printf '#!/bin/sh\necho "postdrop: fatal: queue is full" >&2\nexit 75\n' >"$E2E_DIR/bin/badsendmail"
chmod 755 "$E2E_DIR/bin/badsendmail"
echo "sendmail_path = $E2E_DIR/bin/badsendmail" >>"$MB_DIR/broken.conf"
sed -i '/^sendmail_path = \/usr\/sbin/d' "$MB_DIR/broken.conf"
mb_admin_as_pf -c "$MB_DIR/broken.conf" digest --since 7d >"$E2E_DIR/broken.out" 2>&1
rc=$?
sleep 2
if [ "$rc" = 2 ] && grep -q 'alice@example.com: no digest sent: .*exited with status 75: postdrop: fatal: queue is full' "$E2E_DIR/broken.out" &&
	grep -q 'carol@example.com: no digest sent' "$E2E_DIR/broken.out" && [ "$(sink_count)" = 0 ]; then
	ok sendmail-fails
else
	fail sendmail-fails "exit $rc, $(sink_count) mails; it said: $(cat "$E2E_DIR/broken.out")"
fi

problems=$(pf_log_problems)
[ -z "$problems" ] || echo "# Postfix log: $problems"
echo "digest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
