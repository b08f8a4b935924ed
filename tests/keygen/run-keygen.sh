#!/bin/sh
# mailbeacon keygen: new key files are private and load; a rotation puts the
# new key first, so new mail is signed with it while URLs in older mail still
# verify; the hash key and broken key files are never overwritten.
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:?top_builddir must name the build directory}
mb="$build/admin/mailbeacon"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
check() {
	name=$1
	shift
	if "$@"; then
		echo "ok $name"
		passed=$((passed + 1))
	else
		echo "FAIL $name"
		failed=$((failed + 1))
	fi
}
mode() { stat -c %a "$1"; }
# token_ids FILE: the key ids of the tracking URLs in a previewed message.
token_ids() {
	grep -o 'https://t\.example\.com/[co]/[A-Za-z0-9_./-]*' "$1" |
		"$mb" -c "$dir/mailbeacon.conf" token verify | cut -f6 | sort -u
}

cd "$dir" || exit 1
umask 022
cat >mailbeacon.conf <<'CONF'
beacon_url = https://t.example.com
key_file = keys
hash_key_file = hash.key
policy_file = policy
database = mb.db
CONF
echo 'alice@example.com opens clicks footer' >policy
msg="$here/../corpus/01-html-single.eml"

check "prints a key line without a configuration" \
	sh -c "'$mb' -c /nonexistent keygen --id k0 | grep -Eq '^k0 [A-Za-z0-9_-]{43}\$'"
"$mb" keygen --id old -o keys 2>/dev/null
check "a new key file is mode 600 (umask 022 notwithstanding)" test "$(mode keys)" = 600
"$mb" keygen --hash -o hash.key 2>/dev/null
check "a new hash key file is mode 600" test "$(mode hash.key)" = 600
check "the hash key is 32 bytes of base64url" grep -Eqx '[A-Za-z0-9_-]{43}' hash.key

"$mb" -c mailbeacon.conf preview --from alice@example.com --to bob@example.org \
	<"$msg" >before.eml 2>/dev/null
check "mail is signed with the first key" test "$(token_ids before.eml)" = old

cp hash.key hash.before
check "keygen --hash refuses to replace the hash key" \
	sh -c "! '$mb' keygen --hash -o hash.key 2>/dev/null && cmp -s hash.key hash.before"

"$mb" keygen --id new -o keys 2>rotate.err
check "rotation says what to do next" grep -q SIGHUP rotate.err
check "rotation puts the new key first and keeps the old one" \
	test "$(cut -d' ' -f1 keys | tr '\n' ' ')" = "new old "
check "rotation keeps the file's mode" test "$(mode keys)" = 600
"$mb" -c mailbeacon.conf preview --from alice@example.com --to bob@example.org \
	<"$msg" >after.eml 2>/dev/null
check "after rotation new mail is signed with the new key" test "$(token_ids after.eml)" = new
check "after rotation URLs in older mail still verify" test "$(token_ids before.eml)" = old

cp keys keys.before
check "a duplicate key id is refused and the file kept" \
	sh -c "! '$mb' keygen --id old -o keys 2>/dev/null && cmp -s keys keys.before"
chmod 644 keys
check "a key file readable by others is refused, not rotated" \
	sh -c "! '$mb' keygen --id third -o keys 2>/dev/null && cmp -s keys keys.before"
check "a bad key id is refused" sh -c "! '$mb' keygen --id 'a b' 2>/dev/null"
check "no temporary file is left behind" test -z "$(ls | grep '\.new\.')"
"$mb" keygen --data --id d1 -o data.key 2>data.err
check "a new data key file is mode 600 with one key line" \
	sh -c "test \"\$(stat -c %a data.key)\" = 600 && grep -Eqx 'd1 [A-Za-z0-9_-]{43}' data.key"
check "the data key's message says to keep it apart from the database" grep -q 'apart from the database' data.err
cp data.key data.before
"$mb" keygen --data --id d2 -o data.key 2>data.err
check "a data key rotation puts the new key first and keeps the old one" \
	sh -c "test \"\$(cut -d' ' -f1 data.key | tr '\n' ' ')\" = 'd2 d1 ' && tail -n 1 data.key | cmp -s - data.before"
check "a data key rotation says the older keys still decrypt" grep -q 'still decrypt' data.err
check "--data and --hash together are refused" sh -c "! '$mb' keygen --data --hash 2>/dev/null"
check "--data prints a key line without -o" \
	sh -c "'$mb' keygen --data --id d0 | grep -Eqx 'd0 [A-Za-z0-9_-]{43}'"
if getent group nogroup >/dev/null; then
	"$mb" keygen -o grouped --group nogroup 2>/dev/null
	check "--group makes the file 640 in that group" \
		test "$(stat -c '%a %G' grouped)" = "640 nogroup"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
