"""The monitor's XDP program: the filter, compiled into it as C, takes
exactly the TCP frames it selects to the AF_XDP socket; the kernel keeps
the rest (and keeps answering them)."""
import socket

import pytest

from xdpmtcp.lab.probes import connect_echo, send_raw
from xdpmtcp.phy import Burst, Port
from xdpmtcp.wire import TcpFlags, build_tcp_frame
from xdpmtcp.xdp import AttachGuard, MonitorProgram, attached_program

from conftest import bpf_problem


@pytest.fixture
def monitor(lab):
    from xdpmtcp.lab.fixtures import require
    problem = bpf_problem()
    require(problem is None, problem or "")
    made = []

    def make(expr):
        with lab.stack.enter():
            prog = MonitorProgram(expr)
            guard = AttachGuard(prog, lab.stack.ifname).attach()
            port = Port.open_xsk(lab.stack.ifname, 0)
            prog.bind_socket(0, port.fd)
        made.append((prog, guard, port))
        return prog, port

    yield make
    with lab.stack.enter():
        for prog, guard, port in made:
            prog.unbind_socket(0)
            port.close()
            guard.detach()
            prog.close()


def syn(lab, sport, dport, src=None):
    return build_tcp_frame(lab.peer.mac, lab.stack.mac, src or lab.peer.ip, lab.stack.ip,
                           sport, dport, 1000, 0, TcpFlags.SYN, 64240)


def take(port):
    b = Burst(64)
    port.rx(b)
    return list(b)


def test_filter_selects_frames_in_xdp(lab, monitor):
    prog, port = monitor("tcp dst port 9000 and src net 198.18.0.0/24")
    frames = [syn(lab, 40000, 9000), syn(lab, 40001, 9001), syn(lab, 40002, 9000, src="198.18.5.5")]
    send_raw(lab.peer, frames)
    got = take(port)
    assert [f.data for f in got] == [frames[0]]
    assert got[0].seg_class == 1 and got[0].flow_hash != 0          # meta written in XDP
    c = prog.counters()
    assert c["redirected"] == 1 and c["passed"] >= 2


def test_kernel_keeps_what_the_filter_leaves(lab, monitor):
    with lab.stack.enter():
        srv = socket.create_server((lab.stack.ip, 9001))
    try:
        prog, port = monitor("port 9000")
        import threading
        def answer():
            c, _ = srv.accept()
            c.sendall(c.recv(100))
            c.close()
        t = threading.Thread(target=answer, daemon=True)
        t.start()
        assert connect_echo(lab.peer, lab.stack.ip, 9001, "still the kernel's")["reply"] == \
            "still the kernel's"
        t.join(5)
        assert take(port) == [] and prog.counters()["redirected"] == 0
    finally:
        srv.close()


def test_monitor_program_is_ours_when_stale(lab, monitor):
    prog, port = monitor("tcp")
    with lab.stack.enter():
        cur = attached_program(socket.if_nametoindex(lab.stack.ifname))
    assert cur.name == "xdpmtcp_monitor" and cur.prog_id == prog.prog_id
