"""The C core's files call one way only: tools/check_core_layers.py finds
no cycle between files and no folder calling a folder above it
(docs/architecture.md has the rule), and it does catch both."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "check_core_layers.py")


def check(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          timeout=120)


def write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_core_has_no_cycle_and_keeps_its_layers():
    run = check()
    assert run.returncode == 0, run.stderr
    assert "no cycle, layers kept" in run.stdout


def test_every_core_folder_has_a_place_in_the_layers():
    sys.path.insert(0, os.path.dirname(TOOL))
    try:
        import check_core_layers
    finally:
        sys.path.pop(0)
    core = os.path.join(ROOT, "xdpmtcp", "_core")
    folders = {d for d in os.listdir(core) if os.path.isdir(os.path.join(core, d))
               and d not in ("include", "__pycache__")}
    assert folders == set(check_core_layers.LAYERS)


def test_a_cycle_is_found_and_printed(tmp_path):
    write(tmp_path, {
        "tcp/a.c": "int tcp_b(void);\nint tcp_a(int n) { return n ? tcp_b() : 0; }\n",
        "tcp/b.c": "int tcp_c(void);\nint tcp_b(void) { return tcp_c(); }\n",
        "tcp/c.c": "/* tcp_a() in a comment is no call */\nint tcp_a(int);\n"
                   "int tcp_c(void) { return tcp_a(1); }\n",
        "tcp/d.c": "int tcp_a(int);\nint tcp_d(void) { return tcp_a(2); }\n",
    })
    run = check("--core", str(tmp_path))
    assert run.returncode == 1
    assert "call cycle among tcp/a.c tcp/b.c tcp/c.c" in run.stderr
    assert "tcp/a.c -> tcp/b.c (tcp_b)" in run.stderr
    assert "tcp/d.c" not in run.stderr          # calls into the cycle, is not in it


def test_a_call_or_include_up_the_layers_is_refused(tmp_path):
    write(tmp_path, {
        "mon/m.c": "int mon_m(void) { return 1; }\n",
        # through a header's inline function: wire/w.c calls mon_m()
        "wire/w.h": "int mon_m(void);\nstatic inline int w_inline(void) { return mon_m(); }\n",
        "wire/w.c": '#include "w.h"\nint wire_w(void) { return w_inline(); }\n',
        "dev/p.c": '#include "tcp/tcp_internal.h"\nstatic int p(void) { return 0; }\n',
        "tcp/tcp_internal.h": "\n",
    })
    run = check("--core", str(tmp_path))
    assert run.returncode == 1
    assert "wire/w.c calls mon/m.c (mon_m): wire/ may call only itself" in run.stderr
    assert "dev/p.c includes tcp/tcp_internal.h: dev/ may use only pcap/, wire/" in run.stderr


def test_a_file_outside_the_folders_is_refused(tmp_path):
    write(tmp_path, {"wire/w.c": "int wire_w(void) { return 0; }\n",
                     "loose.c": "int loose(void) { return wire_w(); }\n"})
    run = check("--core", str(tmp_path))
    assert run.returncode == 1 and "loose.c: a core file outside the folders" in run.stderr
