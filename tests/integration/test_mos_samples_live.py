"""The mOS samples on live input, kernel TCP at both ends: midstat watching
a host's interface passively (AF_PACKET: the host's traffic goes on) and
as a bump in the wire (XDP, it forwards), each ending with a final table;
nat.py without the outside's neighbour entry says which one to add, and
with it added as said, a connection through the NAT works."""
import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from xdpmtcp.lab.probes import SYSTEM_PYTHON, tcp_transfer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
EXAMPLES = ROOT / "examples"


def rows(text):
    """(client, client state, server, server state, conn) of every table row."""
    return [tuple(l.split()[1:5]) + (" ".join(l.split()[5:]),)
            for l in text.splitlines() if l.startswith("tcp ")]


def watching(p, timeout=90):
    # generous: the XDP program is a BCC (clang) build, seconds on a loaded machine
    ready, _, _ = select.select([p.stderr], [], [], timeout)
    line = p.stderr.readline() if ready else ""
    assert "watching" in line, line + (p.stderr.read() if p.poll() is not None else "")


def test_midstat_live_on_a_hosts_interface_passively(lab):
    stack, peer = lab.host("stack"), lab.host("peer")
    p = peer.popen([sys.executable, str(EXAMPLES / "midstat.py"), "--iface", peer.ifname,
                    "--interval", "0.5", "--duration", "6"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    watching(p)
    t = tcp_transfer(stack, peer, 3_000_000, 1000, port=5001, timeout=30)
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-3000:]
    assert "At the end of the input:" in out
    mine = [r for r in rows(out) if r[0].startswith(stack.ip + ":") and
            r[2] == "%s:5001" % peer.ip]
    assert mine, out[-3000:]
    # only what the interface receives: the client's FIN, not the server's
    assert mine[-1][1:] == ("FIN_WAIT_1", "%s:5001" % peer.ip, "CLOSE_WAIT", "end of input")
    assert "%s:5001" % peer.ip in out[out.index("At the end of the input:"):]


def test_midstat_inline_forwards_and_tables_the_flow(inline_lab):
    lab = inline_lab
    mon = lab.host("monitor")
    a, b = mon.interfaces[0].ifname, mon.interfaces[1].ifname
    p = mon.popen([sys.executable, str(EXAMPLES / "midstat.py"), "--iface", a, "--inline", b,
                   "--interval", "0.5", "--duration", "8"],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    watching(p)
    client, server = lab.host("client"), lab.host("server")
    t = tcp_transfer(client, server, 2_000_000, 500_000, timeout=30)
    assert t["server"]["received_sha256"] == t["client"]["sent_sha256"]
    assert t["client"]["received_sha256"] == t["server"]["sent_sha256"]
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-3000:]
    mine = [r for r in rows(out) if r[2] == "%s:5001" % server.ip]
    assert mine, out[-3000:]
    # both directions seen: both FINs, the server's acknowledged
    assert mine[-1][1:] == ("TIME_WAIT", "%s:5001" % server.ip, "CLOSED", "fin"), mine
    final = out[out.index("At the end of the input:"):]
    assert "%s:5001" % server.ip not in final          # it ended before: shown once after


def test_nat_says_what_the_outside_needs_and_that_makes_it_work(inline_lab):
    lab = inline_lab
    mon, client, server = lab.host("monitor"), lab.host("client"), lab.host("server")
    a, b = mon.interfaces[0].ifname, mon.interfaces[1].ifname
    public = "198.18.1.100"
    p = mon.popen([sys.executable, str(EXAMPLES / "nat.py"), "--iface", a, "--inline", b,
                   "--public", public, "--duration", "14"],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    ready, _, _ = select.select([p.stdout], [], [], 90)
    assert ready and json.loads(p.stdout.readline())["ready"]
    code = ("import socket\ns=socket.socket();s.settimeout(%r)\n"
            "try:\n s.connect((%r,%d));print('connected')\n"
            "except OSError as e:\n print(type(e).__name__)\n")
    listener = server.popen([SYSTEM_PYTHON, "-c", "import socket,time\nl=socket.socket()\n"
                             "l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                             "l.bind(('%s',5001));l.listen(8);time.sleep(20)" % server.ip])
    try:
        # no neighbour entry for the public address: the SYN-ACK never leaves the server
        r = client.run([SYSTEM_PYTHON, "-c", code % (3.0, server.ip, 5001)], timeout=20)
        assert r.stdout.strip() == "TimeoutError"
        ready, _, _ = select.select([p.stderr], [], [], 10)
        hint = p.stderr.readline() if ready else ""
        m = re.search(r"on %s run 'ip neigh replace %s lladdr ([0-9a-f:]{17}) dev ITS-IF nud "
                      r"permanent'" % (re.escape(server.ip), re.escape(public)), hint)
        assert m, hint
        assert m.group(1) == client.mac
        # as it says
        server.run(["ip", "neigh", "replace", public, "lladdr", m.group(1), "dev",
                    server.ifname, "nud", "permanent"], check=True)
        r = client.run([SYSTEM_PYTHON, "-c", code % (5.0, server.ip, 5001)], timeout=20)
        assert r.stdout.strip() == "connected"
    finally:
        listener.kill()
        listener.wait()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-3000:]
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["arp_unanswered"] >= 1 and stats["translated_in"] >= 1
