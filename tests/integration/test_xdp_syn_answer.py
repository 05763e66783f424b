"""SYNs answered in XDP (bpf/xdp_syn_answer.h) with the kernel's TCP as the
client: its handshakes complete on cookie SYN-ACKs the steering program
built (so their checksums and options are right) and the C listener takes
the cookies; the kernel's own port, ICMP and ARP on the same address are
untouched; and on a veth whose peer end runs no XDP program (where XDP_TX
frames are dropped) answering turns itself off and clients are served by
the listener.  Floods against it: test_floods.py, tools/bench/floods.py."""
import tempfile

import pytest
from conftest import bpf_problem

from xdpmtcp.lab import floods
from xdpmtcp.lab.fixtures import require
from xdpmtcp.lab.stackproc import StackProcess

PORT, KERNEL_PORT = 8080, 8081
RATE, SECONDS = 10, 2          # 20 clients, one connection each


@pytest.fixture
def site():
    return floods.write_site(tempfile.mkdtemp(prefix="xm-synanswer-"))


def serve(lab, site, *tcp):
    require(bpf_problem() is None, bpf_problem() or "")
    args = sum((["--tcp", kv] for kv in tcp), [])
    return StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "http", "--root", site, *args)


def clients(lab, port):
    return floods.flood_phase(lab, port, "none", SECONDS, RATE, flood=False)


def test_every_syn_answered_in_xdp_and_the_listener_takes_the_cookies(lab, site):
    floods.peer_takes_xdp_tx(lab)
    kernel = floods.start_kernel_http(lab.stack, site, KERNEL_PORT)
    try:
        with serve(lab, site, "xdp_syn_rate=0") as sp:
            sp.wait_event("ready")
            stack = clients(lab, PORT)
            beside = clients(lab, KERNEL_PORT)
            ping = lab.peer.run(["ping", "-c", "2", "-W", "2", lab.stack.ip], check=False)
            assert sp.stop() == 0, sp.output()
            ev = sp.wait_event("engine", timeout=10)
    finally:
        kernel.kill()
    assert stack["ok"] == stack["sent"] > 0, stack
    assert beside["ok"] == beside["sent"] > 0, beside       # the kernel's port on the same address
    assert ping.returncode == 0, ping.stdout                 # ICMP (and ARP before it): the kernel's
    xdp, lst = ev["xdp"], ev["listener"]
    assert xdp["syn_cookies"] >= stack["sent"] and xdp["syn_answer_stopped"] == 0, xdp
    assert lst["syns"] == 0, lst                             # no SYN reached the C listener
    assert lst["cookies_accepted"] == lst["established"] == stack["sent"], lst
    assert ev["c"]["malformed"] == 0 and ev["port"]["rx_bad_tcp_csum"] == 0, ev


def test_syns_within_the_budget_get_the_full_handshake(lab, site):
    floods.peer_takes_xdp_tx(lab)
    with serve(lab, site) as sp:
        sp.wait_event("ready")
        res = clients(lab, PORT)
        assert sp.stop() == 0, sp.output()
        ev = sp.wait_event("engine", timeout=10)
    assert res["ok"] == res["sent"] > 0, res
    assert ev["xdp"]["syn_cookies"] == 0, ev["xdp"]
    assert ev["listener"]["synacks"] == ev["listener"]["established"] == res["sent"], ev["listener"]


def test_answering_stops_where_xdp_tx_frames_are_dropped(lab, site):
    # no XDP program on the peer's end: the veth drops what XDP_TX sends
    with serve(lab, site, "xdp_syn_rate=0") as sp:
        sp.wait_event("ready")
        res = clients(lab, PORT)
        assert sp.stop() == 0, sp.output()
        ev = sp.wait_event("engine", timeout=10)
    assert res["ok"] == res["sent"] > 0, res                 # the first by its SYN retransmission
    assert ev["xdp"]["syn_answer_stopped"] == 1, ev["xdp"]
    assert ev["listener"]["syns"] >= 1, ev["listener"]
