"""Bad input to the command line, the examples and mtcp.conf: each is
refused in one line on stderr naming the bad value, with no traceback
(issue 10, "Bad input"); bad arguments before anything opens.  The
commands run as users run them, in a child process; none of these needs
privileges."""
import os
import subprocess
import sys

import pytest

from pcapgen import pcap_file
from xdpmtcp.api.config import ConfigError, load_config, parse_config
from xdpmtcp.cli import build_parser
from xdpmtcp.lab.exampleproc import ROOT, example_argv, example_env
from xdpmtcp.mtcp_api import mtcp_destroy, mtcp_init

NO_NS = "nosuchns-xm0"


def xdpmtcp(*args, env=None):
    return subprocess.run([sys.executable, "-m", "xdpmtcp", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def example(name, *args):
    return subprocess.run(example_argv(name, *args), env=example_env(), capture_output=True,
                          text=True, timeout=60)


def assert_one_line_error(r, bad, code=2):
    """Exit code, one line on stderr, the bad value in it, no traceback."""
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert bad in lines[0], (bad, lines[0])
    return lines[0]


@pytest.fixture
def empty_pcap(tmp_path):
    path = tmp_path / "empty.pcap"
    path.write_bytes(pcap_file([]))
    return path


# --- mtcp.conf ----------------------------------------------------------------

NOT_TEXT = [
    (b"port = eth0\nrcvbuf = 8\xff\xfe\n", 2, "byte 0xff is not UTF-8"),
    ("port = eth0\n".encode("utf-16"), 1, "UTF-16"),                 # with a byte-order mark
    ("port = eth0\n".encode("utf-16-le"), 1, "NUL byte"),            # without one
    (b"\x7fELF\x02\x01\x01\x00\xd0\xd0\n", 1, "NUL byte"),           # the first bad byte counts
    (b"# mtcp.conf\nport = eth0\n\x00\x01\x02", 3, "NUL byte"),
]


@pytest.mark.parametrize("data,line,words", NOT_TEXT, ids=["binary", "utf16-bom", "utf16le", "elf", "nul"])
def test_mtcp_init_refuses_a_file_that_is_not_text(tmp_path, data, line, words):
    path = tmp_path / "mtcp.conf"
    path.write_bytes(data)
    try:
        with pytest.raises(ConfigError) as e:
            mtcp_init(str(path))
    finally:
        mtcp_destroy()
    assert e.value.lineno == line and words in str(e.value)
    assert "%s:%d: " % (path, line) in str(e.value)


@pytest.mark.parametrize("line", ["ttl = 0", "rcvbuf_max = -1", "delack_ms = inf",
                                  "ephemeral_ports = 62000", "xdp_mode = fast"])
def test_config_tunables_are_checked_like_tcp_flags(line):
    with pytest.raises(ConfigError) as e:
        parse_config("port = eth0\n%s\n" % line, "my.conf")
    assert e.value.lineno == 2 and line in str(e.value)


def test_a_text_config_still_loads(tmp_path):
    path = tmp_path / "mtcp.conf"
    path.write_bytes("# café\nport = eth0\n".encode())
    assert load_config(str(path)).ports == ["eth0"]


def test_example_reports_a_binary_config_in_one_line(tmp_path):
    path = tmp_path / "bin.conf"
    path.write_bytes(NOT_TEXT[0][0])
    assert_one_line_error(example("echo.py", "-f", path), "bin.conf:2", code=1)


# --- xdpmtcp: refused while the arguments are read ------------------------------

NETNS_VERBS = [
    ["serve", "-i", "eth0", "-p", "80"],
    ["connect", "-i", "eth0", "198.18.0.2", "80"],
    ["respond", "-i", "eth0", "-p", "80"],
    ["monitor", "--iface", "eth0"],
    ["xdp", "status", "-i", "eth0"],
    ["xdp", "detach", "-i", "eth0"],
]


@pytest.mark.parametrize("argv", NETNS_VERBS, ids=lambda a: " ".join(a[:2]))
def test_missing_netns_is_named(argv):
    line = assert_one_line_error(xdpmtcp(*argv, "--netns", NO_NS), NO_NS)
    assert "--netns" in line and "network namespace" in line


SERVE = ["serve", "-i", "eth0", "-p", "80"]
CONNECT = ["connect", "-i", "eth0", "198.18.0.2"]
RESPOND = ["respond", "-i", "eth0", "-p", "80"]
MONITOR = ["monitor", "--iface", "eth0"]

BAD_ARGUMENTS = [
    # what the issue found
    (MONITOR + ["--buf", "-1"], "'-1'"),
    (MONITOR + ["--max-flows", "-1"], "'-1'"),
    (MONITOR + ["--max-flows", "0"], "'0'"),
    (MONITOR + ["--idle-timeout", "-1"], "'-1'"),
    (SERVE + ["--tcp", "rcvbuf=-1"], "'-1'"),
    (CONNECT + ["70000"], "'70000'"),
    (["serve", "-i", "eth0", "-p", "0"], "'0'"),
    (SERVE + ["--root", "/nonexistent-xm"], "'/nonexistent-xm'"),
    (SERVE + ["--bytes", "-5"], "'-5'"),
    (SERVE + ["--duration", "-1"], "'-1'"),
    (RESPOND + ["--duration", "-1"], "'-1'"),
    # the rest of every verb's numbers and paths
    (["respond", "-i", "eth0", "-p", "65536"], "'65536'"),
    (SERVE + ["--backlog", "0"], "'0'"),
    (SERVE + ["--count", "-1"], "'-1'"),
    (SERVE + ["--duration", "nan"], "'nan'"),
    (SERVE + ["--stats-interval", "0"], "'0'"),
    (SERVE + ["--pcap", "/nonexistent-xm/x.pcap"], "'/nonexistent-xm/x.pcap'"),
    (SERVE + ["--tcp", "ttl=256"], "'256'"),
    (SERVE + ["--tcp", "ephemeral_ports=62000-61000"], "'62000-61000'"),
    (SERVE + ["--tcp", "xdp_mode=fast"], "'fast'"),
    (CONNECT + ["port"], "'port'"),
    (["connect", "-i", "eth0", "0.0.0.0", "80"], "'0.0.0.0'"),
    (["connect", "-i", "eth0", "example", "80"], "'example'"),
    (CONNECT + ["80", "--send", "GET \\x"], "GET"),
    (CONNECT + ["80", "--send", "\\u20ac"], "u20ac"),
    (CONNECT + ["80", "--send-bytes", "-1"], "'-1'"),
    (CONNECT + ["80", "--timeout", "0"], "'0'"),
    (CONNECT + ["80", "-o", "/nonexistent-xm/page"], "'/nonexistent-xm/page'"),
    (MONITOR + ["--buf", "2g"], "'2g'"),
    (MONITOR + ["--mem-max", "0"], "'0'"),
    (MONITOR + ["--max-flows", "99999999999"], "'99999999999'"),
    (MONITOR + ["--duration", "-1"], "'-1'"),
    (MONITOR + ["--idle-timeout", "inf"], "'inf'"),
    (["lab", "impair", "xm0", "--duration", "-1"], "'-1'"),
]


@pytest.mark.parametrize("argv,bad", BAD_ARGUMENTS, ids=[" ".join(a[0]) for a in BAD_ARGUMENTS])
def test_bad_argument_is_a_one_line_usage_error(argv, bad):
    line = assert_one_line_error(xdpmtcp(*argv), bad)
    assert line.startswith("xdpmtcp %s" % argv[0]) and ": error: argument " in line


def test_streams_must_be_a_directory(tmp_path, empty_pcap):
    afile = tmp_path / "afile"
    afile.write_text("kept\n")
    assert_one_line_error(xdpmtcp("monitor", "--pcap", empty_pcap, "--streams", afile), str(afile))
    assert afile.read_text() == "kept\n"


def test_streams_directory_that_cannot_be_made_is_one_line(empty_pcap):
    line = assert_one_line_error(xdpmtcp("monitor", "--pcap", empty_pcap, "--streams", "/proc/xm-x"),
                                 "/proc/xm-x", code=1)
    assert line.startswith("xdpmtcp: --streams")


def test_largest_buffer_still_runs(tmp_path, empty_pcap):
    r = xdpmtcp("monitor", "--pcap", empty_pcap, "--buf", "1021m", "--streams", tmp_path / "out")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "out" / "index.json").exists()


def test_runtime_error_stays_one_line_on_a_narrow_terminal():
    name = "xm-no-such-interface-with-a-long-name"
    env = dict(os.environ, COLUMNS="40")
    assert_one_line_error(xdpmtcp("xdp", "status", "-i", name, env=env), name, code=1)


# --- the examples -----------------------------------------------------------------

EXAMPLE_ARGUMENTS = [
    ("echo.py", ["-f", "x.conf", "--port", "70000"], "'70000'"),
    ("echo.py", ["-f", "x.conf", "--netns", NO_NS], NO_NS),
    ("epserver.py", ["-p", ".", "-f", "x.conf", "--port", "0"], "'0'"),
    ("epserver.py", ["-p", ".", "-f", "x.conf", "-N", "-1"], "'-1'"),
    ("epserver.py", ["-p", ".", "-f", "x.conf", "--backlog", "0"], "'0'"),
    ("epwget.py", ["http://198.18.0.2/", "10", "-f", "x.conf", "-c", "0"], "'0'"),
    ("epwget.py", ["http://198.18.0.2/", "10", "-f", "x.conf", "--timeout", "-1"], "'-1'"),
    ("epwget.py", ["http://198.18.0.2:99999/", "10", "-f", "x.conf"], "99999"),
    ("epwget.py", ["ftp://198.18.0.2/", "10", "-f", "x.conf"], "ftp://198.18.0.2/"),
    ("midstat.py", ["--pcap", "/nonexistent-xm.pcap"], "'/nonexistent-xm.pcap'"),
    ("midstat.py", ["--pcap", "x.pcap", "--interval", "-1"], "'-1'"),
    ("nat.py", ["--pcap", "x.pcap", "--public", "198.19.0.300"], "'198.19.0.300'"),
    ("nat.py", ["--pcap", "x.pcap", "--public", "198.19.0.1", "--ports", "20000"], "'20000'"),
    ("nat.py", ["--pcap", "x.pcap", "--public", "198.19.0.1", "--out", "/nonexistent-xm/o.pcap"],
     "'/nonexistent-xm/o.pcap'"),
    ("simple_firewall.py", ["--pcap", "x.pcap", "--rule", "REJECT port 80"], "'REJECT'"),
    ("simple_firewall.py", ["--pcap", "x.pcap", "--rules", "/nonexistent-xm.rules"],
     "'/nonexistent-xm.rules'"),
    ("simple_firewall.py", ["--iface", "eth0", "--duration", "-1"], "'-1'"),
]


@pytest.mark.parametrize("name,args,bad", EXAMPLE_ARGUMENTS,
                         ids=[" ".join([a[0]] + a[1]) for a in EXAMPLE_ARGUMENTS])
def test_example_bad_argument_is_a_one_line_usage_error(tmp_path, empty_pcap, name, args, bad):
    args = [str(empty_pcap) if a == "x.pcap" else a for a in args]
    line = assert_one_line_error(example(name, *args), bad)
    assert line.startswith("%s: error: " % name)


# --- good values still parse, to the types the commands use -------------------------

def test_good_values_parse_to_their_types(tmp_path):
    parse = build_parser().parse_args
    a = parse(SERVE + ["--root", str(tmp_path), "--bytes", "0", "--count", "3", "--duration", "0.5",
                       "--backlog", "1", "--pcap", str(tmp_path / "s.pcap")])
    assert (a.port, a.root, a.bytes, a.count, a.duration, a.backlog) == (80, str(tmp_path), 0, 3, 0.5, 1)
    a = parse(["connect", "-i", "eth0", "198.18.0.2", "65535", "--send", r"GET /\r\n\x00é",
               "--timeout", "1.5", "-o", "-"])
    assert (a.host, a.port, a.send, a.timeout, a.output) == (
        "198.18.0.2", 65535, b"GET /\r\n\x00\xc3\xa9", 1.5, "-")
    a = parse(MONITOR + ["--buf", "256k", "--mem-max", "1g", "--max-flows", "1", "--idle-timeout", "60",
                         "--streams", str(tmp_path / "new")])
    assert (a.buf, a.mem_max, a.max_flows, a.idle_timeout) == (256 << 10, 1 << 30, 1, 60.0)
