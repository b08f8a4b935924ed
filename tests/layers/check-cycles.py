#!/usr/bin/env python3
"""check-cycles: no two object files of one program or library call each
other, directly or round a loop (so each folder's files can be read in
layers), and rewrite/ reads no configuration.

    check-cycles.py SRCDIR BUILDDIR (DIR:VARIABLE | DIR/LIBRARY.a)...

The objects of a program are the .c files of VARIABLE (its _SOURCES list)
in SRCDIR/DIR/Makefile.am, as BUILDDIR/DIR/NAME.o; those of a library are
its members (ar t). One depends on another when it uses a global symbol
the other defines (nm). Prints each cycle and exits 1 when there is one.
Stale objects of removed sources are not looked at.
"""
import os
import re
import subprocess
import sys


def sources(makefile_am, variable):
    with open(makefile_am) as f:
        text = f.read().replace("\\\n", " ")
    m = re.search(r"^%s\s*=(.*)$" % re.escape(variable), text, re.M)
    if m is None:
        raise SystemExit("FAIL: no %s in %s" % (variable, makefile_am))
    return [s for s in m.group(1).split() if s.endswith(".c")]


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] == "U":
            used.add(f[1])
        elif len(f) == 3 and f[1] in "TDBRCGSVW":
            defined.add(f[2])
    return defined, used


def cycles(graph):
    """The strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def edges(graph, comp):
    return ["%s -> %s" % (a, b) for a in comp for b in sorted(graph[a]) if b in comp]


def main():
    srcdir, builddir = sys.argv[1], sys.argv[2]
    failed = 0
    for spec in sys.argv[3:]:
        if ":" in spec:
            d, var = spec.split(":")
            names = [c[:-2] + ".o" for c in sources(os.path.join(srcdir, d, "Makefile.am"), var)]
        else:
            d = os.path.dirname(spec)
            names = subprocess.run(["ar", "t", os.path.join(builddir, spec)], capture_output=True,
                                   text=True, check=True).stdout.split()
        objs = {}
        for name in names:
            o = os.path.join(builddir, d, name)
            if not os.path.exists(o):
                print("FAIL %s: %s not built" % (spec, o))
                return 1
            objs[name[:-2] + ".c"] = symbols(o)
        graph = {a: {b for b in objs if b != a and objs[a][1] & objs[b][0]} for a in objs}
        found = cycles(graph)
        for comp in found:
            print("FAIL %s: cycle among %s: %s" % (d, ", ".join(comp), "; ".join(edges(graph, comp))))
        if not found:
            print("ok %s: %d files, no cycle" % (d, len(objs)))
        failed += bool(found)
    # rewrite/ takes its settings in struct rewrite_params (rewrite.h).
    rdir = os.path.join(srcdir, "rewrite")
    for name in sorted(os.listdir(rdir)):
        if name.endswith((".c", ".h")):
            with open(os.path.join(rdir, name)) as f:
                if re.search(r'^\s*#\s*include\s+"mbconfig\.h"', f.read(), re.M):
                    print("FAIL rewrite/%s includes mbconfig.h" % name)
                    failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
