"""The Pythonic facade: Context, socket objects with Python's method
names (blocking by default, settimeout, context managers), the epoll
object, pipes, over two contexts in memory."""
import errno
import os
import socket as pysocket
import time

import pytest

import xdpmtcp
from xdpmtcp.api import Context, EpollObject, Socket, linger, tcp_info
from xdpmtcp.api.loopback import ADDR_A, ContextPair
from xdpmtcp.mtcp_api import MTCP_EPOLLIN, MTCP_EPOLLOUT


@pytest.fixture
def pair():
    p = ContextPair(tcp_timewait=0.2)
    yield p
    p.close()


def server_and_client(pair, port=9000):
    srv = pair.a.socket()
    srv.bind(("0.0.0.0", port))
    srv.listen(8)
    cli = pair.b.socket()
    cli.connect((ADDR_A, port))                   # blocking: the handshake completes
    conn, addr = srv.accept()
    return srv, conn, cli, addr


def test_context_is_exported_at_the_top():
    assert xdpmtcp.Context is Context


def test_blocking_sockets_like_python(pair):
    srv, conn, cli, addr = server_and_client(pair)
    assert isinstance(conn, Socket) and addr == cli.getsockname()
    assert cli.getblocking() and conn.gettimeout() is None
    cli.sendall(b"x" * 100_000)
    got = bytearray()
    while len(got) < 100_000:
        got += conn.recv(65536)
    assert got == b"x" * 100_000
    buf = bytearray(10)
    cli.send(b"0123456789")
    assert conn.recv_into(buf) == 10 and buf == b"0123456789"
    cli.shutdown(pysocket.SHUT_WR)
    assert conn.recv(10) == b""
    for s in (srv, conn, cli):
        s.close()
    assert cli.fileno() == -1 and cli.closed


def test_settimeout_raises_timeouterror(pair):
    srv, conn, cli, _ = server_and_client(pair)
    conn.settimeout(0.2)
    assert conn.gettimeout() == 0.2
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        conn.recv(10)
    assert 0.18 <= time.monotonic() - t0 < 1.0
    conn.setblocking(False)
    assert conn.gettimeout() == 0.0
    with pytest.raises(BlockingIOError):
        conn.recv(10)
    conn.settimeout(None)
    assert conn.getblocking()
    with pytest.raises(ValueError):
        conn.settimeout(-1)


def test_so_rcvtimeo_applies_without_settimeout(pair):
    srv, conn, cli, _ = server_and_client(pair)
    conn.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVTIMEO, 0.2)
    with pytest.raises(BlockingIOError) as e:
        conn.recv(10)
    assert e.value.errno == errno.EAGAIN


def test_accept_timeout_and_connect_ex(pair):
    srv = pair.a.socket()
    srv.bind(("0.0.0.0", 9001))
    srv.listen(1)
    srv.settimeout(0.1)
    with pytest.raises(TimeoutError):
        srv.accept()
    c = pair.b.socket()
    assert c.connect_ex((ADDR_A, 9)) == errno.ECONNREFUSED


def test_options_through_the_facade(pair):
    srv, conn, cli, _ = server_and_client(pair)
    cli.setsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY, 1)
    assert cli.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_NODELAY) == 1
    assert isinstance(cli.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_INFO), tcp_info)
    assert len(cli.getsockopt(pysocket.IPPROTO_TCP, pysocket.TCP_INFO, 232)) == 232
    conn.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_LINGER, linger(1, 0))
    conn.close()                                           # RST
    with pytest.raises(ConnectionResetError):
        cli.recv(10)


def test_context_managers_close(pair):
    with pair.a.socket() as s:
        s.bind(("0.0.0.0", 9002))
        fd = s.fileno()
    assert s.closed and fd not in pair.a.table.items
    with pair.a.epoll() as ep:
        assert isinstance(ep, EpollObject)
    assert ep.closed


def test_bad_family_and_type(pair):
    with pytest.raises(OSError) as e:
        pair.a.socket(pysocket.AF_INET6)
    assert e.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(OSError) as e:
        pair.a.socket(type=pysocket.SOCK_DGRAM)
    assert e.value.errno == errno.EINVAL


def test_epoll_object_like_select_epoll(pair):
    srv, conn, cli, _ = server_and_client(pair)
    conn.setblocking(False)
    ep = pair.a.epoll()
    ep.register(conn, MTCP_EPOLLIN)
    assert ep.poll(0) == []
    cli.send(b"hi")
    assert ep.poll(1.0) == [(conn.fileno(), MTCP_EPOLLIN)]
    ep.modify(conn, MTCP_EPOLLIN | MTCP_EPOLLOUT)
    assert ep.poll(0) == [(conn.fileno(), MTCP_EPOLLIN | MTCP_EPOLLOUT)]
    ep.unregister(conn)
    assert ep.poll(0.05) == []
    ep.close()


def test_pipe_objects(pair):
    r, w = pair.a.pipe()
    assert w.write(b"abc") == 3
    assert r.read(10) == b"abc"
    r.settimeout(0.05)
    with pytest.raises(TimeoutError):
        r.read(1)
    w.close()
    assert r.read(10) == b""


def test_context_close_closes_descriptors():
    p = ContextPair()
    s = p.a.socket()
    p.a.close()
    assert s.closed and p.a.closed
    with pytest.raises(OSError) as e:
        p.a.socket()
    assert e.value.errno == errno.EBADF
    p.close()


def test_context_needs_an_interface():
    with pytest.raises(ValueError):
        Context()


def test_big_blocking_exchange_keeps_memory_exact(pair):
    srv, conn, cli, _ = server_and_client(pair)
    data = os.urandom(200_000)
    cli.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        got += conn.recv(1 << 20)
    assert bytes(got) == data
    conn.close()
    cli.close()
    assert pair.run_until(lambda: not pair.a.engines[0].conns and not pair.b.engines[0].conns, 5)
    assert pair.a.engines[0].buffer_memory == 0


def test_abort_resets(pair):
    srv, conn, cli, _ = server_and_client(pair)
    conn.abort()
    assert conn.closed
    with pytest.raises(ConnectionResetError):
        cli.recv(10)
