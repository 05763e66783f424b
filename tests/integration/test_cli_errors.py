"""Errors the command line can only meet on a live network: each is one line
on stderr and a non-zero exit, never a traceback (issue 10, "Bad input")."""
import json
import subprocess
import sys

import pytest

from xdpmtcp.lab.stackproc import ROOT

CLOSED_PORT = 9            # nothing listens there on the peer: its kernel answers RST


def connect(lab, *args):
    argv = [sys.executable, "-m", "xdpmtcp", "connect", "--netns", lab.stack.ns,
            "-i", lab.stack.ifname, lab.peer.ip, str(CLOSED_PORT), *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_connect_to_a_closed_port_says_connection_refused(lab, json_out):
    r = connect(lab, "--send", "hello", *(["--json"] if json_out else []))
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert lines == ["xdpmtcp: connect to %s:%d: connection refused" % (lab.peer.ip, CLOSED_PORT)]
    if json_out:                      # the record still says what happened on the wire
        rec = json.loads(r.stdout.splitlines()[-1])
        assert rec["error"] == "Connection refused" and rec["bytes_out"] == 0
