"""SYN cookies the engine did not send: when a listener is flooded the XDP
program answers SYNs with cookies itself (bpf/xdp_syn_answer.h) and cannot
know which tuples the engine holds.  The client's ACK of such a cookie must
still open its connection when the tuple is in TIME-WAIT (the server closed
the previous connection first) or has a child in SYN-RECEIVED (the client's
SYN was retransmitted and the retransmission answered in XDP).  Here the
XDP program's part is played by xc_syncookie_make, the function it shares
with the engine (bpf/xdpmtcp_syncookie.h), and b's frames are crafted."""
import time

import pytest

from xdpmtcp._core import lib
from xdpmtcp.tcp import TcpState
from xdpmtcp.tcp.loopback import ADDR_A, ADDR_B, MAC_A, MAC_B, EnginePair
from xdpmtcp.wire import TcpFlags, TcpOptions, build_tcp_frame
from xdpmtcp.wire.addr import ip_be, port_be

PORT = 8080
CLIENT_PORT = 40001
MSS_1460_INDEX = 3


@pytest.fixture
def pair():
    p = EnginePair(tcp_timewait=60)
    yield p
    p.close()


def from_b(sport, flags, seq, ack=0, payload=b"", options=None):
    return build_tcp_frame(MAC_B, MAC_A, ADDR_B, ADDR_A, sport, PORT, seq & 0xffffffff,
                           ack & 0xffffffff, flags, 65535, options=options, payload=payload)


def send_to_a(p, frames):
    """Only a runs: b's engine would reset a's answers to crafted tuples."""
    p.port_b.tx(list(frames))
    p.port_b.flush()
    for _ in range(5):
        p.a.poll()


def xdp_cookie(sport, peer_isn):
    """The cookie the XDP program puts in its SYN-ACK to b's SYN."""
    return lib.xc_syncookie_make(ip_be(ADDR_A), ip_be(ADDR_B), port_be(PORT), port_be(sport),
                                 peer_isn, MSS_1460_INDEX, time.monotonic_ns())


def cookie_ack(sport, peer_isn, payload=b""):
    return from_b(sport, TcpFlags.ACK | (TcpFlags.PSH if payload else 0), peer_isn + 1,
                  xdp_cookie(sport, peer_isn) + 1, payload)


def opened_without_options(conn):
    off = lib.XC_TF_TS_OK | lib.XC_TF_SACK_OK | lib.XC_TF_WS_OK
    return conn.state == TcpState.ESTABLISHED and not conn.c_info().flags & off and conn.c_info().peer_mss == 1460


def test_cookie_ack_reopens_a_tuple_in_timewait(pair):
    lst = pair.a.listen(PORT)
    client = pair.b.connect((ADDR_A, PORT), local_port=CLIENT_PORT)
    assert pair.run_until(lambda: lst.pending() and client.state == TcpState.ESTABLISHED, 3)
    server = lst.accept()
    server.close()                                     # the server closes first: its TIME-WAIT
    assert pair.run_until(lambda: client.state == TcpState.CLOSE_WAIT, 3)
    client.close()
    assert pair.run_until(lambda: server.state == TcpState.TIME_WAIT and client.released, 3)

    send_to_a(pair, [cookie_ack(CLIENT_PORT, 0x5000_0000, b"GET / HTTP/1.0\r\n\r\n")])
    assert pair.a.stats.timewait_reused == 1 and server.released
    assert lst.stats.cookies_accepted == 1 and lst.pending() == 1
    new = lst.accept()
    assert opened_without_options(new)
    assert new.recv(100) == b"GET / HTTP/1.0\r\n\r\n"


def child_in_syn_received(p, isn):
    """A listener whose SYN queue holds b's child, made with every option."""
    lst = p.a.listen(PORT)
    full = TcpOptions(mss=1460, window_scale=7, sack_permitted=True, timestamp=(1, 0))
    send_to_a(p, [from_b(CLIENT_PORT, TcpFlags.SYN, isn, options=full)])
    assert lst.stats.synacks == 1
    return lst


def test_cookie_ack_completes_a_child_in_syn_received(pair):
    isn = 0x1234_5678
    lst = child_in_syn_received(pair, isn)
    rst_before = pair.a.c_stats()["rst_sent"]

    send_to_a(pair, [cookie_ack(CLIENT_PORT, isn, b"hello")])
    assert lst.stats.cookies_accepted == 1 and lst.pending() == 1
    assert pair.a.c_stats()["rst_sent"] == rst_before
    new = lst.accept()
    assert opened_without_options(new)
    assert new.recv(100) == b"hello"


def test_other_acks_of_a_child_in_syn_received_still_draw_a_reset(pair):
    isn = 0x0bad_cafe
    lst = child_in_syn_received(pair, isn)
    rst_before = pair.a.c_stats()["rst_sent"]
    bogus = (xdp_cookie(CLIENT_PORT, isn) ^ 0x1) + 1   # one MAC bit off
    send_to_a(pair, [from_b(CLIENT_PORT, TcpFlags.ACK, isn + 1, bogus)])
    assert pair.a.c_stats()["rst_sent"] == rst_before + 1
    assert lst.pending() == 0 and lst.stats.cookies_accepted == 0
