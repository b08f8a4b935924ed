#!/usr/bin/env python3
"""Hostile input for the rewrite engine: each message is built here, run
through `mailbeacon preview`, and must come back with exit 0: untouched
(byte-identical, with a reason) or edited. The run must finish within a hang
limit. Its peak memory must stay within the bound the README states:
32 MiB + 12 x the message size (checked in the plain build only: ASan's
shadow memory makes RSS meaningless there)."""
import hashlib, os, subprocess, sys, time, tempfile, shutil, random

HANG_SECONDS = 120          # far above any expected run; only catches hangs
RSS_FIXED = 32 << 20
RSS_PER_BYTE = 12


def html_msg(body, ct=b"text/html; charset=utf-8", cte=b"8bit", extra=b""):
    return (b"From: a@example.com\nTo: b@example.net\nSubject: hostile\n"
            b"MIME-Version: 1.0\n" + extra + b"Content-Type: " + ct +
            b"\nContent-Transfer-Encoding: " + cte + b"\n\n" + body)


def cases():
    rnd = random.Random(42)
    # Each case is a function: only the process that makes it builds it.
    yield "10^5 links and paragraphs", lambda: html_msg(b"<html><body>" + b"<a href='https://e.com/x?a=1&amp;b=2'>l</a><p>t</p>" * 100000 + b"</body></html>")
    yield "2000 links (the cap)", lambda: html_msg(b"<html><body>" + b"<a href='https://e.com/x?a=1&amp;b=2'>l</a><p>t</p>" * 2000 + b"</body></html>")
    yield "one tag full of '<a '", lambda: html_msg(b"<a title=\"" + b"<a " * 1000000 + b"\">x</a>")
    yield "href full of '<a '", lambda: html_msg(b"<a href=\"https://e.com/" + b"<a " * 500000 + b"\">x</a>")
    yield "200k nested divs", lambda: html_msg(b"<body>" + b"<div>" * 200000 + b"x")
    yield "200k nested links", lambda: html_msg(b"<body>" + b"<a href=https://e.com/>" * 200000 + b"x")
    yield "5 MB single line", lambda: html_msg(b"<p>" + b"x" * 5000000)
    yield "3 MB of '<'", lambda: html_msg(b"<" * 3000000)
    yield "3 MB of '</body'", lambda: html_msg(b"</body" * 500000)
    yield "entity flood in href", lambda: html_msg(b"<a href=\"https://e.com/?" + b"&amp;&#38;&#x26;&copy" * 200000 + b"\">x</a>")
    yield "unterminated quotes", lambda: html_msg(b"<body>" + b"<a href=\"https://e.com/ x='" * 100000)
    yield "MSO conditionals", lambda: html_msg(b"<body>" + b"<![if !mso]><a href=https://e.com/>x</a>" * 100000)
    yield "many <base>", lambda: html_msg(b"<head>" + b"<base href='https://e.com/a/'>" * 100000 + b"<body><a href=x>y</a>")
    yield "NUL bytes", lambda: html_msg(b"<body><a href=https://e.com/>x</a>\0\0</body>")
    yield "random bytes as utf-8 HTML", lambda: html_msg(bytes(rnd.randrange(1, 256) for _ in range(2000000)))
    yield "random bytes as Shift_JIS", lambda: html_msg(bytes(rnd.randrange(1, 256) for _ in range(1000000)), ct=b"text/html; charset=shift_jis")
    yield "text URL then 10^6 ')'", lambda: html_msg(b"see https://e.com/" + b")" * 1000000, ct=b"text/plain")
    yield "text: 10^5 URLs", lambda: html_msg(b"https://e.com/a_(b)). " * 100000, ct=b"text/plain")
    yield "QP '=' flood", lambda: html_msg(b"=" * 2000000, cte=b"quoted-printable")
    yield "QP soft breaks only", lambda: html_msg(b"=\n" * 1000000, cte=b"quoted-printable")
    yield "base64 garbage", lambda: html_msg(b"!!!!" * 500000, cte=b"base64")
    yield "base64 of 4 MB HTML", lambda: html_msg(__import__("base64").encodebytes(b"<a href=https://e.com/>x</a>" * 150000), cte=b"base64")
    yield "3000 nested multiparts", lambda: b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0\n\n" + b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(3000))
    yield "10^5 parts", lambda: b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n" + b"--b\nContent-Type: text/html\n\n<a href=https://e.com/>x</a>\n" * 100000 + b"--b--\n"
    yield "header flood", lambda: b"X-A: b\n" * 300000 + b"Content-Type: text/html\n\n<a href=https://e.com/>x</a>"
    yield "one 2 MB header", lambda: b"Subject: " + b"x" * 2000000 + b"\nContent-Type: text/html\n\n<p>x"
    yield "boundary 10^5 long", lambda: b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=" + b"b" * 100000 + b"\n\n--b\n\nx\n"
    yield "delimiter lines flood", lambda: b"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n" + b"--b\n" * 400 + b"--b--\n"
    yield "no header/body separator", lambda: b"Content-Type: text/html\n<a href=https://e.com/>x</a>"
    yield "empty message", lambda: b""
    yield "long link destination", lambda: html_msg(b"<body><a href='https://e.com/" + b"a" * 100000 + b"'>x</a></body>")
    yield "List-Unsubscribe flood", lambda: html_msg(b"<body><a href=https://e.com/>x</a>", extra=b"List-Unsubscribe: " + b"<https://e.com/u>, " * 50000 + b"\n")


def file_digest(f):
    f.seek(0)
    h = hashlib.sha256()
    marked, tail = False, b""
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
        marked = marked or b"\nX-Mailbeacon: " in tail + chunk
        tail = chunk[-16:]
    return h.digest(), marked


def peak_rss_run(cmd, path):
    """Linux starts a child's peak RSS at its parent's peak, so the messages
    are made by separate processes and this parent never holds one."""
    with open(path, "rb") as fin, tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > HANG_SECONDS:
                proc.kill()
                os.wait4(proc.pid, 0)
                return None, b"", b"", 0, time.monotonic() - start
            time.sleep(0.01)
        secs = time.monotonic() - start
        rc = os.waitstatus_to_exitcode(status)
        ferr.seek(0)
        err = ferr.read(4096)
        fout.seek(0)
        return rc, file_digest(fout), err, ru.ru_maxrss * 1024, secs


def main():
    if sys.argv[1] == "--make":
        data = dict(enumerate(cases()))[int(sys.argv[2])][1]()
        with open(sys.argv[3], "wb") as f:
            f.write(data)
        return 0
    binary, confdir = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    try:
        for f in os.listdir(confdir):
            shutil.copy(os.path.join(confdir, f), work)
        os.chmod(os.path.join(work, "keys"), 0o600)
        sanitized = b"libasan" in subprocess.run(["ldd", binary], capture_output=True).stdout
        if sanitized:
            print("NOTE: sanitizer build: the memory bound is not checked here (it is in the plain build)")
        cmd = [binary, "-c", os.path.join(work, "mailbeacon.conf"), "preview",
               "--from", "textual@example.com", "--to", "rcpt@example.net"]
        passed = failed = 0
        names = [name for name, _ in cases()]
        msg_path = os.path.join(work, "message")
        for index, name in enumerate(names):
            subprocess.run([sys.executable, __file__, "--make", str(index), msg_path], check=True)
            size = os.path.getsize(msg_path)
            with open(msg_path, "rb") as f:
                in_digest, _ = file_digest(f)
            rc, (out_digest, marked), err, rss, secs = peak_rss_run(cmd, msg_path)
            problems = []
            if rc is None:
                problems.append("no answer within %d s (hang)" % HANG_SECONDS)
            elif rc != 0:
                problems.append("exit %d: %r" % (rc, err[-300:]))
            elif b"untouched: " in err and out_digest != in_digest:
                problems.append("untouched but the output differs from the input")
            elif b"untouched: " not in err and not marked:
                problems.append("neither untouched nor edited")
            bound = RSS_FIXED + RSS_PER_BYTE * size
            if not sanitized and rss > bound:
                problems.append("peak RSS %.1f MiB over the bound %.1f MiB" % (rss / 2**20, bound / 2**20))
            verdict = err.decode(errors="replace").strip().replace("mailbeacon: ", "") or "edited"
            if problems:
                failed += 1
                print("FAIL %s: %s" % (name, "; ".join(problems)))
            else:
                passed += 1
                print("ok   %-28s %5.1f MB  %5.2f s  rss %6.1f MiB  %s" % (name, size / 1e6, secs, rss / 2**20, verdict[:70]))
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    sys.exit(main())
