# postfix-lib.sh: shell functions (bash) for the end-to-end tests. They run a
# private Postfix instance, an smtp-sink and mailbeacon-milter under one
# temporary directory, on loopback addresses only, and never touch the
# system's Postfix instance (its queue, its configuration, its processes).
#
#   . tests/e2e/postfix-lib.sh
#   e2e_init                   # temp dir, free ports, cleanup trap
#   mb_conf_init "$E2E_DIR/mb" # mailbeacon.conf, keys, hash.key, policy
#   sink_start "$E2E_DIR/sink" "$PORT_SINK"
#   pf_init "$E2E_DIR/pf" "unix:$MB_SOCK" accept
#   mb_milter_start "$MB_CONF"
#   pf_start
#   ...
#
# Everything started here is stopped by e2e_cleanup, which e2e_init installs
# as the EXIT trap (INT, TERM and HUP exit through it too).
#
# Environment: MB_BUILD (the build directory holding milter/mailbeacon-milter),
# E2E_KEEP=1 keeps the temporary directory, E2E_TMPDIR its parent (default
# $TMPDIR or /tmp).

PF_USER=postfix

# --- helpers ---------------------------------------------------------------

# e2e_require WHAT: exits 77 (skipped, saying that WHAT did NOT run) unless
# run as root, with postfix, postconf, postqueue, smtp-sink, sqlite3, python3
# and runuser (looked for in /usr/sbin and /sbin too) and the postfix user.
e2e_require() {
	local t
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: not root (a private Postfix instance needs root) -- $1 did NOT run"
		exit 77
	fi
	for t in postfix postconf postqueue smtp-sink sqlite3 python3 runuser; do
		command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
		command -v "$t" >/dev/null 2>&1 && continue
		echo "SKIP: $t not found (Debian packages postfix, sqlite3, python3) -- $1 did NOT run"
		exit 77
	done
	if ! id "$PF_USER" >/dev/null 2>&1; then
		echo "SKIP: no $PF_USER user -- $1 did NOT run"
		exit 77
	fi
}

e2e_log() { printf '# %s\n' "$*"; }

# e2e_alive PID: the process runs (exists and is not a zombie).
e2e_alive() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
	return 0
}

# e2e_stop_pids PID...: SIGTERM to each of these children of the shell,
# waits until it has exited (SIGKILL after 10 s) and reaps it.
e2e_stop_pids() {
	local pid i
	for pid; do
		kill "$pid" 2>/dev/null
		for i in $(seq 100); do
			e2e_alive "$pid" || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}

# e2e_free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
e2e_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# e2e_free_port_but PORT...: e2e_free_port, but none of these (picked
# earlier, and not listening yet).
e2e_free_port_but() {
	local port p again=1
	while [ "$again" = 1 ]; do
		port=$(e2e_free_port) || return 1
		again=0
		for p; do [ "$p" = "$port" ] && again=1; done
	done
	echo "$port"
}

# e2e_wait_port PORT TIMEOUT: waits until something accepts on 127.0.0.1:PORT.
e2e_wait_port() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, deadline = int(sys.argv[1]), time.time() + float(sys.argv[2])
while True:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        if time.time() > deadline:
            sys.exit(1)
        time.sleep(0.1)
PY
}

# e2e_init: makes the temporary directory E2E_DIR (traversable by the postfix
# user), picks PORT_SMTP, PORT_SUB and PORT_SINK, and installs the cleanup
# trap.
e2e_init() {
	E2E_DIR=$(mktemp -d "${E2E_TMPDIR:-${TMPDIR:-/tmp}}/mb-e2e.XXXXXX") || return 1
	chmod 755 "$E2E_DIR"
	if ! runuser -u "$PF_USER" -- test -x "$E2E_DIR"; then
		echo "e2e_init: $PF_USER cannot reach $E2E_DIR; set E2E_TMPDIR to a directory" \
			"every user can traverse (such as /tmp)" >&2
		rm -rf "$E2E_DIR"
		return 1
	fi
	PORT_SMTP=$(e2e_free_port) || return 1
	PORT_SINK=$(e2e_free_port_but "$PORT_SMTP") || return 1
	PORT_SUB=$(e2e_free_port_but "$PORT_SMTP" "$PORT_SINK") || return 1
	E2E_FAILED=0
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	export E2E_DIR PORT_SMTP PORT_SINK PORT_SUB
}

# e2e_cleanup: stops the milter, Postfix and the sink; removes our entry from
# the system main.cf's alternate_config_directories; removes E2E_DIR unless
# E2E_KEEP=1. Safe to call more than once.
e2e_cleanup() {
	local rc=$?
	mb_milter_stop >/dev/null 2>&1
	mb_extra_milters_stop >/dev/null 2>&1
	mb_beacons_stop >/dev/null 2>&1
	pf_stop_all >/dev/null 2>&1
	sink_stop >/dev/null 2>&1
	if [ -n "${E2E_DIR:-}" ] && [ -d "$E2E_DIR" ]; then
		if [ "${E2E_KEEP:-0}" = 1 ]; then
			e2e_log "kept $E2E_DIR"
		else
			rm -rf "$E2E_DIR"
		fi
	fi
	E2E_DIR=
	return $rc
}

# --- the private Postfix instance -----------------------------------------

# pf_init DIR [MILTER [DEFAULT_ACTION]]: writes DIR/etc/main.cf and master.cf
# for an instance whose queue, data and log live under DIR. smtpd listens on
# 127.0.0.1:$PORT_SMTP, and as a submission service (no SASL here; only
# milter_macro_daemon_name=ORIGINATING) on 127.0.0.1:$PORT_SUB; everything is
# relayed to [127.0.0.1]:$PORT_SINK.
# MILTER (e.g. unix:/path/milter.sock) goes into smtpd_milters and
# non_smtpd_milters; empty means no milter. DEFAULT_ACTION is
# milter_default_action (accept by default).
pf_init() {
	PF_DIR=$1
	local milter=${2:-} action=${3:-accept}
	PF_CONF=$PF_DIR/etc
	PF_LOG=$PF_DIR/log/postfix.log
	mkdir -p "$PF_CONF" "$PF_DIR/queue" "$PF_DIR/data" "$PF_DIR/log" || return 1
	chmod 755 "$PF_DIR" "$PF_CONF" "$PF_DIR/queue" "$PF_DIR/log"
	chown "$PF_USER" "$PF_DIR/data"
	chmod 700 "$PF_DIR/data"
	cat >"$PF_CONF/main.cf" <<EOF
# Private Postfix instance of the mailbeacon end-to-end tests.
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR/log
myhostname = mbtest.example.org
mydomain = example.org
myorigin = \$myhostname
mydestination =
local_recipient_maps =
relay_domains =
relayhost = [127.0.0.1]:$PORT_SINK
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_address_preference = ipv4
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
disable_dns_lookups = yes
biff = no
alias_maps =
alias_database =
# Deferred mail is retried quickly (fault tests).
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 5s
smtp_destination_concurrency_limit = 20
default_process_limit = 50
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
# The milter.
milter_protocol = 6
milter_default_action = $action
milter_connect_timeout = 10s
milter_command_timeout = 30s
milter_content_timeout = 60s
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}
smtpd_milters = $milter
non_smtpd_milters = $milter
EOF
	# The services, none chrooted (the milter socket lives under DIR).
	cat >"$PF_CONF/master.cf" <<EOF
127.0.0.1:$PORT_SMTP inet n - n - - smtpd
127.0.0.1:$PORT_SUB inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o milter_macro_daemon_name=ORIGINATING
pickup    unix  n       -       n       1       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       1       1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# --- several instances ------------------------------------------------------
# The functions above work on one instance at a time, named by PF_DIR,
# PF_CONF, PF_LOG, PF_RUNNING, PF_REGISTERED, PORT_SMTP and PORT_SUB.
# pf_instance NAME saves them under the current instance's name and switches
# to instance NAME: a new name gets its own free PORT_SMTP and PORT_SUB (then
# pf_init as usual). Every instance relays to the one sink (PORT_SINK).

PF_INSTANCE_VARS="PF_DIR PF_CONF PF_LOG PF_RUNNING PF_REGISTERED PORT_SMTP PORT_SUB"
PF_INSTANCES=
PF_CURRENT=

pf_instance() {
	local v
	case $1 in *[!A-Za-z0-9_]* | "") echo "pf_instance: bad name '$1'" >&2; return 1 ;; esac
	if [ -n "$PF_CURRENT" ]; then
		for v in $PF_INSTANCE_VARS; do eval "PFI_${PF_CURRENT}_$v=\${$v-}"; done
	fi
	PF_CURRENT=$1
	case " $PF_INSTANCES " in
	*" $1 "*)
		for v in $PF_INSTANCE_VARS; do eval "$v=\${PFI_${1}_$v-}"; done
		return 0 ;;
	esac
	PF_INSTANCES="$PF_INSTANCES $1"
	for v in $PF_INSTANCE_VARS; do eval "$v="; done
	PORT_SMTP=$(e2e_free_port_but "$PORT_SINK") || return 1
	PORT_SUB=$(e2e_free_port_but "$PORT_SMTP" "$PORT_SINK") || return 1
}

# pf_stop_all: pf_stop and pf_unregister_confdir for every instance (the one
# instance when pf_instance was never called).
pf_stop_all() {
	local n
	if [ -z "$PF_INSTANCES" ]; then
		pf_stop
		pf_unregister_confdir
		return
	fi
	for n in $PF_INSTANCES; do
		pf_instance "$n"
		pf_stop
		pf_unregister_confdir
	done
}

# pf_set NAME=VALUE...: changes main.cf of the instance (postconf -e).
pf_set() {
	postconf -c "$PF_CONF" -e "$@"
}

# pf_register_confdir: Postfix's set-gid commands (postdrop under sendmail,
# postqueue) only accept a non-default configuration directory that the
# default main.cf lists in alternate_config_directories. Adds ours to that
# list, keeping every existing value; creates /etc/postfix/main.cf with only
# that line when Debian's postfix was installed as "No configuration".
pf_register_confdir() {
	local cur
	[ -n "${PF_CONF:-}" ] || return 1
	if [ -f /etc/postfix/main.cf ]; then
		cur=$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null) || return 1
	else
		cur=
		mkdir -p /etc/postfix && (umask 022 && : >>/etc/postfix/main.cf) || return 1
		PF_CREATED_MAIN_CF=1
	fi
	case " $(printf '%s' "$cur" | tr ',' ' ') " in
	*" $PF_CONF "*) return 0 ;;
	esac
	if [ -n "$cur" ]; then
		postconf -c /etc/postfix -e "alternate_config_directories = $cur, $PF_CONF" || return 1
	else
		postconf -c /etc/postfix -e "alternate_config_directories = $PF_CONF" || return 1
	fi
	PF_REGISTERED=$PF_CONF
}

# pf_unregister_confdir: undoes pf_register_confdir (removes only our entry;
# removes main.cf again when we created it and it holds nothing else).
pf_unregister_confdir() {
	local cur new d
	[ -n "${PF_REGISTERED:-}" ] || return 0
	[ -f /etc/postfix/main.cf ] || return 0
	cur=$(postconf -c /etc/postfix -h alternate_config_directories 2>/dev/null) || return 1
	new=
	for d in $(printf '%s' "$cur" | tr ',' ' '); do
		[ "$d" = "$PF_REGISTERED" ] && continue
		new=${new:+$new, }$d
	done
	if [ -n "$new" ]; then
		postconf -c /etc/postfix -e "alternate_config_directories = $new"
	else
		postconf -c /etc/postfix -X alternate_config_directories
	fi
	if [ "${PF_CREATED_MAIN_CF:-0}" = 1 ] &&
	    ! grep -q '[^[:space:]]' /etc/postfix/main.cf; then
		rm -f /etc/postfix/main.cf
	fi
	PF_REGISTERED=
}

# pf_start: starts the instance and waits until smtpd answers.
pf_start() {
	pf_register_confdir || { echo "pf_start: cannot register $PF_CONF" >&2; return 1; }
	postfix -c "$PF_CONF" check || return 1
	postfix -c "$PF_CONF" start >/dev/null 2>&1 || postfix -c "$PF_CONF" start || return 1
	PF_RUNNING=1
	e2e_wait_port "$PORT_SMTP" 20 || { echo "pf_start: smtpd does not answer" >&2; return 1; }
}

# pf_stop: stops the instance and waits until its master has exited.
pf_stop() {
	local pid i
	[ "${PF_RUNNING:-0}" = 1 ] || return 0
	pid=$(sed -n '1s/[^0-9]//gp' "$PF_DIR/queue/pid/master.pid" 2>/dev/null)
	postfix -c "$PF_CONF" stop >/dev/null 2>&1
	if [ -n "$pid" ]; then
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && postfix -c "$PF_CONF" abort >/dev/null 2>&1
	fi
	PF_RUNNING=0
}

# pf_reload: rereads main.cf (running processes finish their work first).
pf_reload() {
	postfix -c "$PF_CONF" reload >/dev/null 2>&1
}

# pf_flush: asks the queue manager to retry all deferred mail now.
pf_flush() {
	postqueue -c "$PF_CONF" -f
}

# pf_queue_count: messages in the instance's queue (maildrop, incoming,
# active, deferred, hold); counted from the queue files, as root.
pf_queue_count() {
	find "$PF_DIR/queue/maildrop" "$PF_DIR/queue/incoming" "$PF_DIR/queue/active" \
		"$PF_DIR/queue/deferred" "$PF_DIR/queue/hold" -type f 2>/dev/null | wc -l
}

# pf_wait_empty TIMEOUT: waits until the queue is empty; 1 on timeout.
pf_wait_empty() {
	local end=$((SECONDS + $1))
	while [ "$(pf_queue_count)" -ne 0 ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
	return 0
}

# pf_log_problems: the Postfix log lines that tell of trouble.
pf_log_problems() {
	grep -iE 'error|fatal|panic|warning: milter' "$PF_LOG" 2>/dev/null
}

# --- smtp-sink ------------------------------------------------------------

# sink_start DIR PORT: smtp-sink on 127.0.0.1:PORT writing each message it
# receives, complete, to its own file DIR/m.<random> (option -d).
sink_start() {
	SINK_DIR=$1
	mkdir -p "$SINK_DIR" || return 1
	chown "$PF_USER" "$SINK_DIR"
	smtp-sink -4 -u "$PF_USER" -h sink.example.net -d "$SINK_DIR/m." "127.0.0.1:$2" 256 \
		>"$SINK_DIR.log" 2>&1 &
	SINK_PID=$!
	e2e_wait_port "$2" 10 || { echo "sink_start: smtp-sink does not answer" >&2; return 1; }
}

sink_stop() {
	[ -n "${SINK_PID:-}" ] || return 0
	kill "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=
}

# sink_count: messages the sink has received so far.
sink_count() {
	find "$SINK_DIR" -type f -name 'm.*' | wc -l
}

# sink_clear: forgets the messages received so far (keeps them in DIR.N).
sink_clear() {
	local n=0
	while [ -e "$SINK_DIR.$n" ]; do n=$((n + 1)); done
	mkdir "$SINK_DIR.$n" && find "$SINK_DIR" -type f -name 'm.*' -exec mv -t "$SINK_DIR.$n" {} +
}

# sink_wait COUNT TIMEOUT: waits until the sink holds at least COUNT messages.
sink_wait() {
	local end=$((SECONDS + $2))
	while [ "$(sink_count)" -lt "$1" ]; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.2
	done
	return 0
}

# --- mailbeacon -----------------------------------------------------------

# e2e_b64key: 32 random bytes, unpadded base64url.
e2e_b64key() {
	head -c 32 /dev/urandom | basenc --base64url | tr -d '=\n'
}

# mb_conf_init DIR [INTERNAL_HOSTS]: a mailbeacon configuration in DIR:
# mailbeacon.conf, keys, hash.key, policy; the database under DIR/db and the
# milter socket under DIR/milter, both writable by the postfix user (the
# milter drops to it). Sets MB_CONF, MB_SOCK, MB_DB, MB_LOCAL_SENDER.
mb_conf_init() {
	MB_DIR=$1
	local internal=${2:-127.0.0.1/32}
	MB_CONF=$MB_DIR/mailbeacon.conf
	MB_SOCK=$MB_DIR/milter/milter.sock
	MB_DB=$MB_DIR/db/mailbeacon.db
	# The envelope sender of "sendmail" run by root in the private instance
	# (myorigin = myhostname in pf_init).
	MB_LOCAL_SENDER=$(id -un)@mbtest.example.org
	mkdir -p "$MB_DIR/db" "$MB_DIR/milter" || return 1
	chmod 755 "$MB_DIR"
	chown "$PF_USER" "$MB_DIR/db" "$MB_DIR/milter"
	chmod 750 "$MB_DIR/db"
	chmod 755 "$MB_DIR/milter"
	cat >"$MB_CONF" <<EOF
# mailbeacon configuration of the end-to-end tests.
beacon_url = https://t.example.com
key_file = keys
hash_key_file = hash.key
policy_file = policy
database = $MB_DB
milter_socket = unix:$MB_SOCK
user = $PF_USER
internal_hosts = $internal
EOF
	(
		umask 077
		printf 'k1 %s\n' "$(e2e_b64key)" >"$MB_DIR/keys"
		e2e_b64key >"$MB_DIR/hash.key"
		echo >>"$MB_DIR/hash.key"
	)
	# The milter reads them after dropping to the postfix user.
	chown "$PF_USER" "$MB_DIR/keys" "$MB_DIR/hash.key"
	cat >"$MB_DIR/policy" <<EOF
# Only these senders opted in; everybody else is off.
alice@example.com     opens clicks footer
$MB_LOCAL_SENDER      opens clicks footer
*                     off
EOF
}

# conf_derive SRC DST NAME=VALUE...: DST is the configuration SRC with these
# settings replaced (or added).
conf_derive() {
	local src=$1 dst=$2 kv names=
	shift 2
	for kv; do names="$names|${kv%%=*}"; done
	grep -Ev "^(${names#|})[[:space:]]*=" "$src" >"$dst" || return 1
	for kv; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$dst"; done
}

# mb_socket_wait PID SOCKET: waits (10 s at most) until the unix SOCKET
# accepts connections while process PID lives; connectable, not just
# present: kill -9 leaves the old socket file.
mb_socket_wait() {
	local i
	for i in $(seq 100); do
		e2e_alive "$1" || return 1
		python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])' "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# mb_milter_start [CONF]: starts mailbeacon-milter -f in the background and
# waits until its socket exists. Its stderr goes to MB_MILTER_LOG (appended).
mb_milter_start() {
	local conf=${1:-$MB_CONF} bin=${MB_BUILD:?MB_BUILD not set}/milter/mailbeacon-milter
	MB_MILTER_LOG=${MB_MILTER_LOG:-$MB_DIR/milter.log}
	if [ ! -x "$bin" ]; then
		echo "mb_milter_start: $bin not built" >&2
		return 1
	fi
	"$bin" -f -c "$conf" >>"$MB_MILTER_LOG" 2>&1 &
	MB_MILTER_PID=$!
	mb_socket_wait "$MB_MILTER_PID" "$MB_SOCK" && return 0
	echo "mb_milter_start: no socket $MB_SOCK; the milter said:" >&2
	tail -n 20 "$MB_MILTER_LOG" >&2
	return 1
}

# mb_milter_stop: SIGTERM (the milter finishes messages in flight), waits
# (SIGKILL after 10 s); its exit status goes to MB_MILTER_STATUS.
mb_milter_stop() {
	local i w
	[ -n "${MB_MILTER_PID:-}" ] || return 0
	w=$(mb_milter_workers)
	kill "$MB_MILTER_PID" 2>/dev/null
	for i in $(seq 100); do
		e2e_alive "$MB_MILTER_PID" || break
		sleep 0.1
	done
	kill -9 "$MB_MILTER_PID" $w 2>/dev/null
	wait "$MB_MILTER_PID" 2>/dev/null
	MB_MILTER_STATUS=$?
	MB_MILTER_PID=
}

# mb_extra_milter_start CONF SOCKET LOG: another mailbeacon-milter -f (on
# another socket), stopped by mb_extra_milters_stop or e2e_cleanup; waits
# until SOCKET accepts connections.
mb_extra_milter_start() {
	"${MB_BUILD:?MB_BUILD not set}/milter/mailbeacon-milter" -f -c "$1" >>"$3" 2>&1 &
	MB_EXTRA_PIDS="${MB_EXTRA_PIDS:-} $!"
	mb_socket_wait "$!" "$2"
}

# mb_extra_milters_stop: SIGTERM to the milters mb_extra_milter_start
# started, and waits for them (SIGKILL to what is left after 10 s).
mb_extra_milters_stop() {
	local pid workers=
	for pid in ${MB_EXTRA_PIDS:-}; do
		workers="$workers $(ps -o pid= --ppid "$pid" 2>/dev/null)"
	done
	e2e_stop_pids ${MB_EXTRA_PIDS:-}
	# A worker outlives a supervisor that had to be killed.
	for pid in $workers; do
		[ "$(ps -o comm= -p "$pid" 2>/dev/null)" = mailbeacon-milt ] && kill -9 "$pid"
	done
	MB_EXTRA_PIDS=
}

# mb_beacon_start CONF PORT LOG: mailbeacond -f in the background (stderr
# appended to LOG), stopped by mb_beacons_stop or e2e_cleanup; waits until
# it accepts connections on 127.0.0.1:PORT.
mb_beacon_start() {
	"${MB_BUILD:?MB_BUILD not set}/beacon/mailbeacond" -f -c "$1" >>"$3" 2>&1 &
	MB_BEACON_PIDS="${MB_BEACON_PIDS:-} $!"
	e2e_wait_port "$2" 10 && e2e_alive "$!" && return 0
	echo "mb_beacon_start: the beacon does not answer on port $2; it said:" >&2
	tail -n 20 "$3" >&2
	return 1
}

# mb_beacons_stop: SIGTERM to the beacons mb_beacon_start started (they
# commit what they hold), and waits for them (SIGKILL after 10 s).
mb_beacons_stop() {
	e2e_stop_pids ${MB_BEACON_PIDS:-}
	MB_BEACON_PIDS=
}

# mb_milter_workers: the process ids of the milter's worker processes (the
# started process is a supervisor that runs libmilter in a child).
mb_milter_workers() {
	[ -n "${MB_MILTER_PID:-}" ] || return 0
	ps -o pid= --ppid "$MB_MILTER_PID" 2>/dev/null | tr -d ' '
}

# mb_milter_kill9: kills the milter with SIGKILL, the supervisor and its
# workers (a worker outlives a killed supervisor); leaves its socket file.
mb_milter_kill9() {
	local w
	[ -n "${MB_MILTER_PID:-}" ] || return 0
	w=$(mb_milter_workers)
	kill -9 "$MB_MILTER_PID" $w 2>/dev/null
	wait "$MB_MILTER_PID" 2>/dev/null
	MB_MILTER_PID=
}

# mb_milter_kill9_worker: kills only the worker(s) with SIGKILL; the
# supervisor is expected to start a new one. Prints the killed ids.
mb_milter_kill9_worker() {
	local w
	w=$(mb_milter_workers)
	[ -n "$w" ] || return 1
	kill -9 $w 2>/dev/null
	echo $w
}

# mb_milter_wait_worker OLD TIMEOUT: waits for a worker other than OLD.
mb_milter_wait_worker() {
	local end=$((SECONDS + $2)) w
	while [ "$SECONDS" -lt "$end" ]; do
		w=$(mb_milter_workers)
		if [ -n "$w" ] && [ "$w" != "$1" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# mb_admin_as_pf ARGS...: mailbeacon ARGS as the postfix user, as the milter
# runs, so that the SQLite files it writes stay the milter's. Runs a copy in
# E2E_DIR: the build tree may be one the postfix user cannot traverse (a
# clone in a mode 0700 temporary directory).
mb_admin_as_pf() {
	if [ ! -x "$E2E_DIR/bin/mailbeacon" ]; then
		mkdir -p "$E2E_DIR/bin" && chmod 755 "$E2E_DIR/bin" &&
			cp "${MB_BUILD:?MB_BUILD not set}/admin/mailbeacon" "$E2E_DIR/bin/mailbeacon" &&
			chmod 755 "$E2E_DIR/bin/mailbeacon" || return 1
	fi
	runuser -u "$PF_USER" -- "$E2E_DIR/bin/mailbeacon" "$@"
}

# mb_sql SQL: runs a query on the store, as the postfix user (so that no
# -wal or -shm file ends up owned by root, which the milter could not open).
mb_sql() {
	runuser -u "$PF_USER" -- sqlite3 -batch -noheader "$MB_DB" "$1"
}

# mb_store_dump FILE: the store's messages as "ID<TAB>MESSAGE-ID" lines.
mb_store_dump() {
	: >"$1"
	[ -f "$MB_DB" ] || return 0
	runuser -u "$PF_USER" -- sqlite3 -batch -noheader -separator "$(printf '\t')" "$MB_DB" \
		'SELECT id, message_id_header FROM messages' >"$1" 2>"$1.err" ||
	runuser -u "$PF_USER" -- sqlite3 -batch -noheader -separator "$(printf '\t')" "$MB_DB" \
		"SELECT '', message_id_header FROM messages" >"$1" 2>>"$1.err"
}
