"""A bump in the wire: the inline monitor program on both interfaces of the
middle namespace takes every frame to AF_XDP; the C core forwards each
batch out of the other side.  Kernel client and server see a wire: ARP,
ping and TCP work through it, and a judge can drop what it chooses."""
import json
import subprocess
import threading
import time

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.fixtures import require
from xdpmtcp.monitor_netif import InlineNetIf
from xdpmtcp.wire import MalformedFrame, TcpFlags, parse_tcp_frame

from conftest import bpf_problem


class Pump:
    """Runs InlineNetIf.pump in a thread (the monitor namespace's work)."""

    def __init__(self, lab, filter="tcp", judge=None):
        require(bpf_problem() is None, bpf_problem() or "")
        mon = lab.host("monitor")
        self.host = mon
        with mon.enter():
            self.wire = InlineNetIf(mon.interfaces[0].ifname, mon.interfaces[1].ifname, filter)
        self.judge = judge
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            if not self.wire.pump(self.judge):
                time.sleep(0.0002)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        with self.host.enter():
            self.wire.close()


@pytest.fixture
def inline(inline_lab):
    made = []

    def make(**kw):
        p = Pump(inline_lab, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def test_wire_carries_arp_ping_and_tcp(inline_lab, inline):
    pump = inline(filter="tcp port 5001")
    client, server = inline_lab.host("client"), inline_lab.host("server")
    r = client.run(["ping", "-c", "2", "-W", "2", server.ip], check=False, timeout=20)
    assert r.returncode == 0, r.stdout
    # one direction at a time: both kernel ends send before they read
    for up, down in ((3_000_000, 0), (0, 3_000_000)):
        srv = kernel_peers.start_bulk_server(server, server.ip, 5001, down, seed=4)
        assert '"listening"' in srv.stdout.readline()
        res = kernel_peers.bulk_client(client, server.ip, 5001, up, seed=5)
        theirs = json.loads(srv.stdout.readline())
        assert res["sha256_recv"] == theirs["sha256_sent"] and res["bytes_recv"] == down
        assert theirs["sha256_recv"] == res["sha256_sent"] and theirs["bytes_recv"] == up
    fwd = pump.wire.forwarded
    assert fwd[0] > 1000 and fwd[1] > 1000
    counters = [side.program.counters() for side in (pump.wire.a, pump.wire.b)]
    assert all(c["redirected"] == c["seen"] for c in counters)      # every frame came to us


def test_judge_drops_syns_to_a_denied_port(inline_lab, inline):
    def deny_5002(ba, bb):
        keep = []
        for f in ba:
            try:
                t = parse_tcp_frame(f.data).tcp
                keep.append(0 if t.dst_port == 5002 and t.flags & TcpFlags.SYN else 1)
            except MalformedFrame:
                keep.append(1)
        return keep, None

    inline(filter="tcp", judge=deny_5002)
    client, server = inline_lab.host("client"), inline_lab.host("server")
    for port in (5001, 5002):
        server.popen(["/usr/bin/python3", "-c",
                      "import socket,sys; s=socket.create_server((sys.argv[1], int(sys.argv[2])));"
                      "c,_=s.accept(); c.sendall(c.recv(10))", server.ip, str(port)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    from xdpmtcp.lab.probes import connect_echo
    assert connect_echo(client, server.ip, 5001, "ok", 3)["reply"] == "ok"
    denied = connect_echo(client, server.ip, 5002, "no", 1.5)
    assert denied["connected"] is False and denied["error"] in ("TimeoutError", "timeout")
