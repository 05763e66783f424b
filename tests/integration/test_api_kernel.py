"""The mTCP dialect on a real veth with XDP and AF_XDP, the Linux kernel's
TCP on the other side: contexts from mtcp.conf (one per queue: veth has
one), option effects the kernel sees (its own TCP_INFO, read with our
tcp_info layout), resets, keepalive, urgent data, epoll on kernel FINs."""
import errno
import json
import subprocess
import sys
import time

import pytest

from xdpmtcp.api.structs import tcp_info
from xdpmtcp.lab.exampleproc import write_conf
from xdpmtcp.lab.fixtures import require
from xdpmtcp.lab.probes import SYSTEM_PYTHON
from xdpmtcp.mtcp_api import *  # noqa: F403
from xdpmtcp.tcp import TcpState
from xdpmtcp.xdp.attach import attached_program

from conftest import bpf_problem

PORT = 8080


@pytest.fixture
def mctx(lab, tmp_path):
    """mtcp_init + mtcp_create_context(0) on the lab's stack interface."""
    require(bpf_problem() is None, bpf_problem() or "")
    conf = write_conf(tmp_path / "mtcp.conf", lab.stack.ifname, num_cores=2, tcp_timewait=0.5,
                      max_concurrency=1000)
    mtcp_init(conf)
    with lab.stack.enter():
        ctx = mtcp_create_context(0)
    yield ctx
    mtcp_destroy()


def peer(lab, script, *args):
    return lab.peer.popen([SYSTEM_PYTHON, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def listen(ctx, port=PORT, setup=None):
    s = mtcp_socket(ctx, AF_INET, SOCK_STREAM, 0)
    if setup:
        setup(s)
    mtcp_bind(ctx, s, ("0.0.0.0", port))
    mtcp_listen(ctx, s, 64)
    return s


def accept(ctx, lst, timeout=5.0):
    assert ctx.wait_until(lambda: ctx.table.get(lst).group.pending(), timeout)
    return mtcp_accept(ctx, lst)[0]


def test_contexts_one_per_queue_on_veth(lab, mctx):
    assert mctx.core == 0 and mctx.local_addresses() == [lab.stack.ip]
    with lab.stack.enter():
        with pytest.raises(OSError) as e:
            mtcp_create_context(1)                     # num_cores = 2, but veth has one queue
    assert e.value.errno == errno.EINVAL and "1 receive queue" in str(e.value)
    with pytest.raises(OSError) as e:
        mtcp_create_context(2)                         # beyond num_cores
    assert e.value.errno == errno.EINVAL
    with lab.stack.enter():
        with pytest.raises(OSError) as e:
            mtcp_create_context(0)
    assert e.value.errno == errno.EEXIST
    with lab.stack.enter():
        ifindex = __import__("socket").if_nametoindex(lab.stack.ifname)
        assert attached_program(ifindex).prog_id                   # XDP attached
        mtcp_destroy_context(mctx)
        assert attached_program(ifindex).prog_id == 0               # and detached by the context
    with pytest.raises(OSError) as e:
        mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0)
    assert e.value.errno == errno.EACCES


KERNEL_CLIENT_INFO = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"x" * 100000)
time.sleep(0.3)
info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
print(json.dumps({"info": info.hex()}), flush=True)
s.close()
"""


def test_rcvbuf_and_maxseg_as_the_kernel_sees_them(lab, mctx):
    def opts(s):
        mtcp_setsockopt(mctx, s, SOL_SOCKET, SO_RCVBUF, 16384)
        mtcp_setsockopt(mctx, s, IPPROTO_TCP, TCP_MAXSEG, 536)
    lst = listen(mctx, setup=opts)
    p = peer(lab, KERNEL_CLIENT_INFO, lab.stack.ip, PORT)
    srv = accept(mctx, lst)
    assert mctx.wait_until(lambda: p.poll() is not None or mctx.table.get(srv).readable() >= 16000, 5)
    out, err = p.communicate(timeout=10)
    raw = bytes.fromhex(json.loads(out)["info"])
    info = tcp_info.from_bytes(raw)                   # the kernel's bytes in our layout
    assert info.tcpi_state == 1                       # ESTABLISHED, Linux's number
    assert info.tcpi_snd_mss == 536 - 12              # our MSS option, timestamps taken out
    assert info.tcpi_snd_wscale == 0                  # 16 KiB needs no scaling
    assert info.tcpi_snd_wnd <= 16384                 # our window: the buffer we set (now full: 0)
    data_acked = info.tcpi_bytes_acked - 1            # the kernel counts the SYN too
    assert 16384 - 1460 <= data_acked <= 16384        # all it could deliver of its 100 kB
    assert mtcp_socket_ioctl(mctx, srv, FIONREAD) == data_acked
    assert mtcp_getsockopt(mctx, srv, IPPROTO_TCP, TCP_INFO).tcpi_rcv_wscale == 0


KERNEL_CLIENT_READ = r"""
import json, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"hi")
try:
    print(json.dumps({"got": s.recv(100).decode()}), flush=True)
    print(json.dumps({"got": s.recv(100).decode()}), flush=True)
except OSError as e:
    print(json.dumps({"error": type(e).__name__}), flush=True)
"""


def test_linger_zero_resets_the_kernel_peer(lab, mctx):
    lst = listen(mctx)
    p = peer(lab, KERNEL_CLIENT_READ, lab.stack.ip, PORT)
    srv = accept(mctx, lst)
    assert mctx.wait_until(lambda: mtcp_socket_ioctl(mctx, srv, FIONREAD) == 2, 3)
    mtcp_read(mctx, srv, 10)
    mtcp_write(mctx, srv, b"first")
    mctx.wait_until(lambda: mtcp_socket_ioctl(mctx, srv, SIOCOUTQ) == 0, 3)
    mtcp_setsockopt(mctx, srv, SOL_SOCKET, SO_LINGER, linger(1, 0))
    mtcp_close(mctx, srv)
    mctx.poll(0.05)
    lines = [json.loads(x) for x in p.communicate(timeout=10)[0].splitlines()]
    assert lines == [{"got": "first"}, {"error": "ConnectionResetError"}]


def test_graceful_close_gives_the_kernel_eof(lab, mctx):
    lst = listen(mctx)
    p = peer(lab, KERNEL_CLIENT_READ, lab.stack.ip, PORT)
    srv = accept(mctx, lst)
    assert mctx.wait_until(lambda: mtcp_socket_ioctl(mctx, srv, FIONREAD) == 2, 3)
    mtcp_read(mctx, srv, 10)
    mtcp_write(mctx, srv, b"bye")
    mtcp_setsockopt(mctx, srv, SOL_SOCKET, SO_LINGER, linger(1, 3))
    mtcp_close(mctx, srv)                                    # lingers until acknowledged
    lines = [json.loads(x) for x in p.communicate(timeout=10)[0].splitlines()]
    assert lines == [{"got": "bye"}, {"got": ""}]


KERNEL_IDLE = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("up", flush=True)
time.sleep(float(sys.argv[3]))
"""


def test_keepalive_probes_answered_by_the_kernel(lab, mctx):
    def keep(s):
        mtcp_setsockopt(mctx, s, SOL_SOCKET, SO_KEEPALIVE, 1)
        mtcp_setsockopt(mctx, s, IPPROTO_TCP, TCP_KEEPIDLE, 1)
        mtcp_setsockopt(mctx, s, IPPROTO_TCP, TCP_KEEPINTVL, 1)
    lst = listen(mctx, setup=keep)                        # accepted sockets inherit them
    p = peer(lab, KERNEL_IDLE, lab.stack.ip, PORT, 4)
    srv = accept(mctx, lst)
    conn = mctx.table.get(srv).conn
    assert mctx.wait_until(lambda: conn.counters()["keepalive_probes"] >= 2, 5)
    assert conn.state == TcpState.ESTABLISHED             # the kernel ACKed every probe
    assert mtcp_getsockopt(mctx, srv, SOL_SOCKET, SO_ERROR) == 0
    p.kill()


def test_rcvtimeo_with_an_idle_kernel_peer(lab, mctx):
    lst = listen(mctx)
    p = peer(lab, KERNEL_IDLE, lab.stack.ip, PORT, 3)
    srv = accept(mctx, lst)
    mtcp_socket_ioctl(mctx, srv, FIONBIO, 0)
    mtcp_setsockopt(mctx, srv, SOL_SOCKET, SO_RCVTIMEO, timeval(0, 400000))
    t0 = time.monotonic()
    with pytest.raises(BlockingIOError):
        mtcp_read(mctx, srv, 10)
    assert 0.38 <= time.monotonic() - t0 < 1.5
    p.kill()


KERNEL_URGENT = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"ab")
s.send(b"!", socket.MSG_OOB)
s.sendall(b"cd")
time.sleep(0.5)
"""


def test_urgent_data_arrives_in_band(lab, mctx):
    lst = listen(mctx, setup=lambda s: mtcp_setsockopt(mctx, s, SOL_SOCKET, SO_OOBINLINE, 1))
    p = peer(lab, KERNEL_URGENT, lab.stack.ip, PORT)
    srv = accept(mctx, lst)
    assert mctx.wait_until(lambda: mtcp_socket_ioctl(mctx, srv, FIONREAD) == 5, 3)
    assert mtcp_read(mctx, srv, 10) == b"ab!cd"
    p.kill()


def test_connect_refused_by_the_kernel(lab, mctx):
    c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0)
    ep = mtcp_epoll_create1(mctx, 0)
    mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, c, MTCP_EPOLLOUT)
    with pytest.raises(BlockingIOError):
        mtcp_connect(mctx, c, (lab.peer.ip, 9))
    (ev, _), = mtcp_epoll_wait(mctx, ep, 8, 3000)
    assert ev & MTCP_EPOLLERR
    assert mtcp_getsockopt(mctx, c, SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED


KERNEL_SERVER_FIN = r"""
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2]))); ls.listen(1); print("up", flush=True)
s, _ = ls.accept(); s.sendall(b"hello"); s.close()
"""


def test_client_epoll_sees_the_kernel_servers_data_and_fin(lab, mctx):
    p = peer(lab, KERNEL_SERVER_FIN, lab.peer.ip, 9100)
    assert p.stdout.readline().strip() == "up"
    c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0)
    ep = mtcp_epoll_create1(mctx, 0)
    mtcp_epoll_ctl(mctx, ep, MTCP_EPOLL_CTL_ADD, c, MTCP_EPOLLIN | MTCP_EPOLLRDHUP)
    with pytest.raises(BlockingIOError):
        mtcp_connect(mctx, c, (lab.peer.ip, 9100))
    got = 0
    deadline = time.monotonic() + 5
    while not got & MTCP_EPOLLRDHUP and time.monotonic() < deadline:
        for ev, _ in mtcp_epoll_wait(mctx, ep, 8, 500):
            got |= ev
    assert got & MTCP_EPOLLIN and got & MTCP_EPOLLRDHUP
    assert mtcp_read(mctx, c, 100) == b"hello" and mtcp_read(mctx, c, 100) == b""


def test_dontroute_refuses_a_routed_destination(lab, mctx):
    lab.stack.run(["ip", "route", "add", "198.19.0.0/24", "via", lab.peer.ip])
    c = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(mctx, c, SOL_SOCKET, SO_DONTROUTE, 1)
    with pytest.raises(OSError) as e:
        mtcp_connect(mctx, c, ("198.19.0.9", 80))
    assert e.value.errno == errno.ENETUNREACH
    d = mtcp_socket(mctx, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(mctx, d, ("198.19.0.9", 80))          # through the gateway: allowed


def test_reuseport_pair_serves_kernel_clients(lab, mctx):
    reuse = lambda s: mtcp_setsockopt(mctx, s, SOL_SOCKET, SO_REUSEPORT, 1)   # noqa: E731
    l1, l2 = listen(mctx, setup=reuse), listen(mctx, setup=reuse)
    from xdpmtcp.lab.probes import connect_echo
    import threading
    results = []
    t = threading.Thread(target=lambda: results.extend(
        connect_echo(lab.peer, lab.stack.ip, PORT, "") for _ in range(2)))
    t.start()
    accepted = []
    deadline = time.monotonic() + 10
    while len(accepted) < 2 and time.monotonic() < deadline:
        mctx.poll(0.01)
        for lst in (l1, l2):
            try:
                accepted.append(mtcp_accept(mctx, lst)[0])
            except BlockingIOError:
                pass
    t.join(10)
    assert len(accepted) == 2 and all(r["connected"] for r in results)


# --- a restarted client and the peer's TIME-WAIT ------------------------------------

RECONNECT = r"""
import json, sys, time
from xdpmtcp.mtcp_api import *
conf, ip, port, lport = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
mtcp_init(conf)
ctx = mtcp_create_context(0)
s = mtcp_socket(ctx, AF_INET, SOCK_STREAM, 0)
mtcp_bind(ctx, s, (sys.argv[5], lport))
t0 = time.monotonic()
try:
    mtcp_connect(ctx, s, (ip, port))
except BlockingIOError:
    pass
got = b""
while time.monotonic() - t0 < 5:
    try:
        d = mtcp_read(ctx, s, 100)
    except BlockingIOError:
        ctx.wait_until(lambda: False, 0.002)
        continue
    if not d:
        break
    got += d
elapsed = time.monotonic() - t0
stats = ctx.engines[0].c_stats()
mtcp_close(ctx, s)
ctx.wait_until(lambda: False, 0.3)   # our FIN acknowledged: the server's side is in TIME-WAIT
mtcp_destroy()
print(json.dumps({"got": got.decode(), "seconds": elapsed, "bad_ack": stats["syn_sent_bad_ack"]}))
"""

CLOSE_FIRST_SERVER = r"""
import socket, sys
l = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
for _ in range(int(sys.argv[3])):
    c, _ = l.accept()
    c.sendall(b"bye")
    c.close()                      # the server closes first: its side keeps TIME-WAIT
"""


def test_restarted_client_reuses_a_tuple_the_peer_holds_in_time_wait(lab, tmp_path):
    """Each process connects from the same port to a server that closed the
    previous connection first.  The peer takes the new SYN only if its
    sequence number or timestamp is newer than the old connection's (RFC
    6191): with a key per boot (not per process) they are, so no RST and
    no one-second SYN retransmission."""
    require(bpf_problem() is None, bpf_problem() or "")
    conf = write_conf(tmp_path / "mtcp.conf", lab.stack.ifname, tcp_timewait=0)
    rounds = 3
    srv = peer(lab, CLOSE_FIRST_SERVER, lab.peer.ip, PORT, rounds)
    try:
        assert srv.stdout.readline().strip() == "ready"
        for k in range(rounds):
            r = lab.stack.run([sys.executable, "-c", RECONNECT, str(conf), lab.peer.ip, str(PORT), "40123",
                               lab.stack.ip], check=False, timeout=60)
            assert r.returncode == 0, r.stderr
            res = json.loads(r.stdout.strip().splitlines()[-1])
            assert res["got"] == "bye", (k, res)
            assert res["bad_ack"] == 0 and res["seconds"] < 0.5, (k, res)
    finally:
        srv.kill()
