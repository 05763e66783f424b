"""The mTCP dialect's socket calls over two contexts joined in memory:
creation and its errnos (mtcp_socket.3), bind/listen/accept/connect,
reads and writes, names, ioctls, pipes, close and abort, init_rss."""
import errno
import os

import pytest

from xdpmtcp.api.context import Context
from xdpmtcp.mtcp_api import *  # noqa: F403
from xdpmtcp.tcp import TcpState

from api_helpers import errno_of, pair, ADDR_A, ADDR_B, PORT, ContextPair, conn_of, connected, listening


# --- mtcp_socket.3 -------------------------------------------------------------------------

def test_socket_returns_small_descriptors_lowest_first(pair):
    a = pair.a
    fds = [mtcp_socket(a, AF_INET, SOCK_STREAM, 0) for _ in range(3)]
    assert fds == [0, 1, 2]
    mtcp_close(a, 1)
    assert mtcp_socket(a, AF_INET, SOCK_STREAM, 0) == 1


def test_socket_eafnosupport_for_another_domain(pair):
    with pytest.raises(OSError) as e:
        mtcp_socket(pair.a, 10, SOCK_STREAM, 0)             # AF_INET6
    assert errno_of(e) == errno.EAFNOSUPPORT


def test_socket_einval_for_another_type(pair):
    with pytest.raises(OSError) as e:
        mtcp_socket(pair.a, AF_INET, 2, 0)                  # SOCK_DGRAM
    assert errno_of(e) == errno.EINVAL


def test_socket_protocol_must_be_tcp(pair):
    assert mtcp_socket(pair.a, AF_INET, SOCK_STREAM, IPPROTO_TCP) >= 0
    with pytest.raises(OSError) as e:
        mtcp_socket(pair.a, AF_INET, SOCK_STREAM, 17)
    assert errno_of(e) == errno.EPROTONOSUPPORT


def test_socket_enfile_when_the_pool_is_exhausted():
    with ContextPair(max_concurrency=4) as p:
        fds = [mtcp_socket(p.a, AF_INET, SOCK_STREAM, 0) for _ in range(4)]
        with pytest.raises(OSError) as e:
            mtcp_socket(p.a, AF_INET, SOCK_STREAM, 0)
        assert errno_of(e) == errno.ENFILE
        mtcp_close(p.a, fds[2])                            # a freed descriptor is usable again
        assert mtcp_socket(p.a, AF_INET, SOCK_STREAM, 0) == fds[2]
        # epolls and pipes come from the same pool
        with pytest.raises(OSError) as e:
            mtcp_epoll_create1(p.a, 0)
        assert errno_of(e) == errno.ENFILE


def test_socket_is_nonblocking_by_default(pair):
    lst, srv, cli = connected(pair)
    with pytest.raises(BlockingIOError):
        mtcp_read(pair.a, srv, 100)                          # nothing there: EAGAIN, no wait
    with pytest.raises(BlockingIOError):
        mtcp_accept(pair.a, lst)


def test_every_call_checks_the_context(pair):
    dead = ContextPair()
    s = mtcp_socket(dead.a, AF_INET, SOCK_STREAM, 0)
    dead.close()
    for bad in (None, "ctx", dead.a):
        with pytest.raises(OSError) as e:
            mtcp_socket(bad, AF_INET, SOCK_STREAM, 0)
        assert errno_of(e) == errno.EACCES
        with pytest.raises(OSError) as e:
            mtcp_getsockopt(bad, s, SOL_SOCKET, SO_ERROR)
        assert errno_of(e) == errno.EACCES


def test_descriptors_belong_to_their_context(pair):
    s = mtcp_socket(pair.a, AF_INET, SOCK_STREAM, 0)
    assert s not in pair.b.table.items
    for call in (lambda: mtcp_bind(pair.b, s, ("0.0.0.0", 1)), lambda: mtcp_read(pair.b, s, 1),
                 lambda: mtcp_close(pair.b, s), lambda: mtcp_close(pair.a, 99),
                 lambda: mtcp_close(pair.a, -1), lambda: mtcp_read(pair.a, "x", 1)):
        with pytest.raises(OSError) as e:
            call()
        assert errno_of(e) == errno.EBADF


def test_enotsock_for_epoll_and_pipe_descriptors(pair):
    a = pair.a
    ep = mtcp_epoll_create(a, 1)
    r, w = mtcp_pipe(a)
    for fd in (ep, r, w):
        for call in (lambda: mtcp_bind(a, fd, ("0.0.0.0", 1)), lambda: mtcp_listen(a, fd, 1),
                     lambda: mtcp_connect(a, fd, (ADDR_B, 1)), lambda: mtcp_accept(a, fd),
                     lambda: mtcp_getsockname(a, fd), lambda: mtcp_abort(a, fd)):
            with pytest.raises(OSError) as e:
                call()
            assert errno_of(e) == errno.ENOTSOCK
    with pytest.raises(OSError) as e:
        mtcp_read(a, ep, 1)
    assert errno_of(e) == errno.ENOTSOCK


# --- bind, listen, accept, connect ----------------------------------------------------------------

def test_bind_errors(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    for bad, code in ((("198.18.0.1",), errno.EINVAL), (("300.1.1.1", 80), errno.EINVAL),
                      (("::1", 80), errno.EAFNOSUPPORT), ((ADDR_A, 70000), errno.EINVAL),
                      (("10.9.9.9", 80), errno.EADDRNOTAVAIL)):
        with pytest.raises(OSError) as e:
            mtcp_bind(a, s, bad)
        assert errno_of(e) == code, bad
    mtcp_bind(a, s, (ADDR_A, 80))
    with pytest.raises(OSError) as e:
        mtcp_bind(a, s, (ADDR_A, 81))                        # bound once
    assert errno_of(e) == errno.EINVAL
    t = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(OSError) as e:
        mtcp_bind(a, t, ("0.0.0.0", 80))                     # the wildcard overlaps
    assert errno_of(e) == errno.EADDRINUSE


def test_bind_port_zero_takes_a_port(pair):
    s = mtcp_socket(pair.a, AF_INET, SOCK_STREAM, 0)
    mtcp_bind(pair.a, s, ("0.0.0.0", 0))
    ip, port = mtcp_getsockname(pair.a, s)
    assert ip == "0.0.0.0" and 61000 <= port <= 61999
    mtcp_listen(pair.a, s, 4)
    c = mtcp_socket(pair.b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(pair.b, c, (ADDR_A, port))
    assert pair.run_until(lambda: pair.a.table.get(s).group.pending(), 3)


def test_listen_errors(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(OSError) as e:
        mtcp_listen(a, s, 16)                                # not bound
    assert errno_of(e) == errno.EINVAL
    mtcp_bind(a, s, ("0.0.0.0", PORT))
    for backlog in (0, -1, 10 ** 9):
        with pytest.raises(OSError) as e:
            mtcp_listen(a, s, backlog)
        assert errno_of(e) == errno.EINVAL
    mtcp_listen(a, s, 16)
    assert a.table.get(s).kind == MTCP_SOCK_LISTENER
    with pytest.raises(OSError) as e:
        mtcp_accept(a, mtcp_socket(a, AF_INET, SOCK_STREAM, 0))   # not listening
    assert errno_of(e) == errno.EINVAL


def test_accept_gives_descriptor_and_peer(pair):
    lst, srv, cli = connected(pair)
    assert mtcp_getpeername(pair.a, srv) == mtcp_getsockname(pair.b, cli)
    assert mtcp_getsockname(pair.a, srv) == (ADDR_A, PORT)
    assert mtcp_getpeername(pair.b, cli) == (ADDR_A, PORT)
    assert mtcp_getsockname(pair.a, lst) == ("0.0.0.0", PORT)
    with pytest.raises(OSError) as e:
        mtcp_getpeername(pair.a, lst)
    assert errno_of(e) == errno.ENOTCONN


def test_connect_inprogress_ealready_eisconn(pair):
    a, b = pair.a, pair.b
    listening(a)
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError) as e:
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert errno_of(e) == errno.EINPROGRESS
    with pytest.raises(OSError) as e:
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert errno_of(e) == errno.EALREADY
    with pytest.raises(OSError) as e:
        mtcp_getpeername(b, c)                              # not yet
    assert errno_of(e) == errno.ENOTCONN
    assert pair.run_until(lambda: conn_of(b, c).state == TcpState.ESTABLISHED, 3)
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_ERROR) == 0
    with pytest.raises(OSError) as e:
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert errno_of(e) == errno.EISCONN


def test_refused_connect_reports_econnrefused_then_clears(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, 9))
    assert pair.run_until(lambda: conn_of(b, c).state == TcpState.CLOSED, 3)
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_ERROR) == 0    # read and cleared


def test_blocking_connect_raises_the_refusal(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    mtcp_socket_ioctl(b, c, FIONBIO, 0)
    with pytest.raises(ConnectionRefusedError):
        mtcp_connect(b, c, (ADDR_A, 9))


def test_connect_after_a_failure_tries_again(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert pair.run_until(lambda: conn_of(b, c).state == TcpState.CLOSED, 3)
    with pytest.raises(ConnectionRefusedError):             # the pending error, once
        mtcp_connect(b, c, (ADDR_A, PORT))
    listening(pair.a)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert pair.run_until(lambda: conn_of(b, c).state == TcpState.ESTABLISHED, 3)


def test_connect_bad_destinations(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    for addr, code in (((ADDR_A, 0), errno.EINVAL), (("fe80::1", 80), errno.EAFNOSUPPORT),
                       (("255.255.255.255", 80), errno.ENETUNREACH),
                       (("224.0.0.1", 80), errno.ENETUNREACH),
                       (("198.18.0.255", 80), errno.ENETUNREACH)):     # the subnet's broadcast
        with pytest.raises(OSError) as e:
            mtcp_connect(b, c, addr)
        assert errno_of(e) == code, addr


def test_bound_client_uses_its_port(pair):
    listening(pair.a)
    c = mtcp_socket(pair.b, AF_INET, SOCK_STREAM, 0)
    mtcp_bind(pair.b, c, (ADDR_B, 5555))
    with pytest.raises(BlockingIOError):
        mtcp_connect(pair.b, c, (ADDR_A, PORT))
    assert mtcp_getsockname(pair.b, c) == (ADDR_B, 5555)
    assert pair.run_until(lambda: conn_of(pair.b, c).state == TcpState.ESTABLISHED, 3)


# --- data --------------------------------------------------------------------------------------------

def test_read_write_readv_writev_and_peek(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    assert mtcp_writev(b, cli, [b"hello ", b"mtcp ", b"world"]) == 16
    assert mtcp_write(b, cli, memoryview(b"!")) == 1
    assert pair.run_until(lambda: mtcp_socket_ioctl(a, srv, FIONREAD) == 17, 3)
    assert mtcp_recv(a, srv, 5, MSG_PEEK) == b"hello"
    assert mtcp_socket_ioctl(a, srv, FIONREAD) == 17             # peek left it there
    bufs = [bytearray(6), bytearray(5)]
    assert mtcp_readv(a, srv, bufs) == 11
    assert bufs == [bytearray(b"hello "), bytearray(b"mtcp ")]
    assert mtcp_read(a, srv, 100) == b"world!"
    assert mtcp_read(a, srv, 0) == b""
    with pytest.raises(OSError) as e:
        mtcp_recv(a, srv, 10, 1)                                  # MSG_OOB: not supported
    assert errno_of(e) == errno.EINVAL
    with pytest.raises(OSError) as e:
        mtcp_read(a, srv, -1)
    assert errno_of(e) == errno.EINVAL


def test_big_transfer_both_ways(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    up, down = os.urandom(2_000_000), os.urandom(1_000_000)
    got_up, got_down = bytearray(), bytearray()
    sent_up = sent_down = 0

    def step():
        nonlocal sent_up, sent_down
        for ctx, fd, data, attr in ((b, cli, up, "up"), (a, srv, down, "down")):
            sent = sent_up if attr == "up" else sent_down
            if sent < len(data):
                try:
                    n = mtcp_write(ctx, fd, data[sent:sent + 65536])
                except BlockingIOError:
                    n = 0
                if attr == "up":
                    sent_up += n
                else:
                    sent_down += n
        for ctx, fd, got in ((a, srv, got_up), (b, cli, got_down)):
            while True:
                try:
                    chunk = mtcp_read(ctx, fd, 1 << 20)
                except BlockingIOError:
                    break
                got.extend(chunk)
        return len(got_up) == len(up) and len(got_down) == len(down)
    assert pair.run_until(step, 30)
    assert bytes(got_up) == up and bytes(got_down) == down


def test_read_and_write_need_a_connection(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    for call in (lambda: mtcp_read(a, s, 10), lambda: mtcp_write(a, s, b"x")):
        with pytest.raises(OSError) as e:
            call()
        assert errno_of(e) == errno.ENOTCONN
    lst = listening(a, 9999)
    with pytest.raises(OSError) as e:
        mtcp_read(a, lst, 10)
    assert errno_of(e) == errno.ENOTCONN


def test_write_on_a_connecting_socket_is_eagain(pair):
    listening(pair.a)
    c = mtcp_socket(pair.b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(pair.b, c, (ADDR_A, PORT))
    for call in (lambda: mtcp_write(pair.b, c, b"x"), lambda: mtcp_read(pair.b, c, 1)):
        with pytest.raises(BlockingIOError):
            call()


def test_eof_then_epipe_after_close(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_write(b, cli, b"last words")
    mtcp_close(b, cli)
    assert pair.run_until(lambda: conn_of(a, srv).state == TcpState.CLOSE_WAIT, 3)
    assert mtcp_read(a, srv, 100) == b"last words"
    assert mtcp_read(a, srv, 100) == b""                        # EOF
    assert mtcp_write(a, srv, b"still allowed in CLOSE-WAIT") > 0
    mtcp_close(a, srv)
    with pytest.raises(OSError) as e:
        mtcp_read(a, srv, 1)                                     # the descriptor is gone
    assert errno_of(e) == errno.EBADF


def test_abort_resets_the_peer(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_abort(a, srv)
    assert pair.run_until(lambda: conn_of(b, cli).state == TcpState.CLOSED, 3)
    with pytest.raises(ConnectionResetError):
        mtcp_read(b, cli, 10)
    assert mtcp_read(b, cli, 10) == b""                          # reported once
    with pytest.raises(OSError) as e:
        mtcp_write(b, cli, b"x")
    assert errno_of(e) == errno.EPIPE


def test_close_with_unread_data_resets(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_write(b, cli, b"unread")
    assert pair.run_until(lambda: mtcp_socket_ioctl(a, srv, FIONREAD) == 6, 3)
    mtcp_close(a, srv)
    assert pair.run_until(lambda: conn_of(b, cli).state == TcpState.CLOSED, 3)
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_ERROR) == errno.ECONNRESET


def test_closing_the_listener_resets_unaccepted(pair):
    a, b = pair.a, pair.b
    lst = listening(a)
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert pair.run_until(lambda: a.table.get(lst).group.pending(), 3)
    mtcp_close(a, lst)
    assert pair.run_until(lambda: conn_of(b, c).state == TcpState.CLOSED, 3)
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_ERROR) == errno.ECONNRESET
    assert not a.groups                                          # the port is free again
    listening(a)


# --- ioctl, nonblock -----------------------------------------------------------------------------

def test_ioctls(pair):
    a, b = pair.a, pair.b
    lst, srv, cli = connected(pair)
    assert mtcp_socket_ioctl(b, cli, SIOCOUTQ) == 0
    pair.engines.port_a.add(__import__("xdpmtcp.phy", fromlist=["FaultInjector"]).FaultInjector.parse(
        "drop=1,direction=rx"))                                   # a hears nothing: no ACKs
    mtcp_write(b, cli, b"x" * 5000)
    pair.run_for(0.05)
    assert mtcp_socket_ioctl(b, cli, SIOCOUTQ) == 5000           # sent, not acknowledged
    assert mtcp_socket_ioctl(a, srv, FIONREAD) == 0
    for req in (FIONREAD, SIOCOUTQ):
        with pytest.raises(OSError) as e:
            mtcp_socket_ioctl(a, lst, req)
        assert errno_of(e) == errno.EINVAL
    with pytest.raises(OSError) as e:
        mtcp_socket_ioctl(a, srv, 0x1234)
    assert errno_of(e) == errno.EINVAL
    with pytest.raises(OSError) as e:
        mtcp_socket_ioctl(a, srv, FIONBIO)                        # no argument
    assert errno_of(e) == errno.EFAULT
    fresh = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    assert mtcp_socket_ioctl(a, fresh, FIONREAD) == 0
    assert mtcp_socket_ioctl(a, fresh, SIOCOUTQ) == 0


def test_fionbio_and_setsock_nonblock_toggle_blocking(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    obj = a.table.get(s)
    assert obj.nonblocking
    mtcp_socket_ioctl(a, s, FIONBIO, 0)
    assert not obj.nonblocking
    mtcp_setsock_nonblock(a, s)
    assert obj.nonblocking
    mtcp_socket_ioctl(a, s, FIONBIO, 0)
    mtcp_socket_ioctl(a, s, FIONBIO, 1)
    assert obj.nonblocking


def test_blocking_read_waits_for_data(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_socket_ioctl(a, srv, FIONBIO, 0)
    b.table.get(cli).conn.send(b"later")      # queued, sent only when the loop runs
    assert mtcp_read(a, srv, 100) == b"later"  # the blocking read ran both engines


# --- pipes -------------------------------------------------------------------------------------------

def test_pipe(pair):
    a = pair.a
    r, w = mtcp_pipe(a)
    with pytest.raises(BlockingIOError):
        mtcp_read(a, r, 10)
    assert mtcp_write(a, w, b"ping") == 4
    assert mtcp_socket_ioctl(a, r, FIONREAD) == 4
    assert mtcp_recv(a, r, 2, MSG_PEEK) == b"pi"
    assert mtcp_read(a, r, 10) == b"ping"
    with pytest.raises(OSError) as e:
        mtcp_read(a, w, 1)
    assert errno_of(e) == errno.EBADF
    with pytest.raises(OSError) as e:
        mtcp_write(a, r, b"x")
    assert errno_of(e) == errno.EBADF
    big = b"y" * (a.tunables.pipe_buf + 10)
    assert mtcp_write(a, w, big) == a.tunables.pipe_buf           # the rest does not fit
    with pytest.raises(BlockingIOError):
        mtcp_write(a, w, b"more")
    assert len(mtcp_read(a, r, 1 << 20)) == a.tunables.pipe_buf
    mtcp_close(a, w)
    assert mtcp_read(a, r, 10) == b""                             # writer gone: EOF
    r2, w2 = mtcp_pipe(a)
    mtcp_close(a, r2)
    with pytest.raises(BrokenPipeError):
        mtcp_write(a, w2, b"x")


# --- init_rss ---------------------------------------------------------------------------------------------

def test_init_rss_sets_the_source_pool(pair):
    a, b = pair.a, pair.b
    listening(a)
    mtcp_init_rss(b, ADDR_B, 1, ADDR_A, PORT)
    assert b.source_pool == [ADDR_B]
    mtcp_init_rss(b, 0, 1)                                         # INADDR_ANY: the interface's
    assert b.source_pool == [ADDR_B]
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, PORT))
    assert mtcp_getsockname(b, c)[0] == ADDR_B
    for base, n, code in (("10.1.2.3", 1, errno.EADDRNOTAVAIL), (ADDR_B, 2, errno.EADDRNOTAVAIL),
                          (ADDR_B, 0, errno.EINVAL), ("nonsense", 1, errno.EINVAL)):
        with pytest.raises(OSError) as e:
            mtcp_init_rss(b, base, n)
        assert errno_of(e) == code


def test_context_on_engines_is_a_valid_mctx(pair):
    assert isinstance(pair.a, Context)
    assert "memlink-a" in repr(pair.a)


def test_constants_have_linux_values():
    import select
    import socket
    from xdpmtcp.api import constants as C
    for name in ("IN", "PRI", "OUT", "ERR", "HUP", "RDNORM", "RDBAND", "WRNORM", "WRBAND", "MSG",
                 "RDHUP", "ONESHOT", "ET"):
        assert getattr(C, "MTCP_EPOLL" + name) == getattr(select, "EPOLL" + name) & 0xffffffff, name
    assert (C.MTCP_EPOLL_CTL_ADD, C.MTCP_EPOLL_CTL_DEL, C.MTCP_EPOLL_CTL_MOD) == (1, 2, 3)
    for name in ("SO_DEBUG", "SO_REUSEADDR", "SO_REUSEPORT", "SO_KEEPALIVE", "SO_DONTROUTE", "SO_LINGER",
                 "SO_BROADCAST", "SO_OOBINLINE", "SO_SNDBUF", "SO_RCVBUF", "SO_SNDLOWAT", "SO_RCVLOWAT",
                 "SO_SNDTIMEO", "SO_RCVTIMEO", "SO_TYPE", "SO_ERROR", "TCP_NODELAY", "TCP_MAXSEG",
                 "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_INFO", "TCP_CONGESTION",
                 "SOL_SOCKET", "IPPROTO_TCP", "AF_INET", "SOCK_STREAM", "MSG_PEEK"):
        assert getattr(C, name) == getattr(socket, name), name
    assert C.SOL_MONSOCKET == 0xfffe and C.MTCP_SOCK_EPOLL == 4 and C.MTCP_SOCK_PIPE == 5
    assert C.event_names(C.MTCP_EPOLLIN | C.MTCP_EPOLLRDHUP) == "IN|RDHUP"


def test_a_context_on_two_engines_listens_on_both():
    from xdpmtcp.tcp.loopback import EnginePair
    p1, p2 = EnginePair(), EnginePair()
    try:
        server = Context(engines=[p1.a, p2.a], name="two-ports")
        clients = [Context(engines=[p.b], name="client") for p in (p1, p2)]
        for c in clients:
            c.peers.append(server)
            server.peers.append(c)
        lst = listening(server)
        fds = []
        for c in clients:
            fd = mtcp_socket(c, AF_INET, SOCK_STREAM, 0)
            with pytest.raises(BlockingIOError):
                mtcp_connect(c, fd, (ADDR_A, PORT))
            fds.append(fd)
        got = []
        assert server.wait_until(lambda: len(server.table.get(lst).group.listeners) == 2 and
                                 sum(l.pending() for l in server.table.get(lst).group.listeners) == 2, 3)
        got = [mtcp_accept(server, lst)[0] for _ in range(2)]
        engines = {server.table.get(fd).conn.engine for fd in got}
        assert engines == {p1.a, p2.a}                             # one connection through each port
        for c in clients + [server]:
            c.close()
    finally:
        p1.close()
        p2.close()
