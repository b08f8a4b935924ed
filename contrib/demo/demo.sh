#!/bin/sh
# The README's demo: runs "mailbeacon preview" on a sample newsletter as the
# milter would for an opted-in sender, then shows the tracked HTML part and
# the click destinations it signed, verified through the token code.
set -eu
build=${1:?usage: demo.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
mb="$build/admin/mailbeacon"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp "$here/mailbeacon.conf" "$here/policy" "$work/"
# A fresh signing key: 32 random bytes, base64url. The key file must be
# readable by its owner only.
(umask 077 && printf 'demo %s\n' "$(head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n')" >"$work/keys")

echo "== The sender policy for alice@example.com"
"$mb" -c "$work/mailbeacon.conf" policy check alice@example.com
echo
echo "== mailbeacon preview of contrib/demo/newsletter.eml"
"$mb" -c "$work/mailbeacon.conf" preview --from alice@example.com --to customer@example.net \
	<"$here/newsletter.eml" >"$work/out.eml"
sed -n '1,/^$/p' "$work/out.eml" | grep -E '^(X-Mailbeacon|Subject|From):'
echo
echo "== The tracked HTML part, decoded"
python3 - "$work/out.eml" <<'PY'
import sys, email
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
for part in msg.walk():
    if part.get_content_type() == "text/html":
        html = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        print(html)
        open(sys.argv[1] + ".html", "w").write(html)
PY
echo "== Click destinations signed in this message (mailbeacon token verify)"
grep -o 'https://t\.example\.com/[cou]/[A-Za-z0-9._/-]*' "$work/out.eml.html" | sort -u |
	"$mb" -c "$work/mailbeacon.conf" token verify |
	awk -F'\t' '$2 == "c" { printf "  link %s -> %s\n", $5, $7 }
	            $2 == "o" { print "  open pixel for message " $3 }
	            $2 == "u" { print "  opt-out link for message " $3 }'
echo
echo "Not rewritten: the mailto: link and the unsubscribe link (also named in List-Unsubscribe)."
