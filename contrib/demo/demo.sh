#!/bin/bash
# The README's demo. It starts a private Postfix with mailbeacon-milter and
# an smtp-sink (under a temporary directory, on loopback, leaving the
# system's Postfix alone) and sends the sample newsletter from an opted-in
# sender. It shows the message as delivered, its store record and the
# signed click destinations. Then mailbeacond answers the pixel and one link
# as a mail client and a browser would, and the events appear joined to the
# sender. It ends with the sender's report, printed, and as an HTML page in
# BUILD_DIR/demo-report.html (or $DEMO_REPORT_HTML). Everything is stopped
# at the end.
set -u
build=${1:?usage: demo.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../../tests/e2e
export MB_BUILD=$build
# shellcheck source=../../tests/e2e/postfix-lib.sh
. "$lib/postfix-lib.sh"
mb="$build/admin/mailbeacon"

step() { printf '\n== %s\n' "$*"; }

e2e_init || exit 1
mb_conf_init "$E2E_DIR/mb" 127.0.0.1/32 || exit 1
sink_start "$E2E_DIR/sink" "$PORT_SINK" || exit 1
pf_init "$E2E_DIR/pf" "unix:$MB_SOCK" accept || exit 1
mb_milter_start || { echo "demo: the milter did not start"; exit 1; }
pf_start || { echo "demo: Postfix did not start"; exit 1; }

step "A private Postfix on 127.0.0.1:$PORT_SMTP with mailbeacon-milter; the policy says:"
"$mb" -c "$MB_CONF" policy check alice@example.com

step "Sending contrib/demo/newsletter.eml from alice@example.com over SMTP"
python3 "$lib/send.py" --port "$PORT_SMTP" --from alice@example.com --to customer@example.net \
	--template "$here/newsletter.eml" --count 1 --tag demo | sed 's/^/  /'
sink_wait 1 30 || { echo "demo: the message did not arrive"; exit 1; }
pf_wait_empty 30 || true
delivered=$(ls "$E2E_DIR"/sink/* | head -1)

step "The message as smtp-sink received it (headers, then the HTML part decoded)"
python3 - "$delivered" "$lib" <<'PY'
import email, sys
sys.path.insert(0, sys.argv[2])
from sinkcheck import split_sink
msg = email.message_from_bytes(split_sink(open(sys.argv[1], "rb").read())[1])
for name in ("Received", "From", "To", "Subject", "Message-ID", "X-Mailbeacon"):
    print("%s: %s" % (name, " ".join(str(msg.get(name)).split())))
for part in msg.walk():
    if part.get_content_type() == "text/html":
        html = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        print()
        print(html)
        open(sys.argv[1] + ".html", "w").write(html)
PY

step "Its record in the store ($MB_DB)"
mb_sql "SELECT 'id=' || id, 'queue_id=' || queue_id, 'sender=' || sender,
	'recipients=' || recipient_count, 'words=' || words, 'links=' || link_count
	FROM messages" | tr '|' '\n' | sed 's/^/  /'
mb_sql "SELECT '  link ' || num || ': ' || url FROM links ORDER BY num"
echo "  (recipients only as keyed hashes; link URLs without their query string)"

step "Click destinations signed in the delivered message (mailbeacon token verify)"
grep -o 'https://t\.example\.com/[cou]/[A-Za-z0-9._/-]*' "$delivered.html" | sort -u |
	"$mb" -c "$MB_CONF" token verify |
	awk -F'\t' '$2 == "c" { printf "  link %s -> %s\n", $5, $7 }
	            $2 == "o" { print "  open pixel for message " $3 }
	            $2 == "u" { print "  opt-out link for message " $3 }'

step "The beacon: mailbeacond on the same store"
PORT_BEACON=$(e2e_free_port)
cat >>"$MB_CONF" <<CONF
beacon_listen = 127.0.0.1:$PORT_BEACON
scanner_window = 2
CONF
# It becomes the configured user, as the milter did, so both write the
# same database files.
"$build/beacon/mailbeacond" -f -c "$MB_CONF" 2>"$E2E_DIR/beacon.log" &
beacon_pid=$!
trap 'kill $beacon_pid 2>/dev/null; e2e_cleanup' EXIT
e2e_wait_port "$PORT_BEACON" 10 || { echo "demo: the beacon did not start"; exit 1; }
python3 - "$delivered.html" "$PORT_BEACON" <<'PY'
import re, sys, time, urllib.request
html = open(sys.argv[1]).read()
base = "http://127.0.0.1:%s" % sys.argv[2]
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
opener = urllib.request.build_opener(NoRedirect)
def get(url, agent):
    req = urllib.request.Request(url.replace("https://t.example.com", base), headers={"User-Agent": agent})
    try:
        r = opener.open(req)
        return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, b""
pixel = re.search(r'https://t\.example\.com/o/[^"]+', html).group(0)
status, headers, body = get(pixel, "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1")
print("  Thunderbird shows the message: GET the pixel -> %d, %d-byte %s" % (status, len(body), headers["Content-Type"]))
print("  (a person reads for a moment: a click within scanner_window of sending counts as a scanner)")
time.sleep(2.5)
link = re.search(r'https://t\.example\.com/c/[^"]+', html).group(0)
status, headers, _ = get(link, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")
print("  Firefox follows link 1: %d, Location: %s" % (status, headers["Location"]))
PY

step "The events, joined to the sender (network masked, client as a class)"
mb_sql "SELECT '  ' || m.sender || '  ' || e.kind || coalesce(' link ' || e.link, '') || '  ' ||
	datetime(e.time, 'unixepoch') || '  ' || e.ip_masked || '  ' || e.client_class || '  ' || e.verdict
	FROM events e JOIN messages m ON m.id = e.message_id ORDER BY e.id"

step "The milter's and the beacon's logs"
sed 's/^/  /' "$MB_MILTER_LOG" "$E2E_DIR/beacon.log"

# The report, as the milter's user (the database's owner). The HTML page is
# written outside the temporary directory, which is removed at the end.
report_html=${DEMO_REPORT_HTML:-$build/demo-report.html}
step "The report for alice@example.com (mailbeacon report --sender alice@example.com)"
mb_admin_as_pf -c "$MB_CONF" report --sender alice@example.com | sed 's/^/  /'
if mb_admin_as_pf -c "$MB_CONF" report --sender alice@example.com --format html >"$report_html"; then
	echo
	echo "The same report as a web page (open it in a browser): $report_html"
else
	echo "demo: the HTML report could not be written to $report_html"
fi
echo
echo "Stopping Postfix, the milter, the beacon and smtp-sink."
