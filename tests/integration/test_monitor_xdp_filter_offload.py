"""The monitor's whole --filter built into its XDP program: a filter the
old port/prefix offload could not express ("not port 5001") still keeps
the excluded flow's frames in the kernel, counted in xdp_filtered, and
only what it may match reaches the monitor."""
import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from xdpmtcp.lab.probes import tcp_transfer

from test_monitor_inline import SYN_SENDER, SYSTEM_PYTHON

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def test_xdp_drops_to_the_kernel_what_a_negated_filter_excludes(lab):
    stack, peer = lab.host("stack"), lab.host("peer")
    p = peer.popen([sys.executable, "-m", "xdpmtcp", "monitor", "--iface", peer.ifname, "--json",
                    "--filter", "not port 5001", "--duration", "6", "--idle-timeout", "60"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    ready, _, _ = select.select([p.stdout], [], [], 90)
    line = p.stdout.readline() if ready else ""
    assert line and json.loads(line).get("ready"), p.stderr.read() if p.poll() is not None else line
    r = stack.run([SYSTEM_PYTHON, "-c", SYN_SENDER, stack.ip, peer.ip, "5555"])
    assert r.returncode == 0, r.stderr
    t = tcp_transfer(stack, peer, 1_000_000, 1000, port=5001, timeout=30)
    assert t["peer" if "peer" in t else "server"]["received_sha256"] == t["client"]["sent_sha256"]
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-3000:]
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    conns = [l for l in lines if l["event"] == "conn"]
    assert [(c["id.resp_p"], c["conn_state"]) for c in conns] == [(5555, "S0")]
    st = lines[-1]["input"][peer.ifname]
    # 1 MB to port 5001 is hundreds of frames, each judged and passed in XDP
    assert st["xdp_filtered"] > 300, st
    assert 3 <= st["xdp_redirected"] < 10, st
