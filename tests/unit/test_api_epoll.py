"""epoll with Linux's semantics where mTCP's differed: level- and
edge-triggered, EPOLLONESHOT, EPOLLHUP, EPOLLRDHUP on the peer's FIN,
EPOLLERR, no EPOLLIN for out-of-order-only data, EPOLLOUT not forgotten."""
import errno
import threading
import time

import pytest

from xdpmtcp.mtcp_api import *  # noqa: F403
from xdpmtcp.phy import FaultInjector
from xdpmtcp.tcp import TcpState
from xdpmtcp.tcp.loopback import MAC_A, MAC_B
from xdpmtcp.wire import TcpFlags, TcpOptions, build_tcp_frame

from api_helpers import errno_of, pair, ADDR_A, ADDR_B, PORT, ContextPair, conn_of, connected, listening


def watch(ctx, fd, events, data=None):
    ep = mtcp_epoll_create1(ctx, 0)
    mtcp_epoll_ctl(ctx, ep, MTCP_EPOLL_CTL_ADD, fd, events, data)
    return ep


def wait(ctx, ep, timeout=0, maxevents=16):
    return mtcp_epoll_wait(ctx, ep, maxevents, timeout)


def arrive(pair, ctx, fd, n):
    """Run until fd has n readable bytes."""
    assert pair.run_until(lambda: mtcp_socket_ioctl(ctx, fd, FIONREAD) >= n, 3)


# --- triggering ------------------------------------------------------------------------------------

def test_level_triggered_in_repeats_until_read(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(a, srv, MTCP_EPOLLIN)
    assert wait(a, ep) == []
    mtcp_write(b, cli, b"data")
    assert wait(a, ep, 1000) == [(MTCP_EPOLLIN, srv)]
    assert wait(a, ep) == [(MTCP_EPOLLIN, srv)]                 # still readable: again
    mtcp_read(a, srv, 100)
    assert wait(a, ep) == []


def test_edge_triggered_in_once_per_arrival(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(a, srv, MTCP_EPOLLIN | MTCP_EPOLLET)
    mtcp_write(b, cli, b"one")
    assert wait(a, ep, 1000) == [(MTCP_EPOLLIN, srv)]
    assert wait(a, ep, 100) == []                              # not read, but no new edge
    mtcp_write(b, cli, b"two")
    assert wait(a, ep, 1000) == [(MTCP_EPOLLIN, srv)]          # new data: a new edge
    assert mtcp_read(a, srv, 100) == b"onetwo"


def test_oneshot_reports_once_until_rearmed(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(a, srv, MTCP_EPOLLIN | MTCP_EPOLLONESHOT, data=77)
    mtcp_write(b, cli, b"x")
    assert wait(a, ep, 1000) == [(MTCP_EPOLLIN, 77)]
    mtcp_write(b, cli, b"y")
    arrive(pair, a, srv, 2)
    assert wait(a, ep, 100) == []                              # disabled after one report
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_MOD, srv, MTCP_EPOLLIN | MTCP_EPOLLONESHOT, 78)
    assert wait(a, ep) == [(MTCP_EPOLLIN, 78)]                 # re-armed, still readable


def test_epollout_is_not_forgotten(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_SNDBUF, 8192))
    ep = watch(b, cli, MTCP_EPOLLOUT)
    for _ in range(3):
        assert wait(b, ep) == [(MTCP_EPOLLOUT, cli)]           # level-triggered: every time
    pair.engines.port_b.add(FaultInjector.parse("drop=1,direction=rx"))   # ACKs stop
    while True:
        try:
            mtcp_write(b, cli, b"z" * 4096)
        except BlockingIOError:
            break
    assert wait(b, ep, 100) == []                              # full
    FaultInjector.uninstall(pair.engines.port_b)
    # the retransmission timer resends, the ACK frees the buffer: OUT again
    assert wait(b, ep, 3000) == [(MTCP_EPOLLOUT, cli)]


def test_edge_triggered_out_after_space_frees(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_SNDBUF, 8192))
    ep = watch(b, cli, MTCP_EPOLLOUT | MTCP_EPOLLET)
    assert wait(b, ep) == [(MTCP_EPOLLOUT, cli)]
    assert wait(b, ep) == []                                   # no edge since
    mtcp_write(b, cli, b"z" * 8192)
    assert wait(b, ep, 2000) == [(MTCP_EPOLLOUT, cli)]         # ACKs freed space: an edge


def test_maxevents_and_data(pair):
    a = pair.a
    ep = mtcp_epoll_create(a, 10)
    fds = [mtcp_socket(a, AF_INET, SOCK_STREAM, 0) for _ in range(3)]
    for k, fd in enumerate(fds):
        mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, fd, MTCP_EPOLLOUT, data=("sock", k))
    first = wait(a, ep, maxevents=2)
    second = wait(a, ep, maxevents=2)
    assert len(first) == 2 and len(second) == 2
    # unconnected sockets: EPOLLOUT and EPOLLHUP, as Linux
    assert {d for _, d in first + second} == {("sock", 0), ("sock", 1), ("sock", 2)}
    assert all(ev == MTCP_EPOLLOUT | MTCP_EPOLLHUP for ev, _ in first)


# --- hang-ups and errors -------------------------------------------------------------------------------

def test_rdhup_on_peer_fin(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(a, srv, MTCP_EPOLLIN | MTCP_EPOLLRDHUP)
    mtcp_write(b, cli, b"bye")
    mtcp_close(b, cli)
    assert pair.run_until(lambda: conn_of(a, srv).state == TcpState.CLOSE_WAIT, 3)
    assert wait(a, ep) == [(MTCP_EPOLLIN | MTCP_EPOLLRDHUP, srv)]
    assert mtcp_read(a, srv, 10) == b"bye" and mtcp_read(a, srv, 10) == b""
    ep2 = watch(a, srv, MTCP_EPOLLIN)                          # RDHUP only when asked
    assert wait(a, ep2) == [(MTCP_EPOLLIN, srv)]


def test_hup_when_both_directions_are_shut(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(a, srv, MTCP_EPOLLIN | MTCP_EPOLLOUT)
    mtcp_close(b, cli)
    assert pair.run_until(lambda: conn_of(a, srv).state == TcpState.CLOSE_WAIT, 3)
    assert wait(a, ep) == [(MTCP_EPOLLIN | MTCP_EPOLLOUT, srv)]   # half-closed: no HUP yet
    a.table.get(srv).shutdown(1)                                   # SHUT_WR
    evs = wait(a, ep)
    assert evs and evs[0][0] & MTCP_EPOLLHUP


def test_err_and_hup_on_reset_even_if_not_asked(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(b, cli, MTCP_EPOLLIN)
    mtcp_abort(a, srv)
    assert pair.run_until(lambda: conn_of(b, cli).state == TcpState.CLOSED, 3)
    ev = wait(b, ep)[0][0]
    assert ev & MTCP_EPOLLERR and ev & MTCP_EPOLLHUP and ev & MTCP_EPOLLIN
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_ERROR) == errno.ECONNRESET
    ev = wait(b, ep)[0][0]
    assert not ev & MTCP_EPOLLERR and ev & MTCP_EPOLLHUP        # error read: ERR gone, HUP stays


def test_refused_connect_wakes_the_waiter_with_err(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    ep = watch(b, c, MTCP_EPOLLOUT)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, 9))
    assert wait(b, ep) == []                                   # connecting: nothing yet
    (ev, _), = wait(b, ep, 2000)
    assert ev & MTCP_EPOLLERR and ev & MTCP_EPOLLOUT
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED


def test_connect_completion_is_epollout(pair):
    a, b = pair.a, pair.b
    listening(a)
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    ep = watch(b, c, MTCP_EPOLLOUT | MTCP_EPOLLET)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert wait(b, ep, 2000) == [(MTCP_EPOLLOUT, c)]
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_ERROR) == 0


def test_listener_is_readable_with_a_pending_connection(pair):
    a, b = pair.a, pair.b
    lst = listening(a)
    ep = watch(a, lst, MTCP_EPOLLIN)
    assert wait(a, ep) == []
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert wait(a, ep, 2000) == [(MTCP_EPOLLIN, lst)]
    mtcp_accept(a, lst)
    assert wait(a, ep) == []


# --- out-of-order data ------------------------------------------------------------------------------------

def test_no_epollin_for_out_of_order_only_data(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    ep = watch(a, srv, MTCP_EPOLLIN)
    server = conn_of(a, srv).c_info()
    client = conn_of(b, cli)
    ts = ((server.ts_recent + 1) & 0xffffffff, 0) if server.flags & 0x2 else None   # PAWS-valid

    def segment(offset, payload):
        return build_tcp_frame(MAC_B, MAC_A, ADDR_B, ADDR_A, client.local[1], PORT,
                               (server.rcv_nxt + offset) & 0xffffffff, server.snd_nxt,
                               TcpFlags.ACK | TcpFlags.PSH, 1000,
                               options=TcpOptions(timestamp=ts) if ts else None, payload=payload)
    pair.engines.port_b.tx([segment(100, b"L" * 100)])        # a hole of 100 bytes before it
    assert pair.run_until(lambda: conn_of(a, srv).counters()["ooo_segs_in"] == 1, 2)
    assert wait(a, ep, 200) == []                              # nothing readable in order
    assert mtcp_socket_ioctl(a, srv, FIONREAD) == 0
    pair.engines.port_b.tx([segment(0, b"F" * 100)])          # the hole filled
    assert wait(a, ep, 2000) == [(MTCP_EPOLLIN, srv)]
    assert mtcp_read(a, srv, 1000) == b"F" * 100 + b"L" * 100


# --- errors of the calls ------------------------------------------------------------------------------

def test_ctl_errors(pair):
    a = pair.a
    ep = mtcp_epoll_create1(a, 0)
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, s, MTCP_EPOLLIN)
    cases = [(lambda: mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, s, MTCP_EPOLLIN), errno.EEXIST),
             (lambda: mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_MOD, 42, MTCP_EPOLLIN), errno.EBADF),
             (lambda: mtcp_epoll_ctl(a, ep, 9, s, MTCP_EPOLLIN), errno.EINVAL),
             (lambda: mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, ep, MTCP_EPOLLIN), errno.EINVAL),
             (lambda: mtcp_epoll_ctl(a, s, MTCP_EPOLL_CTL_ADD, s, MTCP_EPOLLIN), errno.EINVAL),
             (lambda: mtcp_epoll_ctl(a, 55, MTCP_EPOLL_CTL_ADD, s, MTCP_EPOLLIN), errno.EBADF),
             (lambda: mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, mtcp_epoll_create(a, 1), 1), errno.EINVAL),
             (lambda: mtcp_epoll_create(a, 0), errno.EINVAL),
             (lambda: mtcp_epoll_create1(a, 1), errno.EINVAL),
             (lambda: mtcp_epoll_wait(a, ep, 0, 0), errno.EINVAL),
             (lambda: mtcp_epoll_wait(a, s, 1, 0), errno.EINVAL),
             (lambda: mtcp_epoll_wait(None, ep, 1, 0), errno.EACCES)]
    for call, code in cases:
        with pytest.raises(OSError) as e:
            call()
        assert errno_of(e) == code
    t = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    for op in (MTCP_EPOLL_CTL_MOD, MTCP_EPOLL_CTL_DEL):
        with pytest.raises(OSError) as e:
            mtcp_epoll_ctl(a, ep, op, t, MTCP_EPOLLIN)
        assert errno_of(e) == errno.ENOENT
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_DEL, s)
    assert wait(a, ep) == []
    assert mtcp_epoll_create1(a, EPOLL_CLOEXEC) >= 0


def test_closed_descriptors_leave_the_epoll(pair):
    a = pair.a
    ep = mtcp_epoll_create1(a, 0)
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, s, MTCP_EPOLLOUT)
    mtcp_close(a, s)
    assert wait(a, ep) == []
    s2 = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)               # same number, new socket
    assert s2 == s
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, s2, MTCP_EPOLLOUT)
    assert len(wait(a, ep)) == 1
    mtcp_close(a, ep)
    assert not a.table.get(s2).watchers


def test_wait_timeouts(pair):
    a = pair.a
    ep = mtcp_epoll_create1(a, 0)
    t0 = time.monotonic()
    assert wait(a, ep, 0) == []
    assert time.monotonic() - t0 < 0.1
    t0 = time.monotonic()
    assert wait(a, ep, 150) == []
    assert 0.14 <= time.monotonic() - t0 < 0.5


# --- pipes ---------------------------------------------------------------------------------------------

def test_pipe_readiness(pair):
    a = pair.a
    r, w = mtcp_pipe(a)
    ep = mtcp_epoll_create1(a, 0)
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, r, MTCP_EPOLLIN)
    mtcp_epoll_ctl(a, ep, MTCP_EPOLL_CTL_ADD, w, MTCP_EPOLLOUT)
    assert wait(a, ep) == [(MTCP_EPOLLOUT, w)]
    mtcp_write(a, w, b"wake")
    assert sorted(wait(a, ep)) == sorted([(MTCP_EPOLLOUT, w), (MTCP_EPOLLIN, r)])
    mtcp_read(a, r, 10)
    mtcp_close(a, w)
    assert wait(a, ep) == [(MTCP_EPOLLHUP, r)]


def test_pipe_written_from_another_thread_wakes_epoll_wait(pair):
    a = pair.a
    r, w = mtcp_pipe(a)
    ep = watch(a, r, MTCP_EPOLLIN)
    t = threading.Timer(0.2, lambda: mtcp_write(a, w, b"!"))
    t0 = time.monotonic()
    t.start()
    assert wait(a, ep, 5000) == [(MTCP_EPOLLIN, r)]
    assert time.monotonic() - t0 < 1.0
    t.join()
    assert mtcp_read(a, r, 10) == b"!"


def test_rcvlowat_gates_epollin(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVLOWAT, 10)
    ep = watch(a, srv, MTCP_EPOLLIN)
    mtcp_write(b, cli, b"12345")
    arrive(pair, a, srv, 5)
    assert wait(a, ep, 100) == []
    mtcp_write(b, cli, b"67890")
    assert wait(a, ep, 2000) == [(MTCP_EPOLLIN, srv)]
