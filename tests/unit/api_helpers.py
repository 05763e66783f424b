"""Shared by the API unit tests: two contexts over the in-memory link, a
connected pair of descriptors, and reading what crossed the wire."""
import pytest

from xdpmtcp.api.loopback import ADDR_A, ADDR_B, ContextPair  # noqa: F401
from xdpmtcp.mtcp_api import (AF_INET, SOCK_STREAM, mtcp_accept, mtcp_bind, mtcp_connect,
                              mtcp_listen, mtcp_socket)
from xdpmtcp.phy import PcapSource, PcapTap
from xdpmtcp.tcp import TcpState
from xdpmtcp.wire import MalformedFrame, parse_tcp_frame

PORT = 8080


@pytest.fixture
def pair():
    """Two contexts over the in-memory link (import it into a test module)."""
    p = ContextPair(tcp_timewait=0.2, fin_wait2_timeout=0.5)
    yield p
    p.close()


def errno_of(excinfo):
    return excinfo.value.errno


def listening(ctx, port=PORT, setup=None, backlog=64):
    s = mtcp_socket(ctx, AF_INET, SOCK_STREAM, 0)
    if setup:
        setup(s)
    mtcp_bind(ctx, s, ("0.0.0.0", port))
    mtcp_listen(ctx, s, backlog)
    return s


def connected(pair, port=PORT, server_setup=None, client_setup=None):
    """(listener, server side, client side) descriptors, established."""
    a, b = pair.a, pair.b
    lst = listening(a, port, server_setup)
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    if client_setup:
        client_setup(c)
    try:
        mtcp_connect(b, c, (ADDR_A, port))
    except BlockingIOError:
        pass
    assert pair.run_until(lambda: a.table.get(lst).group.pending(), 3)
    srv, _ = mtcp_accept(a, lst)
    conn = b.table.get(c).conn
    assert pair.run_until(lambda: conn.state == TcpState.ESTABLISHED, 3)
    return lst, srv, c


def conn_of(ctx, fd):
    return ctx.table.get(fd).conn


def tap(pair, path, side="b"):
    """Record every frame side's port receives and sends to a pcap."""
    getattr(pair.engines, "port_" + side).add(PcapTap(str(path)))


def tcp_frames(pair, path, side="b"):
    """Stop the tap, then the parsed TCP frames of its pcap, in order."""
    PcapTap.uninstall(getattr(pair.engines, "port_" + side))
    out = []
    with PcapSource(str(path)) as src:
        for fr in src.frames():
            try:
                out.append(parse_tcp_frame(bytes(fr.data)))
            except MalformedFrame:
                pass
    return out
