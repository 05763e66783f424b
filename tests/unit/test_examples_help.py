"""Every example teaches with --help and refuses bad arguments clearly
(no privileges needed: nothing is opened before the arguments are read)."""
import subprocess
import sys

import pytest

from xdpmtcp.lab.exampleproc import example_argv, example_env


def run(name, *args):
    return subprocess.run(example_argv(name, *args), env=example_env(), capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("name,words", [
    ("epserver.py", ["-p ROOT", "-f CONF", "-N CORES", "--port", "mtcp.conf", "examples:", "SIGTERM"]),
    ("epwget.py", ["URL", "NREQ", "-c CONCURRENCY", "-N CORES", "-f CONF", "--keep-alive",
                   "requests/s", "tcp_timewait = 0"]),
    ("echo.py", ["-f CONF", "--port", "examples:", "SIGTERM"]),
])
def test_help_teaches(name, words):
    r = run(name, "--help")
    assert r.returncode == 0, r.stderr
    for w in words:
        assert w in r.stdout, (name, w)


@pytest.mark.parametrize("name,args,words", [
    ("epserver.py", ["-f", "x.conf"], "-p"),
    ("epserver.py", ["-p", "/nonexistent-dir", "-f", "x.conf"], "not a directory"),
    ("epwget.py", ["http://198.18.0.2/", "0", "-f", "x.conf"], "must be positive"),
    ("epwget.py", ["http://198.18.0.2/", "10"], "-f"),
    ("echo.py", [], "-f"),
])
def test_bad_arguments(name, args, words):
    r = run(name, *args)
    assert r.returncode == 2 and words in r.stderr, r.stderr


def test_missing_config_is_reported(tmp_path):
    r = run("epserver.py", "-p", str(tmp_path), "-f", str(tmp_path / "none.conf"))
    assert r.returncode == 1 and "none.conf" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.conf"
    bad.write_text("port = eth9\nbogus = 1\n")
    r = run("epwget.py", "http://198.18.0.2/", "1", "-f", str(bad))
    assert r.returncode == 1 and "bad.conf:2" in r.stderr and "bogus" in r.stderr
