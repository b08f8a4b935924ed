#!/usr/bin/env python3
"""check-man.py PAGE < SETTINGS: holds mailbeacon.conf(5) to the settings
table that conf-settings prints: every setting of the table has an entry
under OPTIONS whose Default is the table's default, and the page has an
entry for no other setting. Prints each difference; exit status 1 if any."""
import re
import sys

ESCAPES = {r"\-": "-", r"\(lq": '"', r"\(rq": '"', r"\(em": "--", r"\&": "", r"\c": "", r"\e": "\\"}
FONT_MACROS = (".B", ".I", ".BR", ".BI", ".IB", ".IR", ".RB", ".RI")


def text_of(line):
    """The words a man(7) text or font-macro line shows, escapes resolved."""
    if line.startswith("."):
        macro, _, rest = line.partition(" ")
        if macro not in FONT_MACROS:
            return ""
        words = [w[1:-1] if w.startswith('"') else w for w in re.findall(r'"[^"]*"|\S+', rest)]
        # .B and .I print their words apart, .BR and the like run them together
        line = (" " if macro in (".B", ".I") else "").join(words)
    for esc, rep in ESCAPES.items():
        line = line.replace(esc, rep)
    return re.sub(r"\\f[BIRP]", "", line)


def read_table(stream):
    dirs, settings = [], {}
    for line in stream.read().splitlines():
        f = line.split("\t")
        if f[0] == "dir":
            dirs.append((f[1], f[2]))
        elif f[0] == "setting":
            settings[f[1]] = (f[2] == "required", None if f[3] == "none" else f[4])
    # the page says /etc, /var and /run where this build's directories may
    # differ; the longest first, since runstatedir may lie in localstatedir
    dirs.sort(key=lambda d: len(d[0]), reverse=True)
    for name, (req, dflt) in settings.items():
        if dflt is None:
            continue
        for built, page in dirs:
            if built + "/" in dflt:
                dflt = dflt.replace(built + "/", page + "/", 1)
                break
        settings[name] = (req, dflt)
    return settings


def read_page(path):
    """{setting: [lines of its Default]} for the entries under OPTIONS: a
    .TP or .TQ at the outer level followed by .B NAME; entries joined by
    .TQ share the .RS block that follows them."""
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    start = lines.index(".SH OPTIONS")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(".SH "))
    entries, group, depth, i = {}, [], 0, start + 1
    while i < end:
        line = lines[i]
        if line == ".RS":
            depth += 1
        elif line == ".RE":
            depth -= 1
        elif depth == 0 and line in (".TP", ".TQ") and lines[i + 1].startswith(".B "):
            name = lines[i + 1][3:].strip()
            if line == ".TP":
                group = []
            group.append(name)
            if name in entries:
                print(f"{path}: {name} is documented twice")
                entries["\0dup"] = None
            entries[name] = None
            i += 2
            continue
        elif depth == 1 and line == "Default" and lines[i - 1].startswith(".TP"):
            body = []
            j = i + 1
            while not lines[j].startswith((".TP", ".RE")):
                body.append(lines[j])
                j += 1
            for name in group:
                entries[name] = body
        i += 1
    return entries


def main():
    page = sys.argv[1]
    settings = read_table(sys.stdin)
    entries = read_page(page)
    bad = entries.pop("\0dup", 0) is None
    if not settings:
        print("no settings read from conf-settings")
        return 1
    for name in settings:
        if name not in entries:
            print(f"{page}: setting {name} (common/mbconfig.c cfg_keys[]) is not documented")
            bad = True
    for name, body in entries.items():
        if name not in settings:
            print(f"{page}: documents {name}, which cfg_keys[] does not have")
            bad = True
            continue
        required, dflt = settings[name]
        if body is None:
            print(f"{page}: {name} has no Default")
            bad = True
            continue
        shown = " ".join(t for t in (text_of(b) for b in body) if t)
        if required:
            ok, want = shown.startswith("none (required)"), "none (required)"
        elif not dflt:
            ok, want = shown.startswith("empty"), "empty ..."
        else:
            ok, want = body[0].startswith(".B ") and text_of(body[0]) == dflt, ".B " + dflt
        if not ok:
            print(f"{page}: {name}: Default says '{shown}', the table says {want}")
            bad = True
    if not bad:
        print(f"ok: {len(settings)} settings, each documented once with its default")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
