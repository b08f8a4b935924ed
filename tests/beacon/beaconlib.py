"""beaconlib: what the beacon tests share (test_beacon.py, crash.py).

A Site is a fresh directory with a mailbeacon.conf, keys, hash key, policy
and store; a Beacon is a running mailbeacond of a site (foreground, stderr to
the site's beacon.log). Messages are made the way the milter makes them, by
`mailbeacon preview`, and recorded in the store with the rows the milter
would write. Only loopback addresses are used. Python standard library only.
"""
import base64
import email
import email.policy
import hashlib
import hmac
import http.client
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time

BEACON_URL = "https://t.example.com"
HOST = "t.example.com"
SENDER = "alice@example.com"

# Every beacon any test started: stopped at exit whatever happened.
RUNNING = []


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_secret():
    return b64url(os.urandom(32))


def new_msgid():
    """128 random bits, canonical unpadded base64url (22 characters)."""
    return b64url(os.urandom(16))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def user_name():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


class Site:
    """One configuration directory: conf, keys, hash key, policy, store."""

    def __init__(self, build, root, name, settings=None, keys=None, api_token=None):
        self.build = build
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "mailbeacon.conf")
        self.db = os.path.join(self.dir, "mb.db")
        self.keys_path = os.path.join(self.dir, "keys")
        self.port = free_port()
        self.keys = keys if keys is not None else [("k1", new_secret())]
        self.write_keys(self.keys)
        self.hash_key_text = new_secret()
        write_private(os.path.join(self.dir, "hash.key"), self.hash_key_text + "\n")
        self.hash_key = b64url_decode(self.hash_key_text)
        with open(os.path.join(self.dir, "policy"), "w") as f:
            f.write("%s  opens clicks footer\n" % SENDER)
        self.api_token = api_token
        base = [
            ("beacon_url", BEACON_URL),
            ("beacon_listen", "127.0.0.1:%d" % self.port),
            ("key_file", "keys"),
            ("hash_key_file", "hash.key"),
            ("database", "mb.db"),
            ("policy_file", "policy"),
            ("user", user_name()),
        ]
        if api_token is not None:
            write_private(os.path.join(self.dir, "api.token"), api_token + "\n")
            base.append(("api_token_file", "api.token"))
        self.settings = base + list(settings or [])
        self.write_conf()

    def write_conf(self, extra_lines=()):
        with open(self.conf, "w") as f:
            f.write("# written by tests/beacon\n")
            for k, v in self.settings:
                f.write("%s = %s\n" % (k, v))
            for line in extra_lines:
                f.write(line + "\n")

    def write_keys(self, keys):
        self.keys = list(keys)
        write_private(self.keys_path, "".join("%s %s\n" % kv for kv in self.keys))

    def tool(self, name):
        return os.path.join(self.build, {"beacon": "beacon/mailbeacond",
                                         "admin": "admin/mailbeacon",
                                         "milter": "milter/mailbeacon-milter"}[name])

    def create_store(self):
        """The store's schema, as the milter creates it at start (-n)."""
        p = subprocess.run([self.tool("milter"), "-n", "-c", self.conf],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0 or not os.path.exists(self.db):
            raise RuntimeError("mailbeacon-milter -n -c %s: exit %d: %s" %
                               (self.conf, p.returncode, (p.stderr or p.stdout).strip()))

    def recipient_hash(self, addr):
        return hmac.new(self.hash_key, addr.strip().lower().encode(), hashlib.sha256).digest()

    def preview(self, to, body, msgid=None, sent=None, timeout=60):
        """Runs mailbeacon preview; returns (exit, stdout bytes, stderr text)."""
        cmd = [self.tool("admin"), "-c", self.conf, "preview", "--from", SENDER,
               "--to", ",".join(to)]
        if msgid is not None:
            cmd += ["--message-id", msgid, "--sent", str(sent)]
        p = subprocess.run(cmd, input=body, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")

    def make_message(self, links=("https://example.org/",), to=None,
                     sent=None, record=True, msgid=None):
        """A tracked message: preview of an HTML mail with these hrefs (HTML
        attribute text, entities allowed). Returns a Message; records it in
        the store unless record is False."""
        msgid = msgid or new_msgid()
        if to is None:      # a recipient of its own: no case sees another's opt-out
            to = ("rcpt-%s@example.net" % msgid[:8].lower(),)
        sent = int(sent if sent is not None else time.time() - 3 * 3600)
        body = html_mail(links, to)
        rc, out, err = self.preview(list(to), body, msgid, sent)
        if rc != 0:
            raise RuntimeError("mailbeacon preview: exit %d: %s" % (rc, err.strip()))
        m = Message(msgid, sent, list(to), links, out)
        if record:
            self.record(m)
        return m

    def connect_db(self, timeout=30):
        con = sqlite3.connect(self.db, timeout=timeout, isolation_level=None)
        con.row_factory = sqlite3.Row
        return con

    def record(self, msgs):
        """The rows the milter writes for a tracked message."""
        if isinstance(msgs, Message):
            msgs = [msgs]
        con = self.connect_db()
        try:
            con.execute("BEGIN IMMEDIATE")
            for m in msgs:
                con.execute("INSERT INTO messages (id, queue_id, message_id_header, sender,"
                            " sasl_login, recipient_count, sent, words, link_count, subject)"
                            " VALUES (?, ?, ?, ?, NULL, ?, ?, 'opens clicks footer', ?, NULL)",
                            (m.msgid, "Q" + m.msgid[:12], "<%s@test.example>" % m.msgid,
                             SENDER, len(m.to), m.sent, len(m.clicks)))
                for a in m.to:
                    con.execute("INSERT INTO message_recipients (message_id, recipient_hash)"
                                " VALUES (?, ?)", (m.msgid, self.recipient_hash(a)))
                for c in m.clicks:
                    con.execute("INSERT INTO links (message_id, num, url) VALUES (?, ?, ?)",
                                (m.msgid, c.num, c.dest.split("?")[0]))
            con.execute("COMMIT")
        finally:
            con.close()

    def query(self, sql, args=()):
        con = self.connect_db()
        try:
            return [dict(r) for r in con.execute(sql, args).fetchall()]
        finally:
            con.close()

    def counts(self):
        """(events rows, optouts rows)."""
        con = self.connect_db()
        try:
            e = con.execute("SELECT count(*) FROM events").fetchone()[0]
            o = con.execute("SELECT count(*) FROM optouts").fetchone()[0]
            return e, o
        finally:
            con.close()

    def events(self, msgid):
        return self.query("SELECT * FROM events WHERE message_id = ? ORDER BY id", (msgid,))

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.dir, "beacon.log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return lines[-n:]
        except OSError:
            return []


def html_mail(links, to):
    lines = ["<p><a href=\"%s\">link %d</a></p>" % (href, i + 1) for i, href in enumerate(links)]
    return ("From: %s\r\nTo: %s\r\nSubject: beacon test\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "<html><body>\r\n<p>Hello.</p>\r\n%s\r\n</body></html>\r\n" %
            (SENDER, ", ".join(to), "\r\n".join(lines))).encode("utf-8")


class Click:
    def __init__(self, path, num, dest):
        self.path = path      # /c/...
        self.num = num        # link number
        self.dest = dest      # the destination as the sender wrote it (decoded)

    def __repr__(self):
        return "Click(%d %s)" % (self.num, self.dest)


CLICK_RE = re.compile(r"^/c/([A-Za-z0-9_-]+)\.(\d+)\.(\d+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)$")
URL_RE = re.compile(re.escape(BEACON_URL) + r"(/[ocu]/[A-Za-z0-9._/-]+)")


class Message:
    """A previewed message: its pixel, click and opt-out paths."""

    def __init__(self, msgid, sent, to, links, output):
        import html as htmlmod
        self.msgid, self.sent, self.to = msgid, sent, list(to)
        msg = email.message_from_bytes(output, policy=email.policy.compat32)
        text = ""
        for part in msg.walk():
            if part.get_content_type() == "text/html":
                text += part.get_payload(decode=True).decode("utf-8")
        paths = URL_RE.findall(text)
        opens = [p for p in paths if p.startswith("/o/")]
        clicks = [p for p in paths if p.startswith("/c/")]
        optouts = [p for p in paths if p.startswith("/u/")]
        if len(opens) != 1 or len(optouts) != 1 or len(clicks) != len(links):
            raise RuntimeError("preview made %d pixels, %d clicks (of %d links), %d opt-out links:\n%s"
                               % (len(opens), len(clicks), len(links), len(optouts), text[:3000]))
        self.pixel = opens[0]
        self.optout = optouts[0]
        self.clicks = []
        for i, (p, href) in enumerate(zip(clicks, links)):
            m = CLICK_RE.match(p)
            num = int(m.group(3)) if m else i + 1
            self.clicks.append(Click(p, num, htmlmod.unescape(href)))

    def click(self, num):
        return [c for c in self.clicks if c.num == num][0]


# --- HTTP -----------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body, reason=""):
        self.status = status
        self.headers = headers          # list of (name, value)
        self.body = body
        self.reason = reason

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_bytes(self, name):
        v = self.header(name)
        return None if v is None else v.encode("latin-1")

    def __repr__(self):
        return "HTTP %s (%d bytes)" % (self.status, len(self.body or b""))


def request(port, method, path, headers=None, body=None, source=None, timeout=15):
    """One request on a fresh connection. path is sent as given (ASCII)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        h = {"Host": HOST, "Connection": "close"}
        h.update(headers or {})
        if body is not None:
            h.setdefault("Content-Length", str(len(body)))
        for k, v in h.items():
            if v is not None:
                conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data, r.reason)
    finally:
        conn.close()


def raw_request(port, data, timeout=15, source=None):
    """Sends raw bytes; returns (status or None, raw header block, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    buf = b""
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), head, body


def metrics(port):
    """Prometheus text of /metrics as {(name, frozenset(labels)): value}."""
    r = request(port, "GET", "/metrics")
    out = {}
    if r.status != 200:
        return None, r
    for line in r.body.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out, r


def metric_sum(ms, name, **labels):
    total, found = 0.0, False
    for (n, ls), v in (ms or {}).items():
        if n == name and all((k, val) in ls for k, val in labels.items()):
            total += v
            found = True
    return total if found else None


# --- the daemon -----------------------------------------------------------

class Beacon:
    def __init__(self, site, extra_args=()):
        self.site = site
        self.proc = None
        self.pidfile = os.path.join(site.dir, "mailbeacond.pid")
        self.extra_args = list(extra_args)
        self.exit_status = None

    @property
    def port(self):
        return self.site.port

    def start(self, wait=15):
        log = open(os.path.join(self.site.dir, "beacon.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [self.site.tool("beacon"), "-c", self.site.conf, "-f", "-p", self.pidfile]
                + self.extra_args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        finally:
            log.close()
        RUNNING.append(self)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mailbeacond exited with %s at start: %s" %
                                   (self.proc.returncode, " | ".join(self.site.log_tail(5))))
            try:
                r = request(self.port, "GET", "/healthz", timeout=2)
                if r.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("mailbeacond did not answer /healthz within %ds: %s" %
                           (wait, " | ".join(self.site.log_tail(5))))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL. Returns the exit status (negative: signal)."""
        if self.proc is None:
            return self.exit_status
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.exit_status = "killed after %ds" % timeout
        if self.exit_status is None:
            self.exit_status = self.proc.returncode
        self.proc = None
        if self in RUNNING:
            RUNNING.remove(self)
        return self.exit_status

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()


SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"ThreadSanitizer|SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_findings(root):
    """Sanitizer reports in the beacon logs under root: [(log, line)]."""
    found = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f == "beacon.log":
                p = os.path.join(dirpath, f)
                with open(p, "rb") as fh:
                    for line in fh.read().decode("utf-8", "replace").splitlines():
                        if SANITIZER_RE.search(line):
                            found.append((os.path.relpath(p, root), line.strip()))
    return found


def report_sanitizers(report, root, name="beacon-sanitizers"):
    found = sanitizer_findings(root)
    if found:
        report.fail(name, "; ".join("%s: %s" % f for f in found[:5]))
    else:
        report.ok(name, "no sanitizer reports in the beacon logs")


def stop_all():
    for b in list(RUNNING):
        try:
            b.stop(timeout=5)
        except Exception:
            pass


def finish(report, root, keep):
    """A test script's last step: every beacon stopped, and its work
    directory kept when asked or when something failed (for the logs),
    else removed. Returns the exit status."""
    stop_all()
    if keep or report.failed:
        print("# kept %s" % root)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return report.summary()


def install_signal_handlers():
    """SIGTERM/SIGINT/SIGHUP end the test through SystemExit so that every
    finally block runs and the beacons are stopped."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, handler)


class Report:
    """ok NAME / FAIL NAME: why, then N passed, M failed."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.names = []

    def ok(self, name, detail=""):
        print("ok %s%s" % (name, " (%s)" % detail if detail else ""), flush=True)
        self.passed += 1

    def fail(self, name, why):
        print("FAIL %s: %s" % (name, why), flush=True)
        self.failed += 1
        self.names.append(name)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1
