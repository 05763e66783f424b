#!/usr/bin/env python3
"""The C core's file-level call graph: no cycles, and folders call only
the folders below them.

    tools/check_core_layers.py [--core DIR] [--graph]

For every .c file under xdpmtcp/_core it finds the functions and objects
with external linkage the file defines, and which of the other files'
symbols it names (a call, or a function's address put in a table).  A
static inline function of a header counts where it is used: a file that
calls tcb_set_state() calls what tcb_set_state() calls.  Identifiers are
found with a regex on the source stripped of comments, strings and
preprocessor lines, which is enough for a core written in one style (it
finds the symbols and references the linker sees, except names a macro
pastes together, such as cc.c's table of algorithms).

Checked, with exit status 1 and the offending edges printed:
  - no cycle between files (A calls B calls ... calls A);
  - every edge between folders follows LAYERS below (docs/architecture.md).
--graph prints the edges, file by file.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "xdpmtcp", "_core")

# Which folders a folder's files may call, and include the private
# headers of, besides its own.  The public headers (include/) hold
# declarations only and anyone may include them.
LAYERS = {
    "wire": set(),                                  # frames: parse, checksums
    "storage": {"wire"},                            # ring, SACK scoreboard, buffer pool
    "filter": {"wire"},                             # the packet-filter VM
    "pcap": {"wire"},                               # capture files
    "dev": {"wire", "pcap"},                        # ports and their middleware
    "tcp": {"wire", "storage", "dev"},              # the endpoint
    "mon": {"wire", "storage", "filter", "dev"},    # the monitor
}

IDENT = re.compile(r"[A-Za-z_]\w*")
ATTRIBUTE = re.compile(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else",
            "__attribute__", "__typeof__", "typeof", "_Static_assert", "case"}


def strip(text):
    """Source without comments, string and character literals, and
    preprocessor lines (continuations included); newlines are kept."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append("\n")
                    i += 2
                    continue
                i += 1
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j) or " ")
            i = j
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" ")
            i = j + 1
            at_line_start = False
            continue
        out.append(c)
        if c == "\n":
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        i += 1
    return "".join(out)


def top_level(text):
    """(head, body, terminator) for every top-level declaration of stripped
    text: head is what precedes '{' or ';', body the braces' content."""
    i, n = 0, len(text)
    start = 0
    while i < n:
        c = text[i]
        if c == ";":
            yield text[start:i], "", ";"
            start = i + 1
        elif c == "{":
            depth, j = 1, i + 1
            while j < n and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            head, body = text[start:i], text[i + 1:j - 1]
            # a struct/union/enum definition runs on to its ';'
            k = j
            if "(" not in head or "=" in head.split("(")[0]:
                k = text.find(";", j)
                k = n if k < 0 else k
                body += text[j:k]
            yield head, body, "{"
            start = i = k + 1 if k < n and text[k] == ";" else k
            continue
        i += 1


def definitions(text):
    """[(name, kind, static, identifiers used)] of the top-level function
    and object definitions of stripped source text."""
    out = []
    for head, body, term in top_level(text):
        head = " ".join(ATTRIBUTE.sub(" ", head).split())
        if not head or head.startswith("typedef"):
            continue
        words = IDENT.findall(head)
        static = "static" in words
        pre = head.split("=")[0]
        m = re.search(r"(\w+)\s*\($", pre.split("(")[0] + "(") if "(" in pre else None
        if term == "{" and m and "=" not in head.split("(")[0]:
            out.append((m.group(1), "function", static, set(IDENT.findall(body))))
            continue
        if "extern" in words or re.match(r"\s*(struct|union|enum)\s+\w+\s*$", head):
            continue
        # an object: the last identifier before '=', '[' or the end
        name = IDENT.findall(re.split(r"[=\[]", head)[0])
        if name and "(" not in re.split(r"[=\[]", head)[0]:
            out.append((name[-1], "object", static, set(IDENT.findall(head + " " + body))))
    return out


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def scan(core):
    """files: {relpath: uses}, owner: {symbol: relpath}, problems, and
    includes: {relpath: [header names]}; the header inline functions are
    expanded into their users."""
    sources, inline, includes = {}, {}, {}
    for dirpath, _, names in os.walk(core):
        for name in sorted(names):
            if not name.endswith((".c", ".h")) or name.startswith("_xdpmtcp_core"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, core)
            with open(path) as f:
                raw = f.read()
            includes[rel] = INCLUDE.findall(raw)
            text = strip(raw)
            if name.endswith(".h"):
                for sym, kind, static, uses in definitions(text):
                    if kind == "function" and static:
                        inline[sym] = uses
            else:
                sources[rel] = definitions(text)
    owner, problems = {}, []
    for rel, defs in sources.items():
        for sym, kind, static, _ in defs:
            if static:
                continue
            if sym in owner and owner[sym] != rel:
                problems.append("%s defined in both %s and %s" % (sym, owner[sym], rel))
            owner[sym] = rel
    files = {}
    for rel, defs in sources.items():
        local = {sym for sym, _, static, _ in defs if static}
        uses = set()
        for sym, _, _, u in defs:
            uses |= u - KEYWORDS
        # what the header inline functions it uses use, transitively
        todo, seen = [s for s in uses if s in inline and s not in local], set()
        while todo:
            s = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            for u in inline[s]:
                uses.add(u)
                if u in inline and u not in seen:
                    todo.append(u)
        files[rel] = uses - local
    return files, owner, problems, includes


def edges(files, owner):
    """{a: {b: [symbols of b that a uses]}} for a != b."""
    out = {}
    for a, uses in files.items():
        for sym in uses:
            b = owner.get(sym)
            if b and b != a:
                out.setdefault(a, {}).setdefault(b, []).append(sym)
    return out


def cycles(graph, nodes):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, {})):
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
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return comps


def a_cycle(graph, comp):
    """One closed path through a component, for the message."""
    members = set(comp)
    path, start = [comp[0]], comp[0]
    seen = {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in members)
        back = [w for w in nxt if w == start]
        if back and len(path) > 1:
            return path + [start]
        fresh = [w for w in nxt if w not in seen]
        if not fresh:
            return path + [nxt[0]]
        path.append(fresh[0])
        seen.add(fresh[0])


def folder(rel):
    return rel.split(os.sep)[0] if os.sep in rel else ""


def check(core):
    files, owner, problems, includes = scan(core)
    graph = edges(files, owner)
    for comp in cycles(graph, files):
        path = a_cycle(graph, comp)
        steps = ["%s -> %s (%s)" % (a, b, ", ".join(sorted(graph[a][b])[:3]))
                 for a, b in zip(path, path[1:])]
        problems.append("call cycle among %s:\n    %s" % (" ".join(comp), "\n    ".join(steps)))
    for a in sorted(graph):
        fa = folder(a)
        for b in sorted(graph[a]):
            fb = folder(b)
            if fa == fb:
                continue
            if fa not in LAYERS:
                problems.append("%s: folder %r is not in LAYERS" % (a, fa))
            elif fb not in LAYERS[fa]:
                problems.append("%s calls %s (%s): %s/ may call only %s" % (
                    a, b, ", ".join(sorted(graph[a][b])[:3]), fa,
                    ", ".join(sorted(x + "/" for x in LAYERS[fa])) or "itself"))
    for a in sorted(includes):
        if not folder(a):
            problems.append("%s: a core file outside the folders (docs/architecture.md)" % a)
    for a in sorted(includes):
        fa = folder(a)
        for name in includes[a]:
            fb = name.split("/")[0] if "/" in name else ""
            if fb and fb != fa and fb != "include" and fb not in LAYERS.get(fa, ()):
                problems.append("%s includes %s: %s/ may use only %s" % (
                    a, name, fa or ".", ", ".join(sorted(x + "/" for x in LAYERS.get(fa, ())))
                    or "itself"))
    return files, graph, problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--core", default=CORE, help="the C core's folder")
    ap.add_argument("--graph", action="store_true", help="print the file-level edges")
    args = ap.parse_args(argv)
    files, graph, problems = check(args.core)
    if args.graph:
        for a in sorted(graph):
            for b in sorted(graph[a]):
                print("%s -> %s: %s" % (a, b, " ".join(sorted(graph[a][b]))))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    n = sum(len(v) for v in graph.values())
    print("%d files, %d edges, no cycle, layers kept" % (len(files), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
