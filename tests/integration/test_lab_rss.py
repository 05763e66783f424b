"""The multi-queue lab: the peer's kernel TCP frames land on the stack's RX
queue that RSS (RssMap with the lab's key) predicts, as on a NIC, in both
directions (the peer connecting, and the peer answering a connection the
stack's end opened: the active-open case per-queue contexts rely on)."""
import contextlib
import ctypes as ct
import socket
import threading

import pytest

from xdpmtcp.lab import Lab
from xdpmtcp.lab import rss as lab_rss
from xdpmtcp.lab.fixtures import require
from xdpmtcp.kernel.channels import channels
from xdpmtcp.kernel.rss import read_rss, rss_map
from xdpmtcp.tcp.rss import MICROSOFT_KEY, RssMap

pytestmark = pytest.mark.integration

# per (rx queue, TCP source port, TCP destination port): frames received
COUNTER = rb"""
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/tcp.h>
struct key_t { u32 queue; u16 sport; u16 dport; };
BPF_HASH(seen, struct key_t, u64, 16384);
int count_queues(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl != 5)
        return XDP_PASS;
    struct tcphdr *tcp = (void *)(ip + 1);
    if ((void *)(tcp + 1) > end)
        return XDP_PASS;
    struct key_t k = {ctx->rx_queue_index, ntohs(tcp->source), ntohs(tcp->dest)};
    seen.increment(k);
    return XDP_PASS;
}
"""
XDP_FLAGS = {"native": 1 << 2, "skb": 1 << 1}   # XDP_FLAGS_DRV_MODE, _SKB_MODE


def _bcc():
    try:
        from bcc import BPF
    except ImportError:
        require(False, "BCC (python3-bpfcc) is not importable")
    from xdpmtcp.xdp.bcc_env import kernel_headers_note
    kernel_headers_note()
    return BPF


@contextlib.contextmanager
def queue_counter(lab, mode):
    """A counting XDP program (XDP_PASS) on the stack's end; yields a
    function returning {(sport, dport): {queue: frames}}."""
    BPF = _bcc()
    b = BPF(text=COUNTER, cflags=["-w"])
    fn = b.load_func(b"count_queues", BPF.XDP)
    with lab.stack.enter():
        b.attach_xdp(lab.stack.ifname.encode(), fn, XDP_FLAGS[mode])

    def read():
        out = {}
        for k, v in b[b"seen"].items():
            out.setdefault((k.sport, k.dport), {})[k.queue] = int(v.value)
        return out
    try:
        yield read
    finally:
        with lab.stack.enter():
            b.remove_xdp(lab.stack.ifname.encode(), XDP_FLAGS[mode])
        b.cleanup()


def _listener(host, port):
    with host.enter():
        srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host.ip, port))
    srv.listen(128)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            with c:
                c.settimeout(2)
                with contextlib.suppress(OSError):
                    while c.recv(4096):
                        pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, stop, t


def _connect_from(host, local_ports, dst, dport):
    """One short connection per local port from host's kernel: connect,
    send, close; every one must complete."""
    for p in local_ports:
        with host.enter():
            s = socket.socket()
        with s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host.ip, p))
            s.settimeout(5)
            s.connect((dst, dport))
            s.sendall(b"q" * 3000)
            s.shutdown(socket.SHUT_WR)
            s.recv(10)                 # the server's FIN: the flow's last frames are in


def _assert_landed_as_predicted(seen, rss, flows, nqueues):
    """flows: [(src ip, dst ip, sport, dport)] as the stack's end receives
    them; every frame of each flow on the predicted queue."""
    used = set()
    for src, dst, sport, dport in flows:
        want = rss.queue_of(src, dst, sport, dport)
        got = seen.get((sport, dport))
        assert got, "no frames of %s:%d -> %s:%d reached the stack's end" % (src, sport, dst, dport)
        assert set(got) == {want}, "%s:%d -> %s:%d: frames per queue %s, RSS predicts queue %d" % (
            src, sport, dst, dport, got, want)
        assert sum(got.values()) >= 3          # SYN or SYN-ACK, data, FIN at least
        used.add(want)
    assert used == set(range(nqueues)), "flows used queues %s only" % sorted(used)


def _run_flows(lab, peer_ports, stack_ports):
    """Kernel connections both ways across the lab, counted per RX queue
    at the stack's end (native XDP: the mode xdp_mode=auto takes on veth;
    in skb mode veth records no RX queue, every frame shows queue 0)."""
    stack, peer = lab.stack, lab.peer
    srv, stop, t = _listener(stack, 9000)
    psrv, pstop, pt = _listener(peer, 9001)
    try:
        with queue_counter(lab, "native") as read:
            _connect_from(peer, peer_ports, stack.ip, 9000)      # the peer opens
            _connect_from(stack, stack_ports, peer.ip, 9001)     # the stack's end opens
            return read()
    finally:
        for s_, st, th in ((srv, stop, t), (psrv, pstop, pt)):
            st.set()
            th.join(5)
            s_.close()


def _check_lab(lab, nflows):
    with lab.stack.enter():
        rss = rss_map(lab.stack.ifname, lab.rss_key)  # what the stack computes with the tunable
    peer_ports = list(range(40000, 40000 + nflows))
    stack_ports = list(range(50000, 50000 + nflows))
    seen = _run_flows(lab, peer_ports, stack_ports)
    ip_s, ip_p = lab.stack.ip, lab.peer.ip
    _assert_landed_as_predicted(seen, rss, [(ip_p, ip_s, p, 9000) for p in peer_ports], lab.queues)
    _assert_landed_as_predicted(seen, rss, [(ip_p, ip_s, 9001, p) for p in stack_ports], lab.queues)
    return rss


def test_two_queue_lab_lands_flows_on_the_rss_queue(lab_factory):
    lab = lab_factory(queues=2)
    assert lab.queues == 2 and lab.rss_key == MICROSOFT_KEY.hex()
    with lab.stack.enter():
        assert channels(lab.stack.ifname)["rx_queues"] == 2    # what rx_queue_count() counts
        assert read_rss(lab.stack.ifname) is None              # veth: no RSS of its own
    assert lab_rss.attached(lab.peer.ns, lab.peer.ifname)
    rss = _check_lab(lab, 40)
    assert rss.queues == 2 and rss.indir == RssMap.default(MICROSOFT_KEY, 2).indir
    assert lab.rss_emulator.counters()["steered"] >= 80 * 3


def test_four_queue_lab_lands_flows_on_the_rss_queue(lab_factory):
    _check_lab(lab_factory(queues=4), 40)


def test_emulator_outlives_the_process_that_made_the_lab(tmp_path):
    """As `xdpmtcp lab up` does: the lab is made by a process that exits;
    tc keeps the emulator attached and steering, destroy removes it all."""
    from xdpmtcp.lab.fixtures import require_netns
    require_netns()
    import os
    import subprocess
    import sys
    code = ("from xdpmtcp.lab import Lab; "
            "print(Lab.create(prefix='xmrss', queues=2, auto_destroy=False).name)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ)).stdout
    lab = Lab.load(out.split()[-1])
    try:
        assert lab.queues == 2 and lab.rss_emulator is None
        assert lab_rss.attached(lab.peer.ns, lab.peer.ifname)
        _check_lab(lab, 16)
    finally:
        lab.destroy()
    assert not lab_rss.attached(lab.peer.ns, lab.peer.ifname)


def test_one_queue_lab_has_no_emulator(lab_factory):
    lab = lab_factory()
    assert lab.queues == 1 and lab.rss_key is None and lab.rss_emulator is None
    assert not lab_rss.attached(lab.peer.ns, lab.peer.ifname)
    with lab.stack.enter():
        assert channels(lab.stack.ifname)["rx_queues"] == 1
    loaded = Lab.load(lab.name)
    assert loaded.queues == 1 and loaded.rss_key is None


def test_queues_and_key_persist_in_the_record(lab_factory):
    lab = lab_factory(queues=3)
    loaded = Lab.load(lab.name)
    assert loaded.queues == 3 and loaded.rss_key == MICROSOFT_KEY.hex()
    with lab.peer.enter():
        assert channels(lab.peer.ifname)["rx_queues"] == 3


def test_bad_queue_count_is_refused(lab_factory):
    from xdpmtcp.lab import LabError
    with pytest.raises(LabError, match="queues=0"):
        lab_factory(queues=0)


def test_status_shows_the_rss_row_of_a_live_context(lab_factory):
    """`xdpmtcp status` on a context in the two-queue lab: veth gives no RSS
    to read, and the row says the rss_key tunable sets it."""
    import json
    import re
    import subprocess
    import sys
    from xdpmtcp.lab.stackproc import ROOT, StackProcess
    lab = lab_factory(queues=2)

    def status(*args):
        r = subprocess.run([sys.executable, "-m", "xdpmtcp", "status", *args], cwd=ROOT,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout
    with StackProcess(lab.stack, "serve", "-p", "8091") as srv:
        srv.wait_event("ready")
        meta = json.loads(status("--json", "-p", str(srv.proc.pid)).splitlines()[0])
        text = status("-p", str(srv.proc.pid))
    itf = meta["interfaces"][0]
    assert itf["channels"]["rx_queues"] == 2
    assert itf["rss"] == {"readable": False}
    assert re.search(r"RSS\s+not readable \(veth / driver\): rss_key tunable sets it", text), text
