#!/bin/bash
# run-consent.sh: consent=optin end to end (issue 14), through a private
# Postfix with mailbeacon-milter to smtp-sink, and a real mailbeacond on
# the same SQLite store (an automake TESTS entry). The cases:
#   one      the first mail to bob asks (ask footer, no pixel, no click
#            link); POST /a/ records his consent; the second mail is
#            tracked; POST /u/ withdraws it; the third mail is
#            byte-identical and the second one's events are no longer
#            recorded
#   two      a mail to frank (consented by "mailbeacon consent") and carol
#            (not) is not tracked: carol is asked once within
#            consent_ask_interval (20 s here), then the mail is
#            byte-identical, then asked again; the form asks for the
#            address and answers a stranger like a recipient
#   forged   forged, swapped and replayed /a/ tokens record nothing; GET and
#            HEAD never record; a link scanner that follows every URL of an
#            ask records nothing; a form of another notice records nothing
#   export   export shows each consent with its notice version; a changed
#            notice (retention_days) changes the version of later consents
#            only; consent --list; report's consent figures; forget erases
#            consents and asks and keeps the withdrawal
#
# Needs root, postfix, smtp-sink, sqlite3 and python3 (skips, 77, without).
# Environment as run-e2e.sh: MB_BUILD, E2E_KEEP=1.
# Prints "ok NAME" or "FAIL NAME: why" per case, then "N passed, M failed".

here=$(cd "$(dirname "$0")" && pwd)
MB_BUILD=${MB_BUILD:-${top_builddir:-$here/../../build}}
MB_BUILD=$(cd "$MB_BUILD" && pwd)
export MB_BUILD

skip() {
	echo "SKIP: $* -- the consent end-to-end tests did NOT run"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root (a private Postfix instance needs root)"
for t in postfix postconf postqueue smtp-sink sqlite3 python3 runuser; do
	command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$t" >/dev/null 2>&1 || skip "$t not found (Debian packages postfix, sqlite3, python3)"
done
id postfix >/dev/null 2>&1 || skip "no postfix user"

. "$here/postfix-lib.sh"

SEND="python3 $here/send.py"
CHECK="python3 $here/sinkcheck.py"
FLOW="python3 $here/consent_flow.py"
HTML=$here/html.eml
ALICE=alice@example.com
INTERVAL=20

passed=0
failed=0
why=
note() { why=${why:+$why; }$*; }
case_begin() {
	CASE=$1
	why=
	sink_clear
	mb_log_mark=$({ wc -l <"$MB_MILTER_LOG"; } 2>/dev/null || echo 0)
	echo "# --- $CASE"
}
case_end() {
	if [ -z "$why" ]; then
		echo "ok $CASE${1:+ ($1)}"
		passed=$((passed + 1))
	else
		echo "FAIL $CASE: $why"
		failed=$((failed + 1))
		echo "# milter log of the case:"
		tail -n +"$((mb_log_mark + 1))" "$MB_MILTER_LOG" | tail -n 30 | sed 's/^/#   /'
		echo "# beacon log:"
		tail -n 20 "$BEACON_LOG" | sed 's/^/#   /'
	fi
}
# send SEQ RCPT [RCPT...]: html.eml from alice to these recipients.
send() {
	local seq=$1 to=$2 extra=()
	shift 2
	for r; do extra+=(--also-to "$r"); done
	$SEND --port "$PORT_SMTP" --from "$ALICE" --to "$to" "${extra[@]}" --template "$HTML" \
		--first "$seq" --save "$E2E_DIR/sent" --tag "$E2E_TAG" | sed 's/^/# /'
	[ "${PIPESTATUS[0]}" = 0 ] || note "send.py failed for $seq"
}
settle() {
	sink_wait "$1" 30 || note "only $(sink_count) of $1 messages arrived"
	pf_wait_empty 30 || note "$(pf_queue_count) messages still queued"
	sleep 0.3
}
# check SEQS EXPECT: sinkcheck (tracked, or byte-identical as sent).
check() {
	local out
	mb_store_dump "$E2E_DIR/store.txt"
	out=$($CHECK --sink "$SINK_DIR" --sent "$E2E_DIR/sent" --seqs "$1" --expect "$2" \
		--store "$E2E_DIR/store.txt") ||
		note "$1 not $2: $(printf '%s\n' "$out" | grep -v sinkcheck: | head -3 | paste -sd'|')"
}
sql() { mb_sql "$1"; }
# hex of the keyed hash of an address (export prints it).
rcpt_hash() {
	mb_admin_as_pf -c "$MB_CONF" export --recipient "$1" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["recipient_hash"])'
}
consents_of() { sql "SELECT count(*) FROM consents WHERE hex(recipient_hash) = upper('$(rcpt_hash "$1")')"; }
xmb_id() { # SEQ: our id from the delivered message's X-Mailbeacon
	python3 - "$SINK_DIR" "$1" "$here" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[3])
from consent_flow import message
from sinkcheck import header_value
print((header_value(message(sys.argv[1], sys.argv[2]), "X-Mailbeacon") or "").split(";")[0].strip())
PY
}
beacon_start() { # [EXTRA SETTING LINE]
	mb_beacons_stop
	cp "$MB_CONF" "$MB_DIR/beacon.conf"
	printf 'beacon_listen = 127.0.0.1:%s\n%s\n' "$PORT_BEACON" "${1:-}" >>"$MB_DIR/beacon.conf"
	mb_beacon_start "$MB_DIR/beacon.conf" "$PORT_BEACON" "$BEACON_LOG"
}

case_one() {
	local bob=bob@example.com a u out v events
	case_begin one-ask-consent-track-withdraw
	send 1 "$bob"
	settle 1
	a=$($FLOW ask "$SINK_DIR" 1 "$BASE") || note "ask: $a"
	echo "$a" >"$E2E_DIR/a1"
	xmb_id 1 >"$E2E_DIR/id1"
	[ "$(sql 'SELECT count(*) FROM messages')" = 0 ] || note "an ask recorded a message"
	[ "$(sql "SELECT count(*) FROM consent_asks WHERE message_id = '$(xmb_id 1)'")" = 1 ] ||
		note "the ask is not recorded once"
	# preview of the recorded ask (its id and time) shows what was delivered
	out=$(python3 "$here/preview_match.py" "$SINK_DIR" "$E2E_DIR/sent" 1 "$MB_DB" \
		"$MB_BUILD/admin/mailbeacon" "$MB_CONF" "$ALICE" "$bob" 2>&1)
	printf '%s\n' "$out" | sed 's/^/# /'
	case $out in ok:*) ;; *) note "preview of the ask: ${out:-no verdict}" ;; esac
	out=$($FLOW get "$a")
	v=${out##* }
	case $out in "200 1 0 "[0-9a-f]*) ;; *) note "GET /a/: $out" ;; esac
	[ "$(consents_of "$bob")" = 0 ] || note "GET recorded a consent"
	[ "$($FLOW post "$a")" = 200 ] || note "POST /a/ failed"
	[ "$(sql "SELECT notice_version FROM consents WHERE message_id = '$(xmb_id 1)'")" = "$v" ] ||
		note "the consent's notice version is not the page's ($v)"
	[ "$(consents_of "$bob")" = 1 ] || note "POST did not record one consent"
	grep -q "asked from=<$ALICE>" "$MB_MILTER_LOG" || note "no 'asked' line in the milter log"

	sink_clear
	send 2 "$bob"
	settle 1
	check 2 tracked
	id2=$(xmb_id 2)
	for o in $($FLOW urls "$SINK_DIR" 2 o "$BASE"); do $FLOW fetch "$o" >/dev/null; done
	events=$(sql "SELECT count(*) FROM events WHERE message_id = '$id2'")
	[ "$events" -ge 1 ] || note "the tracked mail's pixel recorded nothing"
	u=$($FLOW urls "$SINK_DIR" 2 u "$BASE")
	[ "$($FLOW post "$u")" = 200 ] || note "POST /u/ failed"
	[ "$(sql "SELECT count(*) FROM optouts")" = 1 ] || note "the withdrawal is not recorded"
	events=$(sql "SELECT count(*) FROM events WHERE message_id = '$id2'")
	for o in $($FLOW urls "$SINK_DIR" 2 o "$BASE") $($FLOW urls "$SINK_DIR" 2 c "$BASE"); do
		$FLOW fetch "$o" >/dev/null
	done
	[ "$(sql "SELECT count(*) FROM events WHERE message_id = '$id2'")" = "$events" ] ||
		note "events of the second mail recorded after the withdrawal"

	sink_clear
	send 3 "$bob"
	settle 1
	check 3 untouched
	[ "$(sql "SELECT count(*) FROM consent_asks")" = 1 ] || note "the withdrawn recipient was asked again"
	case_end "asked, consented (notice $v), tracked, withdrawn, byte-identical"
}

case_two() {
	local frank=frank@example.org carol=carol@example.net a out t0
	case_begin two-every-recipient
	out=$(mb_admin_as_pf -c "$MB_CONF" consent --sender "$ALICE" "$frank" --source "contract 17" 2>&1) ||
		note "mailbeacon consent: $out"
	echo "# $out"
	t0=$(date +%s)
	send 11 "$frank" "$carol"
	settle 1
	a=$($FLOW ask "$SINK_DIR" 11 "$BASE") || note "11 is no ask: $a"
	sink_clear
	send 12 "$frank" "$carol"
	settle 1
	check 12 untouched
	[ "$(( $(date +%s) - t0 ))" -lt "$INTERVAL" ] || note "too slow: 12 went after the interval"
	sleep $(( t0 + INTERVAL + 2 - $(date +%s) ))
	sink_clear
	send 13 "$frank" "$carol"
	settle 1
	a=$($FLOW ask "$SINK_DIR" 13 "$BASE") || note "13 (after the interval) is no ask: $a"
	echo "$a" >"$E2E_DIR/a13"
	cp -r "$SINK_DIR" "$E2E_DIR/sink13"
	# Several recipients: the form asks for the address, and its answers
	# do not tell a recipient from a stranger.
	out=$($FLOW get "$a")
	case $out in "200 1 1 "*) ;; *) note "GET /a/ of two recipients: $out" ;; esac
	[ "$($FLOW post "$a")" = 400 ] || note "POST without an address was not refused"
	[ "$($FLOW post "$a" address=mallory@example.com)" = 200 ] || note "a stranger's POST"
	[ "$($FLOW post "$a" address=Carol@Example.NET)" = 200 ] || note "carol's POST"
	[ "$(consents_of "$carol")" = 1 ] || note "carol's consent is not recorded once"
	[ "$(consents_of mallory@example.com)" = 0 ] || note "a stranger's consent was recorded"
	sink_clear
	send 14 "$frank" "$carol"
	settle 1
	check 14 tracked
	$FLOW urls "$SINK_DIR" 14 u "$BASE" >"$E2E_DIR/u14"
	case_end "asked, byte-identical within ${INTERVAL}s, asked again; tracked once both consented"
}

case_forged() {
	local a u bad swapped before n
	case_begin forged-swapped-replayed
	a=$(cat "$E2E_DIR/a13")
	before=$(sql "SELECT count(*) FROM consents")
	# Forged: one character of the tag changed.
	bad=${a%?}$( [ "${a: -1}" = A ] && echo B || echo A)
	[ "$($FLOW fetch "$bad")" = 404 ] || note "GET of a forged /a/ token answered"
	[ "$($FLOW post "$bad" notice=x address=carol@example.net)" = 404 ] ||
		note "POST of a forged /a/ token answered"
	# Swapped: the opt-out token of a tracked mail under /a/, and back.
	u=$(cat "$E2E_DIR/u14")
	[ -n "$u" ] && [ -n "$a" ] || note "no /a/ of 13 or /u/ of 14 to work with"
	swapped=${u/\/u\//\/a\/}
	[ "$($FLOW post "$swapped" address=carol@example.net)" = 404 ] || note "an opt-out token passed as /a/"
	[ "$($FLOW post "${a/\/a\//\/u\/}" address=carol@example.net)" = 404 ] ||
		note "a consent token passed as /u/"
	# Replayed: bob's consent form after he withdrew; carol's again.
	[ "$($FLOW post "$(cat "$E2E_DIR/a1")")" = 200 ] || note "replayed POST of bob's form"
	[ "$($FLOW post "$a" address=carol@example.net)" = 200 ] || note "replayed POST of carol's form"
	# Another notice than the one that stands now.
	[ "$($FLOW post "$a" address=carol@example.net notice=00112233445566778899aabbccddeeff)" = 200 ] ||
		note "POST of another notice"
	# GET, HEAD, and a scanner that follows every URL of the asks.
	$FLOW get "$a" >/dev/null
	[ "$($FLOW head "$a")" = 200 ] || note "HEAD /a/ not answered"
	n=$($FLOW scan "$E2E_DIR/sink13" 13 "$BASE") || note "scan: $n"
	[ "$(sql "SELECT count(*) FROM consents")" = "$before" ] ||
		note "consents went from $before to $(sql 'SELECT count(*) FROM consents')"
	[ "$(sql "SELECT count(*) FROM consents WHERE message_id = '$(cat "$E2E_DIR/id1")'")" = 1 ] ||
		note "bob's replayed form changed his consents"
	[ "$(sql "SELECT count(*) FROM events")" = "$(cat "$E2E_DIR/events")" ] ||
		note "a scan of an ask recorded events"
	case_end "404 for forged and swapped; replays, other notice, GET, HEAD and a scan of $n URLs recorded nothing"
}

case_export() {
	local carol=carol@example.net grace=grace@example.org a x v1 v2 out
	case_begin export-notice-version
	v1=$(sql "SELECT notice_version FROM consents WHERE hex(recipient_hash) = upper('$(rcpt_hash "$carol")')")
	x=$(mb_admin_as_pf -c "$MB_CONF" export --recipient "$carol")
	printf '%s\n' "$x" | python3 -c '
import json, sys
x = json.load(sys.stdin)
c = x["consents"]
assert len(c) == 1 and c[0]["sender"] == "alice@example.com" and c[0]["notice_version"] == sys.argv[1] \
    and c[0]["withdrawn"] is None and c[0]["message_id"], c
assert len(x["consent_asks"]) == 2, x["consent_asks"]' "$v1" || note "export of carol: $x"
	# The notice changes (records kept 30 days instead of 90): later
	# consents have another version, earlier ones keep theirs.
	beacon_start "retention_days = 30" || note "the beacon did not restart"
	sink_clear
	send 31 "$grace"
	settle 1
	a=$($FLOW ask "$SINK_DIR" 31 "$BASE") || note "31 is no ask: $a"
	[ "$($FLOW post "$a")" = 200 ] || note "grace's POST"
	v2=$(sql "SELECT notice_version FROM consents WHERE hex(recipient_hash) = upper('$(rcpt_hash "$grace")')")
	[ -n "$v2" ] && [ "$v2" != "$v1" ] || note "the changed notice has version '$v2' (before: $v1)"
	[ "$(sql "SELECT notice_version FROM consents WHERE hex(recipient_hash) = upper('$(rcpt_hash "$carol")')")" = "$v1" ] ||
		note "carol's earlier consent changed its version"
	out=$(mb_admin_as_pf -c "$MB_CONF" consent --list --sender "$ALICE")
	printf '%s\n' "$out" | sed 's/^/# /'
	[ "$(printf '%s\n' "$out" | grep -c "	$v1	live")" = 1 ] || note "consent --list lacks carol's ($v1)"
	[ "$(printf '%s\n' "$out" | grep -c "	$v2	live")" = 1 ] || note "consent --list lacks grace's ($v2)"
	printf '%s\n' "$out" | grep -q "	contract 17	" || note "consent --list lacks the contract"
	printf '%s\n' "$out" | grep -q "	withdrawn " || note "consent --list shows no withdrawal (bob)"
	# report: asked bob, frank, carol, grace; all four consented (frank
	# outside mail), bob withdrew.
	out=$(mb_admin_as_pf -c "$MB_CONF" report --sender "$ALICE")
	printf '%s\n' "$out" | sed -n '/^consent=optin/,$p' | sed 's/^/# /'
	printf '%s\n' "$out" | grep -Eq "^$ALICE +4 +4 +1 +100.0%$" ||
		note "report: no consent row 'asked 4, consented 4, withdrawn 1, 100.0%'"
	mb_admin_as_pf -c "$MB_CONF" report --format json --sender "$ALICE" | python3 -c '
import json, sys
c = json.load(sys.stdin)["consent"]
assert c == [{"sender": "alice@example.com", "asked": 4, "consented": 4, "withdrawn": 1,
              "asked_consented": 4}], c' || note "report --format json: consent figures"
	mb_admin_as_pf -c "$MB_CONF" report --format html --sender "$ALICE" |
		grep -q '<td class="l">alice@example.com</td><td>4</td><td>4</td><td>1</td><td>100.0%</td>' ||
		note "report --format html: no consent row"
	mb_admin_as_pf -c "$MB_CONF" report --format csv --sender "$ALICE" | python3 -c '
import csv, io, sys
raw = sys.stdin.buffer.read().decode()
lines = list(csv.reader(io.StringIO(raw, newline="")))
assert len({len(l) for l in lines}) == 1, "rows of different widths"
rows = list(csv.DictReader(io.StringIO(raw, newline="")))
c = [(r["sender"], r["asked"], r["consented"], r["withdrawn"], r["consent_rate"])
     for r in rows if r["scope"] == "consent"]
assert c == [("alice@example.com", "4", "4", "1", "1.0")], c
assert rows[-1]["scope"] == "consent", rows[-1]
assert all(r["asked"] == "" for r in rows if r["scope"] != "consent"), rows' ||
		note "report --format csv: consent figures"
	# forget: bob's consents and asks go, his withdrawal stays.
	out=$(mb_admin_as_pf -c "$MB_CONF" forget --recipient bob@example.com) || note "forget: $out"
	printf '%s\n' "$out" | sed 's/^/# /'
	x=$(mb_admin_as_pf -c "$MB_CONF" export --recipient bob@example.com)
	printf '%s\n' "$x" | python3 -c '
import json, sys
x = json.load(sys.stdin)
assert x["consents"] == [] and x["consent_asks"] == [] and x["optout"] is not None, x' ||
		note "after forget, bob: $x"
	case_end "notice $v1, then $v2 for later consents only"
}

main() {
	e2e_init || exit 1
	E2E_TAG=c$$
	mb_conf_init "$E2E_DIR/mb" 127.0.0.1/32 || exit 1
	sed -i "s/^alice@example.com .*/alice@example.com     opens clicks footer consent=optin/" "$MB_DIR/policy"
	printf 'consent_ask_interval = %ss\n' "$INTERVAL" >>"$MB_CONF"
	MB_MILTER_LOG=$E2E_DIR/mb/milter.log
	BEACON_LOG=$E2E_DIR/beacon.log
	PORT_BEACON=$(e2e_free_port_but "$PORT_SMTP" "$PORT_SINK" "$PORT_SUB")
	BASE=http://127.0.0.1:$PORT_BEACON
	sink_start "$E2E_DIR/sink" "$PORT_SINK" || exit 1
	pf_init "$E2E_DIR/pf" "unix:$MB_SOCK" accept || exit 1
	mb_milter_start || { echo "FAIL milter-start"; exit 1; }
	pf_start || { echo "FAIL postfix-start"; exit 1; }
	beacon_start || { echo "FAIL beacon-start"; exit 1; }

	case_one
	case_two
	sql "SELECT count(*) FROM events" >"$E2E_DIR/events"
	case_forged
	case_export

	CASE=z-clean
	why=
	mb_beacons_stop
	mb_milter_stop
	[ "$MB_MILTER_STATUS" = 0 ] || note "the milter exited with status $MB_MILTER_STATUS"
	p=$(grep -E 'Sanitizer|runtime error|fatal|panic|Segmentation' "$MB_MILTER_LOG" "$BEACON_LOG")
	[ -n "$p" ] && note "$(printf '%s\n' "$p" | head -3 | paste -sd'|')"
	if [ -z "$why" ]; then echo "ok $CASE"; passed=$((passed + 1)); else echo "FAIL $CASE: $why"; failed=$((failed + 1)); fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main
