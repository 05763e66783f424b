"""Socket options: every option of the OSKit page and the TCP level, their
errnos (mtcp_setsockopt.3, mos_getsockopt.3), and their effects seen on
the wire (pcap of the in-memory link) or in behaviour."""
import errno
import os
import struct
import time

import pytest

from xdpmtcp._core import lib
from xdpmtcp.mtcp_api import *  # noqa: F403
from xdpmtcp.phy import FaultInjector
from xdpmtcp.tcp import TcpState
from xdpmtcp.wire import TcpFlags

from api_helpers import (errno_of, pair, ADDR_A, PORT, ContextPair, conn_of, connected, listening, tap,
                         tcp_frames)


def drop_all_received(pair, side):
    getattr(pair.engines, "port_" + side).add(FaultInjector.parse("drop=1,direction=rx"))


def data_frames(frames, src):
    return [f for f in frames if f.ip.src == src and f.tcp.payload]


# --- the table: values in and out -------------------------------------------------------------------

INT_OPTIONS = [(SOL_SOCKET, SO_DEBUG, 1), (SOL_SOCKET, SO_REUSEADDR, 1), (SOL_SOCKET, SO_REUSEPORT, 1),
               (SOL_SOCKET, SO_KEEPALIVE, 1), (SOL_SOCKET, SO_DONTROUTE, 1),
               (SOL_SOCKET, SO_BROADCAST, 1), (SOL_SOCKET, SO_OOBINLINE, 1),
               (SOL_SOCKET, SO_SNDBUF, 65536), (SOL_SOCKET, SO_RCVBUF, 32768),
               (SOL_SOCKET, SO_SNDLOWAT, 4096), (SOL_SOCKET, SO_RCVLOWAT, 100),
               (IPPROTO_TCP, TCP_NODELAY, 1), (IPPROTO_TCP, TCP_MAXSEG, 1000),
               (IPPROTO_TCP, TCP_KEEPIDLE, 30), (IPPROTO_TCP, TCP_KEEPINTVL, 5),
               (IPPROTO_TCP, TCP_KEEPCNT, 3)]


@pytest.mark.parametrize("level,opt,value", INT_OPTIONS)
def test_int_options_round_trip(pair, level, opt, value):
    s = mtcp_socket(pair.a, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(pair.a, s, level, opt, value)
    got = mtcp_getsockopt(pair.a, s, level, opt)
    assert isinstance(got, int) and got == value
    assert mtcp_getsockopt(pair.a, s, level, opt, 4) == struct.pack("i", value)
    mtcp_setsockopt(pair.a, s, level, opt, struct.pack("i", value))     # C bytes work too


def test_defaults(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    t = a.tunables
    g = lambda lvl, o: mtcp_getsockopt(a, s, lvl, o)           # noqa: E731
    assert g(SOL_SOCKET, SO_TYPE) == SOCK_STREAM
    assert g(SOL_SOCKET, SO_ERROR) == 0
    assert g(SOL_SOCKET, SO_RCVBUF) == t.rcvbuf and g(SOL_SOCKET, SO_SNDBUF) == t.sndbuf
    assert g(SOL_SOCKET, SO_RCVLOWAT) == 1 and g(SOL_SOCKET, SO_SNDLOWAT) == 1024
    assert g(SOL_SOCKET, SO_LINGER) == linger(0, 0)
    assert g(SOL_SOCKET, SO_RCVTIMEO) == timeval(0, 0)
    assert g(IPPROTO_TCP, TCP_NODELAY) == 0 and g(IPPROTO_TCP, TCP_MAXSEG) == 536
    assert (g(IPPROTO_TCP, TCP_KEEPIDLE), g(IPPROTO_TCP, TCP_KEEPINTVL), g(IPPROTO_TCP, TCP_KEEPCNT)) \
        == (7200, 75, 9)
    assert g(IPPROTO_TCP, TCP_CONGESTION) == "cubic"
    for opt in (SO_DEBUG, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_DONTROUTE, SO_BROADCAST,
                SO_OOBINLINE):
        assert g(SOL_SOCKET, opt) == 0


def test_struct_options_take_typed_objects_pairs_and_bytes(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_LINGER, linger(1, 7))
    got = mtcp_getsockopt(a, s, SOL_SOCKET, SO_LINGER)
    assert isinstance(got, linger) and (got.l_onoff, got.l_linger) == (1, 7)
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_LINGER, 8) == struct.pack("ii", 1, 7)
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_LINGER, (0, 3))
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 2))
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_LINGER) == linger(1, 2)
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_RCVTIMEO, timeval(1, 500000))
    tv = mtcp_getsockopt(a, s, SOL_SOCKET, SO_RCVTIMEO)
    assert isinstance(tv, timeval) and (tv.tv_sec, tv.tv_usec) == (1, 500000)
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_RCVTIMEO, 16) == struct.pack("ll", 1, 500000)
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_SNDTIMEO, struct.pack("ll", 0, 250000))
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_SNDTIMEO) == timeval(0, 250000)
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_SNDTIMEO, 0.75)
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_SNDTIMEO) == timeval(0, 750000)


# --- errnos of get/setsockopt ------------------------------------------------------------------------

def test_enosys_for_unknown_levels_options_and_get_only_sets(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    for level, opt in ((0, 1), (17, 1), (999, 1), (SOL_SOCKET, 12), (SOL_SOCKET, 999),
                       (IPPROTO_TCP, 3), (IPPROTO_TCP, 999), (SOL_MONSOCKET, 0x77)):
        with pytest.raises(OSError) as e:
            mtcp_getsockopt(a, s, level, opt)
        assert errno_of(e) == errno.ENOSYS, (level, opt)
        with pytest.raises(OSError) as e:
            mtcp_setsockopt(a, s, level, opt, 1)
        assert errno_of(e) == errno.ENOSYS, (level, opt)
    for level, opt in ((SOL_SOCKET, SO_TYPE), (SOL_SOCKET, SO_ERROR), (IPPROTO_TCP, TCP_INFO)):
        with pytest.raises(OSError) as e:
            mtcp_setsockopt(a, s, level, opt, 0)
        assert errno_of(e) == errno.ENOSYS


def test_eperm_for_monitor_options_on_an_endpoint(pair):
    a = pair.a
    _, srv, _ = connected(pair)
    for opt in (MOS_TCP_STATE_CLI, MOS_INFO_SVRBUF, MOS_FRAGINFO_CLIBUF):
        with pytest.raises(OSError) as e:
            mtcp_getsockopt(a, srv, SOL_MONSOCKET, opt)
        assert errno_of(e) == errno.EPERM
    for opt in (MOS_CLIBUF, MOS_STOP_MON, MOS_SVROVERLAP):
        with pytest.raises(OSError) as e:
            mtcp_setsockopt(a, srv, SOL_MONSOCKET, opt, 0)
        assert errno_of(e) == errno.EPERM


def test_ebadf_enotsock_eacces(pair):
    a = pair.a
    ep = mtcp_epoll_create1(a, 0)
    r, _ = mtcp_pipe(a)
    for call in (mtcp_getsockopt, lambda c, fd, lvl, o: mtcp_setsockopt(c, fd, lvl, o, 1)):
        for fd, code in ((57, errno.EBADF), (ep, errno.ENOTSOCK), (r, errno.ENOTSOCK)):
            with pytest.raises(OSError) as e:
                call(a, fd, SOL_SOCKET, SO_REUSEADDR)
            assert errno_of(e) == code
        with pytest.raises(OSError) as e:
            call(object(), 0, SOL_SOCKET, SO_REUSEADDR)
        assert errno_of(e) == errno.EACCES
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    mtcp_close(a, s)
    with pytest.raises(OSError) as e:
        mtcp_getsockopt(a, s, SOL_SOCKET, SO_ERROR)                  # closed: no longer a descriptor
    assert errno_of(e) == errno.EBADF


def test_einval_for_bad_values_and_short_buffers(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    bad_sets = [(SOL_SOCKET, SO_REUSEADDR, b"\x01"), (SOL_SOCKET, SO_REUSEADDR, "yes"),
                (SOL_SOCKET, SO_RCVBUF, -1), (SOL_SOCKET, SO_RCVLOWAT, -5),
                (SOL_SOCKET, SO_LINGER, 5), (SOL_SOCKET, SO_LINGER, linger(1, -1)),
                (SOL_SOCKET, SO_LINGER, b"\0" * 4),
                (SOL_SOCKET, SO_RCVTIMEO, timeval(-1, 0)), (SOL_SOCKET, SO_SNDTIMEO, timeval(0, 2000000)),
                (SOL_SOCKET, SO_RCVTIMEO, "1s"),
                (IPPROTO_TCP, TCP_MAXSEG, 50), (IPPROTO_TCP, TCP_MAXSEG, 40000),
                (IPPROTO_TCP, TCP_KEEPIDLE, 0), (IPPROTO_TCP, TCP_KEEPINTVL, 40000),
                (IPPROTO_TCP, TCP_KEEPCNT, 0), (IPPROTO_TCP, TCP_KEEPCNT, 128),
                (IPPROTO_TCP, TCP_CONGESTION, "vegas"), (IPPROTO_TCP, TCP_CONGESTION, 5)]
    for level, opt, value in bad_sets:
        with pytest.raises(OSError) as e:
            mtcp_setsockopt(a, s, level, opt, value)
        assert errno_of(e) == errno.EINVAL, (opt, value)
    for level, opt, buflen in ((SOL_SOCKET, SO_RCVBUF, 2), (SOL_SOCKET, SO_LINGER, 4),
                               (SOL_SOCKET, SO_RCVTIMEO, 8), (SOL_SOCKET, SO_ERROR, -1)):
        with pytest.raises(OSError) as e:
            mtcp_getsockopt(a, s, level, opt, buflen)
        assert errno_of(e) == errno.EINVAL


# --- SO_TYPE, SO_ERROR ----------------------------------------------------------------------------------

def test_so_error_reports_reset_and_clears(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_abort(a, srv)
    assert pair.run_until(lambda: conn_of(b, cli).state == TcpState.CLOSED, 3)
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_ERROR, 4) == struct.pack("i", errno.ECONNRESET)
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_ERROR) == 0


# --- TCP_NODELAY: Nagle visible in segment counts -------------------------------------------------------

def _small_writes(pair, nodelay, tmp_path):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(
        b, c, IPPROTO_TCP, TCP_NODELAY, int(nodelay)))
    tap(pair, tmp_path / "nagle.pcap")
    for _ in range(50):
        mtcp_write(b, cli, b"x" * 10)
        pair.engines.b.poll()         # only the sender runs: no ACK comes back meanwhile
    segs_before_acks = len(data_frames(tcp_frames(pair, tmp_path / "nagle.pcap"), "198.18.0.2"))
    got = bytearray()

    def all_in():
        try:
            got.extend(mtcp_read(a, srv, 1000))
        except BlockingIOError:
            pass
        return len(got) == 500
    assert pair.run_until(all_in, 3)
    return segs_before_acks


def test_nagle_coalesces_small_writes_and_nodelay_does_not(pair, tmp_path):
    assert _small_writes(pair, False, tmp_path) == 1           # the rest waits for an ACK


def test_nodelay_sends_every_small_write(pair, tmp_path):
    assert _small_writes(pair, True, tmp_path) == 50


def test_setting_nodelay_flushes_what_nagle_held(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_write(b, cli, b"a")
    pair.engines.b.poll()
    mtcp_write(b, cli, b"b")
    pair.engines.b.poll()
    c = conn_of(b, cli)
    assert c.counters()["data_segs_out"] == 1                    # "b" is held by Nagle
    mtcp_setsockopt(b, cli, IPPROTO_TCP, TCP_NODELAY, 1)
    pair.engines.b.poll()
    assert c.counters()["data_segs_out"] == 2


# --- SO_RCVBUF / SO_SNDBUF: real buffers, visible in the window -------------------------------------------

def test_rcvbuf_before_connect_sets_the_syn_window_and_scale(pair, tmp_path):
    a, b = pair.a, pair.b
    tap(pair, tmp_path / "w.pcap")
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_RCVBUF, 4096))
    frames = tcp_frames(pair, tmp_path / "w.pcap")
    syn = next(f for f in frames if f.tcp.flags & TcpFlags.SYN and not f.tcp.flags & TcpFlags.ACK)
    assert syn.tcp.window == 4096 and syn.tcp.options.window_scale == 0
    synack = next(f for f in frames if f.tcp.flags & TcpFlags.SYN and f.tcp.flags & TcpFlags.ACK)
    # the other side did not fix its buffer: scaled for autotuning's ceiling (rcvbuf_max, 4 MiB)
    assert synack.tcp.window == 65535 and synack.tcp.options.window_scale == 7
    assert conn_of(a, srv).c_info().snd_wnd == 4096                    # what the peer will respect
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_RCVBUF) == 4096
    # the peer sends no more than the window while we do not read
    mtcp_write(a, srv, os.urandom(100_000))
    pair.run_for(0.6)
    assert 2 * 1448 <= mtcp_socket_ioctl(b, cli, FIONREAD) <= 4096
    assert conn_of(b, cli).counters()["rcv_dropped"] == 0


def test_listener_rcvbuf_is_inherited_and_shapes_the_synack(pair, tmp_path):
    a, b = pair.a, pair.b
    tap(pair, tmp_path / "w.pcap")
    _, srv, cli = connected(pair, server_setup=lambda s: mtcp_setsockopt(a, s, SOL_SOCKET, SO_RCVBUF, 16384))
    frames = tcp_frames(pair, tmp_path / "w.pcap")
    synack = next(f for f in frames if f.tcp.flags & TcpFlags.SYN and f.tcp.flags & TcpFlags.ACK)
    assert synack.tcp.window == 16384 and synack.tcp.options.window_scale == 0
    assert mtcp_getsockopt(a, srv, SOL_SOCKET, SO_RCVBUF) == 16384


def test_rcvbuf_resize_on_a_live_connection_opens_the_window(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, server_setup=lambda s: mtcp_setsockopt(a, s, SOL_SOCKET, SO_RCVBUF, 8192))
    eng = a.engines[0]
    # capacity (what windows promise) is accounted exactly; storage
    # (buffer_memory, what buffer_memory_max caps) is what the buffers hold
    cap = eng.buffer_capacity
    assert eng.buffer_memory == 0                                  # idle: no storage
    mtcp_write(b, cli, os.urandom(200_000))
    pair.run_for(0.2)
    held = mtcp_socket_ioctl(a, srv, FIONREAD)
    assert 5 * 1448 <= held <= 8192                                # the window is all it got
    assert eng.buffer_memory == 8192                               # what it holds, in a power of two
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVBUF, 65536)
    assert mtcp_getsockopt(a, srv, SOL_SOCKET, SO_RCVBUF) == 65536
    assert eng.buffer_capacity == cap + 65536 - 8192
    assert eng.buffer_memory == 8192                               # a bigger window, the same storage
    assert pair.run_until(lambda: mtcp_socket_ioctl(a, srv, FIONREAD) >= 65536 - 1448, 0.5)
    assert eng.buffer_memory == 65536                              # grown with the data
    held = mtcp_socket_ioctl(a, srv, FIONREAD)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVBUF, 4096)           # shrinks only as far as its data
    assert mtcp_getsockopt(a, srv, SOL_SOCKET, SO_RCVBUF) == held
    assert eng.buffer_capacity == cap + held - 8192
    assert mtcp_read(a, srv, 1 << 20) and eng.buffer_memory == 0   # drained: storage back to the pool


def test_buffer_sizes_are_bounded(pair):
    a = pair.a
    s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_RCVBUF, 1)
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_RCVBUF) == a.tunables.sockbuf_min
    mtcp_setsockopt(a, s, SOL_SOCKET, SO_SNDBUF, 1 << 30)
    assert mtcp_getsockopt(a, s, SOL_SOCKET, SO_SNDBUF) == a.tunables.sockbuf_max


def test_sndbuf_limits_what_a_write_takes(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_SNDBUF, 8192))
    drop_all_received(pair, "b")                                   # no ACKs: nothing is freed
    assert mtcp_write(b, cli, os.urandom(100_000)) == 8192
    with pytest.raises(BlockingIOError):
        mtcp_write(b, cli, b"more")


def test_buffer_memory_returns_to_zero(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_SNDBUF, 5000))
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVBUF, 100_000)
    mtcp_close(b, cli)
    mtcp_close(a, srv)
    assert pair.run_until(lambda: not a.engines[0].conns and not b.engines[0].conns, 5)
    assert a.engines[0].buffer_memory == 0 and b.engines[0].buffer_memory == 0


def test_resize_beyond_the_memory_cap_is_enobufs():
    with ContextPair(buffer_memory_max=1 << 20) as p:
        _, srv, _ = connected(p)
        with pytest.raises(OSError) as e:
            mtcp_setsockopt(p.a, srv, SOL_SOCKET, SO_RCVBUF, 4 << 20)
        assert errno_of(e) == errno.ENOBUFS


# --- SO_LINGER -----------------------------------------------------------------------------------------------

def test_linger_zero_sends_rst(pair, tmp_path):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    tap(pair, tmp_path / "rst.pcap")
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_LINGER, linger(1, 0))
    mtcp_close(a, srv)
    assert pair.run_until(lambda: conn_of(b, cli).state == TcpState.CLOSED, 3)
    frames = tcp_frames(pair, tmp_path / "rst.pcap")
    from_a = [f for f in frames if f.ip.src == ADDR_A]
    assert any(f.tcp.flags & TcpFlags.RST for f in from_a)
    assert not any(f.tcp.flags & TcpFlags.FIN for f in from_a)
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_ERROR) == errno.ECONNRESET
    assert not a.engines[0].conns                                  # no TIME-WAIT either


def test_linger_blocks_close_up_to_the_interval(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    drop_all_received(pair, "a")                                   # a never hears an ACK
    mtcp_write(a, srv, b"x" * 3000)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_LINGER, linger(1, 1))
    t0 = time.monotonic()
    mtcp_close(a, srv)                                             # non-blocking socket: still lingers
    took = time.monotonic() - t0
    assert 0.9 <= took < 2.0, took


def test_linger_returns_once_acknowledged(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_write(a, srv, b"x" * 3000)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_LINGER, linger(1, 5))
    t0 = time.monotonic()
    mtcp_close(a, srv)
    assert time.monotonic() - t0 < 1.0
    assert mtcp_read(b, cli, 10000) == b"x" * 3000                 # delivered before close returned


def test_close_without_linger_does_not_wait(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    drop_all_received(pair, "a")
    mtcp_write(a, srv, b"x" * 3000)
    t0 = time.monotonic()
    mtcp_close(a, srv)
    assert time.monotonic() - t0 < 0.5                              # a lingering close would take 1 s+


# --- keepalive -------------------------------------------------------------------------------------------

def test_keepalive_probes_appear_and_are_answered(pair, tmp_path):
    a, b = pair.a, pair.b

    def keep(c):
        mtcp_setsockopt(b, c, SOL_SOCKET, SO_KEEPALIVE, 1)          # before the handshake
        mtcp_setsockopt(b, c, IPPROTO_TCP, TCP_KEEPIDLE, 1)
        mtcp_setsockopt(b, c, IPPROTO_TCP, TCP_KEEPINTVL, 1)
    _, srv, cli = connected(pair, client_setup=keep)
    tap(pair, tmp_path / "ka.pcap")
    conn = conn_of(b, cli)
    assert pair.run_until(lambda: conn.counters()["keepalive_probes"] >= 2, 4)
    frames = tcp_frames(pair, tmp_path / "ka.pcap")
    probes = [f for f in frames if f.ip.src == "198.18.0.2" and not f.tcp.payload
              and f.tcp.seq == (conn.c_info().snd_una - 1) & 0xffffffff]
    assert len(probes) >= 2                                         # seq = SND.UNA - 1
    assert conn.state == TcpState.ESTABLISHED                      # the peer answered


def test_keepalive_gives_up_with_etimedout(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    for opt, v in ((TCP_KEEPIDLE, 1), (TCP_KEEPINTVL, 1), (TCP_KEEPCNT, 2)):
        mtcp_setsockopt(b, cli, IPPROTO_TCP, opt, v)
    mtcp_setsockopt(b, cli, SOL_SOCKET, SO_KEEPALIVE, 1)            # after: armed at once
    drop_all_received(pair, "b")
    conn = conn_of(b, cli)
    assert pair.run_until(lambda: conn.state == TcpState.CLOSED, 6)
    assert conn.counters()["keepalive_probes"] == 2
    assert mtcp_getsockopt(b, cli, SOL_SOCKET, SO_ERROR) == errno.ETIMEDOUT


def test_keepalive_off_sends_nothing(pair):
    _, srv, cli = connected(pair)
    mtcp_setsockopt(pair.b, cli, IPPROTO_TCP, TCP_KEEPIDLE, 1)
    pair.run_for(1.3)
    assert conn_of(pair.b, cli).counters()["keepalive_probes"] == 0


# --- TCP_MAXSEG ------------------------------------------------------------------------------------------

def test_maxseg_before_connect_caps_segments_both_ways(pair, tmp_path):
    a, b = pair.a, pair.b
    tap(pair, tmp_path / "mss.pcap")
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, IPPROTO_TCP, TCP_MAXSEG, 536))
    mtcp_write(a, srv, os.urandom(50_000))
    mtcp_write(b, cli, os.urandom(50_000))
    pair.run_for(0.3)
    frames = tcp_frames(pair, tmp_path / "mss.pcap")
    syn = next(f for f in frames if f.tcp.flags & TcpFlags.SYN and not f.tcp.flags & TcpFlags.ACK)
    assert syn.tcp.options.mss == 536
    for src in ("198.18.0.1", "198.18.0.2"):
        sizes = [len(f.tcp.payload) for f in data_frames(frames, src)]
        assert sizes and max(sizes) == 536 - 12                   # timestamps take 12 of them
    assert mtcp_getsockopt(b, cli, IPPROTO_TCP, TCP_MAXSEG) == 524
    assert mtcp_getsockopt(a, srv, IPPROTO_TCP, TCP_MAXSEG) == 524


def test_maxseg_on_a_live_connection_caps_what_we_send(pair, tmp_path):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_setsockopt(a, srv, IPPROTO_TCP, TCP_MAXSEG, 1000)
    tap(pair, tmp_path / "mss.pcap")
    mtcp_write(a, srv, os.urandom(30_000))
    pair.run_for(0.2)
    sizes = [len(f.tcp.payload) for f in data_frames(tcp_frames(pair, tmp_path / "mss.pcap"), ADDR_A)]
    assert sizes and max(sizes) == 988


# --- timeouts and low-water marks --------------------------------------------------------------------------

def test_rcvtimeo_times_out_a_blocking_read(pair):
    a = pair.a
    _, srv, _ = connected(pair)
    mtcp_socket_ioctl(a, srv, FIONBIO, 0)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVTIMEO, timeval(0, 300000))
    t0 = time.monotonic()
    with pytest.raises(BlockingIOError) as e:
        mtcp_read(a, srv, 100)
    took = time.monotonic() - t0
    assert errno_of(e) == errno.EAGAIN and 0.28 <= took < 1.0, took


def test_rcvtimeo_restarts_when_data_arrives(pair):
    """An inactivity timer (OSKit page): data arriving resets it."""
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_socket_ioctl(a, srv, FIONBIO, 0)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVLOWAT, 3)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVTIMEO, 0.4)
    sent = []
    start = time.monotonic()
    real_poll = a.poll

    def poll(timeout=0.0):             # the peer trickles a byte every 0.25 s
        if len(sent) < 3 and time.monotonic() - start > 0.25 * (len(sent) + 1):
            sent.append(mtcp_write(b, cli, b"z"))
        return real_poll(timeout)
    a.poll = poll
    assert mtcp_read(a, srv, 10) == b"zzz"                           # 0.75 s > 0.4 s, no timeout
    assert time.monotonic() - start > 0.7


def test_rcvlowat_waits_for_enough_or_returns_short_on_timeout(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair)
    mtcp_socket_ioctl(a, srv, FIONBIO, 0)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVLOWAT, 10)
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVTIMEO, 0.3)
    mtcp_write(b, cli, b"12345")
    t0 = time.monotonic()
    assert mtcp_read(a, srv, 100) == b"12345"                        # short count after the timeout
    assert time.monotonic() - t0 >= 0.28
    mtcp_setsockopt(a, srv, SOL_SOCKET, SO_RCVTIMEO, 3.0)
    mtcp_write(b, cli, b"123456789")
    pair.run_for(0.05)
    mtcp_write(b, cli, b"0")
    t0 = time.monotonic()
    assert mtcp_read(a, srv, 100) == b"1234567890"
    assert time.monotonic() - t0 < 1.0                              # the tenth byte, not the timeout
    # a non-blocking read takes what is there, as Linux does
    mtcp_write(b, cli, b"abc")
    pair.run_for(0.05)
    mtcp_setsock_nonblock(a, srv)
    assert mtcp_read(a, srv, 100) == b"abc"


def test_sndtimeo_times_out_a_blocking_write(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_SNDBUF, 8192))
    drop_all_received(pair, "b")
    mtcp_socket_ioctl(b, cli, FIONBIO, 0)
    mtcp_setsockopt(b, cli, SOL_SOCKET, SO_SNDTIMEO, timeval(0, 300000))
    t0 = time.monotonic()
    assert mtcp_write(b, cli, b"y" * 20000) == 8192                  # a partial count
    assert 0.28 <= time.monotonic() - t0 < 1.0
    with pytest.raises(BlockingIOError):
        mtcp_write(b, cli, b"y")                                    # nothing fits: EAGAIN


def test_sndlowat_decides_partial_writes(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_SNDBUF, 8192))
    drop_all_received(pair, "b")
    assert mtcp_write(b, cli, b"q" * 6000) == 6000                   # 2192 bytes free now
    mtcp_setsockopt(b, cli, SOL_SOCKET, SO_SNDLOWAT, 4096)
    with pytest.raises(BlockingIOError):
        mtcp_write(b, cli, b"q" * 3000)                             # min(4096, 3000) does not fit
    assert mtcp_write(b, cli, b"q" * 2000) == 2000                   # min(4096, 2000) does
    mtcp_setsockopt(b, cli, SOL_SOCKET, SO_SNDLOWAT, 1)
    assert mtcp_write(b, cli, b"q" * 3000) == 192


# --- TCP_CONGESTION, TCP_INFO ----------------------------------------------------------------------------------

def test_congestion_control_by_name(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(
        b, c, IPPROTO_TCP, TCP_CONGESTION, b"newreno"))
    assert conn_of(b, cli).c_info().cc_algo == lib.XC_CC_NEWRENO
    assert mtcp_getsockopt(b, cli, IPPROTO_TCP, TCP_CONGESTION) == "newreno"
    assert mtcp_getsockopt(b, cli, IPPROTO_TCP, TCP_CONGESTION, 16) == b"newreno".ljust(16, b"\0")
    assert conn_of(a, srv).c_info().cc_algo == lib.XC_CC_CUBIC
    mtcp_write(a, srv, os.urandom(300_000))
    pair.run_for(0.2)
    cwnd = conn_of(a, srv).c_info().cwnd
    mtcp_setsockopt(a, srv, IPPROTO_TCP, TCP_CONGESTION, "newreno")   # mid-connection
    assert conn_of(a, srv).c_info().cc_algo == lib.XC_CC_NEWRENO and conn_of(a, srv).c_info().cwnd == cwnd
    assert mtcp_getsockopt(a, srv, IPPROTO_TCP, TCP_CONGESTION) == "newreno"


def test_tcp_info_typed_and_raw(pair):
    a, b = pair.a, pair.b
    lst, srv, cli = connected(pair)
    mtcp_write(b, cli, os.urandom(10_000))
    pair.run_for(0.1)
    info = mtcp_getsockopt(b, cli, IPPROTO_TCP, TCP_INFO)
    assert isinstance(info, tcp_info)
    assert info.tcpi_state == 1 and info.tcpstate == TcpState.ESTABLISHED   # Linux's number
    assert info.tcpi_snd_mss == 1448 and info.tcpi_options == 7
    assert info.tcpi_snd_wscale == 7 and info.tcpi_rcv_wscale == 7   # for autotuning's 4 MiB
    assert info.tcpi_bytes_acked == 10_000 and info.tcpi_snd_cwnd >= 10
    assert info.tcpi_rtt > 0 and info.tcpi_rto >= 200_000
    assert info.tcpi_snd_ssthresh == 0x7fffffff                      # no loss yet: "infinite"
    raw = mtcp_getsockopt(b, cli, IPPROTO_TCP, TCP_INFO, 1024)
    assert len(raw) == tcp_info.size() == 248
    assert tcp_info.from_bytes(raw).tcpi_bytes_acked == 10_000
    short = mtcp_getsockopt(b, cli, IPPROTO_TCP, TCP_INFO, 104)      # truncated like Linux
    assert len(short) == 104 and tcp_info.from_bytes(short).tcpi_snd_mss == 1448
    assert mtcp_getsockopt(a, lst, IPPROTO_TCP, TCP_INFO).tcpi_state == 10          # LISTEN
    fresh = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    assert mtcp_getsockopt(a, fresh, IPPROTO_TCP, TCP_INFO).tcpi_state == 7         # CLOSE


# --- address options -----------------------------------------------------------------------------------------

def test_reuseaddr_allows_rebinding_over_time_wait():
    with ContextPair(tcp_timewait=30) as p:
        a, b = p.a, p.b
        lst, srv, cli = connected(p)
        mtcp_close(a, srv)                                         # we close first: TIME-WAIT here
        mtcp_close(b, cli)
        assert p.run_until(lambda: any(c.state == TcpState.TIME_WAIT for c in a.engines[0].conns.values()), 3)
        mtcp_close(a, lst)
        s = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
        with pytest.raises(OSError) as e:
            mtcp_bind(a, s, ("0.0.0.0", PORT))
        assert errno_of(e) == errno.EADDRINUSE
        mtcp_setsockopt(a, s, SOL_SOCKET, SO_REUSEADDR, 1)
        mtcp_bind(a, s, ("0.0.0.0", PORT))
        mtcp_listen(a, s, 8)


def test_reuseaddr_between_sockets_but_never_over_a_listener(pair):
    a = pair.a
    s1, s2 = (mtcp_socket(a, AF_INET, SOCK_STREAM, 0) for _ in range(2))
    for s in (s1, s2):
        mtcp_setsockopt(a, s, SOL_SOCKET, SO_REUSEADDR, 1)
    mtcp_bind(a, s1, ("0.0.0.0", PORT))
    mtcp_bind(a, s2, ("0.0.0.0", PORT))                             # both asked: fine
    mtcp_listen(a, s1, 8)
    with pytest.raises(OSError) as e:
        mtcp_listen(a, s2, 8)
    assert errno_of(e) == errno.EADDRINUSE
    s3 = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(a, s3, SOL_SOCKET, SO_REUSEADDR, 1)
    with pytest.raises(OSError) as e:
        mtcp_bind(a, s3, (ADDR_A, PORT))                            # a listener holds it
    assert errno_of(e) == errno.EADDRINUSE


def test_reuseport_lets_two_listeners_share_a_port(pair):
    a, b = pair.a, pair.b
    reuse = lambda s: mtcp_setsockopt(a, s, SOL_SOCKET, SO_REUSEPORT, 1)   # noqa: E731
    l1 = listening(a, setup=reuse)
    l2 = listening(a, setup=reuse)
    clients = []
    for _ in range(2):
        c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
        with pytest.raises(BlockingIOError):
            mtcp_connect(b, c, (ADDR_A, PORT))
        clients.append(c)
    assert pair.run_until(lambda: sum(l.pending() for l in a.table.get(l1).group.listeners) == 2, 3)
    s1, _ = mtcp_accept(a, l1)
    s2, _ = mtcp_accept(a, l2)
    assert {mtcp_getpeername(a, s1), mtcp_getpeername(a, s2)} == {mtcp_getsockname(b, c) for c in clients}
    mtcp_close(a, l1)
    assert a.groups                                                  # l2 still listens
    l3 = mtcp_socket(a, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(OSError) as e:
        mtcp_bind(a, l3, ("0.0.0.0", PORT))                          # without SO_REUSEPORT
    assert errno_of(e) == errno.EADDRINUSE


def test_dontroute_refuses_destinations_off_link(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(b, c, SOL_SOCKET, SO_DONTROUTE, 1)
    with pytest.raises(OSError) as e:
        mtcp_connect(b, c, ("198.19.7.7", 80))
    assert errno_of(e) == errno.ENETUNREACH
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, c, (ADDR_A, 80))                            # on-link: fine
    d = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    with pytest.raises(BlockingIOError):
        mtcp_connect(b, d, ("198.19.7.7", 80))                      # routed: allowed


def test_broadcast_option_does_not_make_tcp_broadcast(pair):
    b = pair.b
    c = mtcp_socket(b, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(b, c, SOL_SOCKET, SO_BROADCAST, 1)
    assert mtcp_getsockopt(b, c, SOL_SOCKET, SO_BROADCAST) == 1
    with pytest.raises(OSError) as e:
        mtcp_connect(b, c, ("255.255.255.255", 80))
    assert errno_of(e) == errno.ENETUNREACH


def test_so_debug_records_a_trace(pair):
    a, b = pair.a, pair.b
    _, srv, cli = connected(pair, client_setup=lambda c: mtcp_setsockopt(b, c, SOL_SOCKET, SO_DEBUG, 1))
    mtcp_write(a, srv, b"hi")
    pair.run_for(0.05)
    trace = b.table.get(cli).trace_log
    whats = [w for _, w, _ in trace]
    assert any(w.startswith("attached") for w in whats) and any("READABLE" in w for w in whats)
    assert not a.table.get(srv).trace_log                           # SO_DEBUG off there


def test_oobinline_is_stored_and_urgent_data_stays_in_band(pair):
    """URG is not acted on: urgent bytes arrive in the stream, which is
    what SO_OOBINLINE asks for (the integration test sends MSG_OOB)."""
    s = mtcp_socket(pair.a, AF_INET, SOCK_STREAM, 0)
    mtcp_setsockopt(pair.a, s, SOL_SOCKET, SO_OOBINLINE, 1)
    assert mtcp_getsockopt(pair.a, s, SOL_SOCKET, SO_OOBINLINE) == 1


def test_listener_buffers_beyond_the_memory_cap_fall_back_to_defaults():
    with ContextPair(buffer_memory_max=2 << 20) as p:
        _, srv, cli = connected(p, server_setup=lambda s: mtcp_setsockopt(p.a, s, SOL_SOCKET, SO_RCVBUF, 4 << 20))
        assert mtcp_getsockopt(p.a, srv, SOL_SOCKET, SO_RCVBUF) == p.a.tunables.rcvbuf   # accepted anyway
        assert p.a.engines[0].buffer_memory <= 2 << 20


def test_so_error_etimedout_when_retransmissions_give_up():
    with ContextPair(tcp_retries=2, rto_min_ms=10, rto_max_ms=40, rto_initial_ms=20) as p:
        _, srv, cli = connected(p)
        drop_all_received(p, "b")                                  # b's data is never ACKed
        mtcp_write(p.b, cli, b"x" * 1000)
        assert p.run_until(lambda: conn_of(p.b, cli).state == TcpState.CLOSED, 5)
        assert mtcp_getsockopt(p.b, cli, SOL_SOCKET, SO_ERROR) == errno.ETIMEDOUT


def test_so_rcvbuf_fixes_the_buffer_autotuning_would_grow(pair):
    a, b = pair.a, pair.b
    _, srv_fixed, cli1 = connected(pair, server_setup=lambda s: mtcp_setsockopt(a, s, SOL_SOCKET, SO_RCVBUF,
                                                                                   60000))
    assert conn_of(a, srv_fixed).c_info().rcv_wscale == 0              # scaled for its own size
    _, srv_auto, cli2 = connected(pair, port=PORT + 1)
    for srv, cli in ((srv_fixed, cli1), (srv_auto, cli2)):
        data, sent, got = os.urandom(3_000_000), 0, 0

        def step():
            nonlocal sent, got
            try:
                sent += mtcp_write(b, cli, data[sent:sent + 262144]) if sent < len(data) else 0
            except BlockingIOError:
                pass
            while True:
                try:
                    got += len(mtcp_read(a, srv, 1 << 20))
                except BlockingIOError:
                    return got == len(data)
        assert pair.run_until(step, 20)
    assert mtcp_getsockopt(a, srv_fixed, SOL_SOCKET, SO_RCVBUF) == 60000
    assert mtcp_getsockopt(a, srv_auto, SOL_SOCKET, SO_RCVBUF) > a.tunables.rcvbuf     # it grew
