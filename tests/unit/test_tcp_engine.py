"""The TCP engine against itself over the in-memory link: handshakes, data,
loss recovery, closes, resets, timeouts, cookies, zero windows, crafted
segments.  The kernel is the peer in tests/integration/test_tcp_*.py."""
import dataclasses
import errno
import hashlib
import os

import pytest

from xdpmtcp._core import lib
from xdpmtcp.phy import FaultInjector
from xdpmtcp.tcp import TcpState
from xdpmtcp.tunables import DEFAULTS
from xdpmtcp.tcp.loopback import ADDR_A, ADDR_B, MAC_A, MAC_B, EnginePair
from xdpmtcp.wire import TcpFlags, TcpOptions, build_tcp_frame, parse_tcp_frame

PORT = 8080


@pytest.fixture
def pair():
    p = EnginePair(tcp_timewait=0.2, fin_wait2_timeout=0.5)
    yield p
    p.close()


def connected(p, port=PORT):
    lst = p.a.listen(port)
    client = p.b.connect((ADDR_A, port))
    assert p.run_until(lambda: lst.pending() and client.state == TcpState.ESTABLISHED, 3)
    return lst, lst.accept(), client


def transfer(p, sender, receiver, data, timeout=30):
    """Send data from one connection to the other; returns what arrived."""
    got = bytearray()
    view = memoryview(data)
    sent = 0

    def step():
        nonlocal sent
        if sent < len(data):
            sent += sender.send(view[sent:sent + 65536])
        while True:
            try:
                chunk = receiver.recv(65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            got.extend(chunk)
        return len(got) >= len(data)

    assert p.run_until(step, timeout), "transfer stalled at %d of %d bytes" % (len(got), len(data))
    return bytes(got)


def test_handshake_negotiates_options(pair):
    _, server, client = connected(pair)
    for conn in (server, client):
        info = conn.info()
        assert info["tcpi_options"] == 7                     # TS, SACK, WS
        assert info["tcpi_snd_mss"] == 1460 - 12
        assert info["tcpi_rcv_wscale"] == 7                  # room to autotune to 4 MiB
        assert info["tcpi_snd_cwnd"] == 10                   # RFC 6928
    assert server.local == (ADDR_A, PORT) and server.remote == client.local
    assert 61000 <= client.local[1] <= 61999


def test_data_both_ways_byte_exact(pair):
    _, server, client = connected(pair)
    up = os.urandom(300_000)
    down = os.urandom(200_000)
    assert transfer(pair, client, server, up) == up
    assert transfer(pair, server, client, down) == down
    assert server.counters()["bytes_received"] == len(up)
    assert client.counters()["bytes_acked"] == len(up)
    assert pair.a.c_stats()["fast_path"] > 100               # data took the C path


def test_bulk_with_faults_recovers_by_sack(pair):
    pair.faults("drop=0.02,reorder=0.02,dup=0.01,seed=3")
    _, server, client = connected(pair)
    data = os.urandom(4_000_000)
    got = transfer(pair, client, server, data, timeout=60)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    c = client.counters()
    assert c["retrans_segs"] > 0 and c["recoveries"] > 0
    assert c["sack_retrans"] > 0                             # RFC 6675 chose them
    assert server.counters()["ooo_segs_in"] > 0
    assert server.counters()["dsacks_sent"] > 0 and c["dsacks_in"] > 0    # RFC 2883 both ways


def test_bulk_without_sack_recovers_by_newreno():
    with EnginePair(sack=False) as p:
        p.faults("drop=0.02,seed=5")
        _, server, client = connected(p)
        data = os.urandom(2_000_000)
        assert transfer(p, client, server, data, timeout=60) == data
        c = client.counters()
        assert client.info()["tcpi_options"] & 2 == 0
        assert c["fast_retrans"] > 0 and c["sack_retrans"] == 0


def test_no_timestamps_peer_works():
    with EnginePair(tunables_b=dataclasses.replace(DEFAULTS, timestamps=False)) as p:
        _, server, client = connected(p)
        assert server.info()["tcpi_options"] & 1 == 0
        assert server.info()["tcpi_snd_mss"] == 1460
        data = os.urandom(100_000)
        assert transfer(p, server, client, data) == data


def test_client_closes_first_server_sees_eof(pair):
    _, server, client = connected(pair)
    client.send(b"bye")
    client.close()
    assert pair.run_until(lambda: server.state == TcpState.CLOSE_WAIT, 3)
    assert server.recv(100) == b"bye"
    assert server.recv(100) == b""                           # EOF
    server.close()
    assert pair.run_until(lambda: pair.a.tcb_count() == 0 and pair.b.tcb_count() == 0, 3)


def test_server_closes_first_and_time_wait_expires(pair):
    _, server, client = connected(pair)
    server.close()
    assert pair.run_until(lambda: client.state == TcpState.CLOSE_WAIT, 3)
    client.close()
    assert pair.run_until(lambda: server.released, 3)       # TIME-WAIT 0.2 s then gone
    assert pair.a.tcb_count() == 0 and pair.b.tcb_count() == 0
    assert pair.b.ephemeral.in_use() == 0


def test_no_time_wait_still_acks_the_last_fin():
    with EnginePair(tcp_timewait=0) as p:
        _, server, client = connected(p)
        server.close()                                       # server would go to TIME-WAIT
        assert p.run_until(lambda: client.state == TcpState.CLOSE_WAIT, 3)
        client.close()                                       # LAST-ACK: waits for our ACK
        assert p.run_until(lambda: client.released and server.released, 3)
        # without the ACK the client resent its FIN and the server, its block gone, reset it
        assert p.a.c_stats()["rst_sent"] == 0 and p.b.c_stats()["rst_sent"] == 0
        assert client.counters()["retrans_segs"] == 0


def test_simultaneous_close(pair):
    _, server, client = connected(pair)
    server.close()
    client.close()                                            # both FINs cross
    assert pair.run_until(lambda: pair.a.tcb_count() == 0 and pair.b.tcb_count() == 0, 5)


def test_half_close_keeps_receiving(pair):
    _, server, client = connected(pair)
    client.shutdown_write()
    assert pair.run_until(lambda: server.state == TcpState.CLOSE_WAIT, 3)
    data = os.urandom(50_000)
    assert transfer(pair, server, client, data) == data     # FIN-WAIT-2 still reads
    assert client.state == TcpState.FIN_WAIT_2


def test_abort_gives_peer_econnreset(pair):
    _, server, client = connected(pair)
    server.abort()
    assert pair.run_until(lambda: client.error or client.state == TcpState.CLOSED, 3)
    with pytest.raises(ConnectionResetError):
        client.recv(10)


def test_connect_to_closed_port_is_refused(pair):
    client = pair.b.connect((ADDR_A, 9))
    assert pair.run_until(lambda: client.state == TcpState.CLOSED, 3)
    assert client.take_error() == errno.ECONNREFUSED


def test_vanished_peer_times_out():
    with EnginePair(tcp_retries=3, rto_min_ms=10, rto_max_ms=50, rto_initial_ms=20) as p:
        _, server, client = connected(p)
        client.send(b"x" * 1000)
        p.port_b.add(FaultInjector.parse("drop=1,direction=rx"))   # b hears nothing more
        assert p.run_until(lambda: client.state == TcpState.CLOSED, 5)
        assert client.take_error() == errno.ETIMEDOUT
        assert client.counters()["rto_events"] == 3          # tcp_retries


def test_a_closed_window_is_probed_never_taken_for_loss():
    # nothing is lost: the sender probes without data (Linux's probe), so
    # no RTO, no retransmission, no cwnd collapse; and it never gives up on
    # a peer that answers, however long its application does not read
    with EnginePair(rcvbuf=32768, rcvbuf_max=0, tcp_retries=2) as p:
        _, server, client = connected(p)
        data = os.urandom(200_000)
        assert client.send(data) == len(data)
        p.run_for(4.0)                                        # probes at 0.2, 0.6, 1.4, 3.0 s
        c, info = client.counters(), client.c_info()
        assert c["zero_window_probes"] >= 3 > 2               # past tcp_retries, answered
        assert c["rto_events"] == c["retrans_segs"] == 0 and info.ca_state == 0
        assert info.cwnd > 10 * info.snd_mss and client.state == TcpState.ESTABLISHED
        got = bytearray()
        while len(got) < len(data):
            try:
                got += server.recv(1 << 20)
            except BlockingIOError:
                p.poll()
        assert bytes(got) == data and client.counters()["retrans_segs"] == 0
        assert server.counters()["dup_segs_in"] == 0


def test_zero_window_probes_then_reader_catches_up():
    with EnginePair(rcvbuf=32768, rcvbuf_max=0) as p:     # no autotuning here
        _, server, client = connected(p)
        data = os.urandom(200_000)
        sent = client.send(data)
        p.run_for(1.0)                                        # reader asleep
        assert server.readable_bytes == 32768                 # buffer full, nothing lost
        assert client.c_info().snd_wnd == 0
        assert client.counters()["zero_window_probes"] >= 1
        assert server.counters()["out_of_window"] >= 1        # the probe (below rcv_nxt), answered
        assert sent == len(data)                              # the send buffer took it all
        rest = bytearray(server.recv(1 << 20))
        while len(rest) < len(data):
            assert p.run_until(lambda: server.readable_bytes, 5)
            rest += server.recv(1 << 20)
        assert bytes(rest) == data


def test_syn_cookies_when_syn_queue_full():
    with EnginePair(syn_backlog=0) as p:
        lst = p.a.listen(PORT)
        client = p.b.connect((ADDR_A, PORT))
        assert p.run_until(lambda: lst.pending(), 3)
        server = lst.accept()
        assert lst.stats.cookies_sent == 1 and lst.stats.cookies_accepted == 1
        data = os.urandom(20_000)
        assert transfer(p, client, server, data) == data
        assert transfer(p, server, client, data) == data


def test_many_connections_open_and_close_cleanly(pair):
    lst = pair.a.listen(PORT, backlog=512)
    clients = [pair.b.connect((ADDR_A, PORT)) for _ in range(300)]
    assert pair.run_until(lambda: lst.pending() == 300, 10)
    servers = [lst.accept() for _ in range(300)]
    for i, c in enumerate(clients):
        c.send(b"%d" % i)
    assert pair.run_until(lambda: all(s.readable_bytes for s in servers), 5)
    for c in clients:
        c.close()
    for s in servers:
        assert s.recv(16)
        assert pair.run_until(lambda: s.state == TcpState.CLOSE_WAIT, 3)
        s.close()
    assert pair.run_until(lambda: pair.a.tcb_count() == 0 and pair.b.tcb_count() == 0, 5)
    assert pair.b.ephemeral.in_use() == 0
    assert pair.a.buffer_memory == 0 and pair.b.buffer_memory == 0
    # 300 active and 300 passive opens and closes, all in C: Python saw no segment
    for eng in (pair.a, pair.b):
        c = eng.c_stats()
        assert c["slow_path"] == 0 and eng.stats.slow_segments == 0, c
        assert c["handshake_segments"] + c["listen_segments"] >= 300


# --- crafted segments (RFC 5961) -------------------------------------------------


def inject(p, conn_b, flags, seq, ack, payload=b"", ts=None):
    """A segment from b's tuple to a, built by hand and sent on b's port."""
    opts = TcpOptions(timestamp=ts) if ts else None
    frame = build_tcp_frame(MAC_B, MAC_A, ADDR_B, ADDR_A, conn_b.local[1], PORT, seq, ack,
                            flags, 1000, options=opts, payload=payload)
    p.port_b.tx([frame])
    p.port_b.flush()


def ts_of(conn):
    return (conn.c_info().ts_recent + 1, 0)


def test_in_window_rst_gets_challenge_ack(pair):
    _, server, client = connected(pair)
    before = server.counters()["challenge_acks"]
    t = server.c_info()
    inject(pair, client, TcpFlags.RST, (t.rcv_nxt + 100) & 0xffffffff, 0)
    pair.run_for(0.05)
    assert server.counters()["challenge_acks"] == before + 1
    assert server.state == TcpState.ESTABLISHED
    data = os.urandom(10_000)
    assert transfer(pair, client, server, data) == data


def test_exact_rst_resets(pair):
    _, server, client = connected(pair)
    inject(pair, client, TcpFlags.RST, server.c_info().rcv_nxt, 0)
    assert pair.run_until(lambda: server.error == errno.ECONNRESET, 2)


def test_syn_on_established_gets_challenge_ack(pair):
    _, server, client = connected(pair)
    inject(pair, client, TcpFlags.SYN, 12345, 0)
    pair.run_for(0.05)
    assert server.counters()["challenge_acks"] == 1
    assert server.state == TcpState.ESTABLISHED


def test_out_of_window_data_is_acked_not_taken(pair):
    _, server, client = connected(pair)
    t = server.c_info()
    inject(pair, client, TcpFlags.ACK | TcpFlags.PSH, (t.rcv_nxt + 10_000_000) & 0xffffffff,
           t.snd_nxt, b"evil", ts=ts_of(server))
    pair.run_for(0.05)
    assert server.counters()["out_of_window"] == 1
    assert server.readable_bytes == 0 and server.counters()["bytes_received"] == 0


def test_ack_for_unsent_data_gets_challenge_ack(pair):
    _, server, client = connected(pair)
    t = server.c_info()
    inject(pair, client, TcpFlags.ACK, t.rcv_nxt, (t.snd_max + 100000) & 0xffffffff,
           ts=ts_of(server))
    pair.run_for(0.05)
    assert server.counters()["challenge_acks"] == 1
    assert server.state == TcpState.ESTABLISHED


def test_challenge_acks_are_rate_limited():
    # the engine-wide budget (random in [3, 8) a second); tests/unit/
    # test_tcp_hardening.py has the per-connection interval
    with EnginePair(challenge_ack_limit=5, invalid_ratelimit_ms=0) as p:
        _, server, client = connected(p)
        for i in range(20):
            inject(p, client, TcpFlags.SYN, 1000 + i, 0)
        p.run_for(0.1)
        sent = server.counters()["challenge_acks"]
        assert 3 <= sent < 8
        assert p.a.c_stats()["challenge_acks_limited"] == 20 - sent


# --- timers and the rest of the state machine ------------------------------------


def test_a_lost_segment_that_fills_a_small_window_is_retransmitted():
    # 4096-byte window: 1448 + 1448 + 1200; when the 1200 is lost the peer
    # offers exactly 1200, under sender SWS avoidance's threshold; the RTO's
    # retransmission must go anyway (it once stalled the connection forever)
    with EnginePair(rcvbuf=4096, rcvbuf_max=0) as p:
        _, server, client = connected(p)
        p.faults("drop=0.3,seed=3", side="a")
        data = os.urandom(20000)
        assert transfer(p, client, server, data, timeout=20) == data
        assert client.counters()["rto_retrans"] >= 1


def test_simultaneous_open():
    with EnginePair() as p:
        # both sides connect to each other's port at once: SYNs cross
        a = p.a.connect((ADDR_B, 61500))
        b_port = a.local[1]
        p.b.ephemeral.take = lambda in_use: 61500        # b's local port is a's target
        b = p.b.connect((ADDR_A, b_port))
        assert p.run_until(lambda: a.state == TcpState.ESTABLISHED and
                           b.state == TcpState.ESTABLISHED, 3)
        data = os.urandom(10_000)
        assert transfer(p, a, b, data) == data


def test_close_during_simultaneous_open_sends_fin():
    with EnginePair() as p:
        a = p.a.connect((ADDR_B, 61501))
        p.b.ephemeral.take = lambda in_use: 61501
        b = p.b.connect((ADDR_A, a.local[1]))
        p.b.poll()                                        # b's SYN leaves with its batch
        p.a.poll()                                        # a takes b's SYN: SYN-RECEIVED
        assert a.state == TcpState.SYN_RCVD
        a.close()                                         # RFC 9293: FIN once synchronized
        assert p.run_until(lambda: b.state == TcpState.CLOSE_WAIT, 3)
        assert not a.released and a.orphan


def test_keepalive_probes_then_timeout():
    with EnginePair() as p:
        _, server, client = connected(p)
        client.keepalive_idle_s, client.keepalive_intvl_s, client.keepalive_cnt = 0.1, 0.05, 3
        client.set_keepalive(True)
        p.run_for(0.4)
        assert client.counters()["keepalive_probes"] >= 2
        assert client.state == TcpState.ESTABLISHED          # answered: still alive
        p.port_a.add(FaultInjector.parse("drop=1,direction=rx"))   # server goes deaf
        assert p.run_until(lambda: client.state == TcpState.CLOSED, 3)
        assert client.take_error() == errno.ETIMEDOUT


def test_idle_timeout_resets():
    # only the server side has the idle timeout: with both, whichever fired
    # first would reset the other, and the test raced
    with EnginePair(tunables_a=dataclasses.replace(DEFAULTS, tcp_timeout=0.3)) as p:
        _, server, client = connected(p)
        assert p.run_until(lambda: server.state == TcpState.CLOSED, 3)
        assert server.take_error() == errno.ETIMEDOUT
        assert p.run_until(lambda: client.error == errno.ECONNRESET, 2)


def test_tail_loss_probe_recovers_without_rto():
    with EnginePair() as p:
        _, server, client = connected(p)
        transfer(p, client, server, os.urandom(100_000))     # an RTT sample
        # the whole of a short burst is lost: no dupACK will ever come
        p.port_b.add(FaultInjector.parse("drop=1,direction=tx"))
        client.send(os.urandom(3000))
        p.b.poll()
        FaultInjector.uninstall(p.port_b)
        assert client.c_info().snd_max != client.c_info().snd_una
        got = bytearray()
        assert p.run_until(lambda: got.extend(server.recv(1 << 16)) if server.readable_bytes
                           else len(got) >= 3000, 1.0)
        c = client.counters()
        assert c["tlp_probes"] >= 1 and c["rto_events"] == 0


def test_rto_resends_a_small_segment_whose_ack_was_lost():
    """After an RTO snd_nxt goes back to snd_una while snd_max stays: Nagle
    must not hold that retransmission for the unacked data it is (found
    with 20,000 idle echo connections: each whose ACK the full RX ring
    dropped kept its line in the send buffer, retransmitting nothing)."""
    with EnginePair() as p:
        _, server, client = connected(p)
        p.port_a.add(FaultInjector.parse("drop=1,direction=rx"))   # the server hears no ACK
        server.send(b"hello 1234\n")
        assert p.run_until(lambda: client.readable_bytes == 11, 2)
        assert p.run_until(lambda: server.counters()["rto_events"] >= 1, 10)
        FaultInjector.uninstall(p.port_a)
        assert p.run_until(lambda: server.c_info().snd_una == server.c_info().snd_max, 10), \
            "snd_una %d snd_nxt %d snd_max %d" % (server.c_info().snd_una, server.c_info().snd_nxt, server.c_info().snd_max)
        assert server.counters()["rto_retrans"] >= 1
        assert server.engine.buffer_memory == 0                   # the line's storage went back


def test_isn_is_keyed_and_clocked():
    t0 = 10**12
    a = lib.xc_isn(1, 2, 3, 4, t0)
    assert lib.xc_isn(1, 2, 3, 4, t0) == a                   # deterministic per key
    assert lib.xc_isn(1, 2, 3, 5, t0) != a                   # another tuple: unrelated
    assert (lib.xc_isn(1, 2, 3, 4, t0 + 4_000_000) - a) % 2**32 == 1000   # 4 µs clock
    for age_min, ok in ((0, True), (1, True), (2, False)):
        c = lib.xc_syncookie_make(1, 2, 3, 4, 777, 2, t0)
        assert (lib.xc_syncookie_check(1, 2, 3, 4, 777, c, t0 + age_min * 60 * 10**9) == 2) == ok
    assert lib.xc_syncookie_check(1, 2, 3, 4, 778, c, t0) == -1          # other peer ISN


def test_receive_buffer_autotunes_within_the_memory_cap():
    with EnginePair(rcvbuf=65536, rcvbuf_max=1 << 20) as p:
        _, server, client = connected(p)
        data = os.urandom(3_000_000)
        assert transfer(p, client, server, data) == data
        assert server.c_info().rcvbuf > 65536 and p.a.c_stats()["rcvbuf_grown"] >= 1
        assert server.c_info().rcvbuf <= 1 << 20
        assert p.a.buffer_capacity == server.c_info().rcvbuf + server.c_info().sndbuf
        assert p.a.buffer_memory == 0                            # all read: no storage held
    with EnginePair(rcvbuf=65536, rcvbuf_max=1 << 20, buffer_memory_max=65536 + 262144) as p:   # room for one connection's buffers, full, no more
        _, server, client = connected(p)
        assert transfer(p, client, server, os.urandom(1_000_000)) is not None
        assert server.c_info().rcvbuf == 65536 and p.a.c_stats()["rcvbuf_grow_refused"] >= 1


def test_sack_blocks_report_the_newest_segment_first_past_five_holes(pair, tmp_path):
    """With more out-of-order blocks than an ACK has room for, the first
    block is still the one the newest segment landed in, then the most
    recently reported ones (RFC 2018 §4). Found by the impair grid: past
    five holes the newest block went unreported, and the kernel's sender
    resent data the stack held (its D-SACKs proved it)."""
    from xdpmtcp.phy import PcapSource, PcapTap
    _, server, client = connected(pair)
    t = server.c_info()
    mss = 1000
    pcap = str(tmp_path / "acks.pcap")
    pair.port_a.add(PcapTap(pcap))
    for i in range(8):                       # hole, block, hole, block, ...
        seq = (t.rcv_nxt + (2 * i + 1) * mss) & 0xffffffff
        inject(pair, client, TcpFlags.ACK, seq, t.snd_nxt, os.urandom(mss), ts=ts_of(server))
        pair.a.poll()
    PcapTap.uninstall(pair.port_a)
    acks = []
    with PcapSource(pcap) as src:
        for fr in src.frames():
            seg = parse_tcp_frame(bytes(fr.data)).tcp
            if seg.src_port == PORT and seg.options.sack_blocks:
                acks.append(seg.options.sack_blocks)
    assert len(acks) == 8 and server.counters()["ooo_segs_in"] == 8
    for k, blocks in enumerate(acks):
        newest = ((t.rcv_nxt + (2 * k + 1) * mss) & 0xffffffff, (t.rcv_nxt + (2 * k + 2) * mss) & 0xffffffff)
        assert blocks[0] == newest                                 # the block just filled, first
        assert blocks[1:] == acks[k - 1][:len(blocks) - 1] if k else len(blocks) == 1   # then the latest reported
