"""Protocol hardening over the in-memory link: challenge ACKs limited per
connection and by a random engine-wide budget (RFC 5961 §7, CVE-2016-5696),
FIN/NULL/Xmas probes dropped by a listener (RFC 9293 §3.10.7.2), and TSval
offsets and IP IDs of each connection's own (no uptime, no global counter).
What the peer sees is read from a pcap tap on its port."""
import time

import pytest

from xdpmtcp._core import ffi, lib
from xdpmtcp.phy import PcapSource, PcapTap
from xdpmtcp.tcp import TcpState
from xdpmtcp.tcp.loopback import ADDR_A, ADDR_B, MAC_A, MAC_B, EnginePair
from xdpmtcp.wire import MalformedFrame, TcpFlags, TcpOptions, build_tcp_frame, parse_tcp_frame

PORT = 8080


@pytest.fixture
def pair():
    p = EnginePair(tcp_timewait=0.2)
    yield p
    p.close()


def connected(p, port=PORT, local_port=None):
    lst = p.a.listeners.get((None, port)) or p.a.listen(port)
    client = p.b.connect((ADDR_A, port), local_port=local_port)
    assert p.run_until(lambda: lst.pending() and client.state == TcpState.ESTABLISHED, 3)
    return lst.accept(), client


class Wire:
    """Every frame b's port receives and sends, from a pcap tap."""

    def __init__(self, p, path):
        self.port, self.path = p.port_b, str(path)
        self.port.add(PcapTap(self.path))

    def frames(self):
        PcapTap.uninstall(self.port)
        out = []
        with PcapSource(self.path) as src:
            for fr in src.frames():
                try:
                    out.append(parse_tcp_frame(bytes(fr.data), check_flags=False))
                except MalformedFrame:
                    pass
        return out


def from_a(frames, port=None):
    """Frames a sent (to b's port `port`, if given)."""
    return [f for f in frames if f.ip.src == ADDR_A and (port is None or f.tcp.dst_port == port)]


def pure_acks(frames):
    return [f for f in frames if f.tcp.flags == TcpFlags.ACK and not f.tcp.payload]


def segment(sport, flags, seq, ack=0, payload=b"", ts=None, dport=PORT):
    return build_tcp_frame(MAC_B, MAC_A, ADDR_B, ADDR_A, sport, dport, seq, ack, flags, 1000,
                           options=TcpOptions(timestamp=ts) if ts else None, payload=payload)


def inject(p, frames):
    p.port_b.tx(list(frames))
    p.port_b.flush()


def in_window_rsts(server, n, offset=100):
    """RSTs a blind attacker guessed right: in the window, not at RCV.NXT."""
    t = server.c_info()
    return [segment(server.remote[1], TcpFlags.RST, (t.rcv_nxt + offset + i) & 0xffffffff)
            for i in range(n)]


def settle(p):
    p.run_for(0.1)


# --- challenge ACKs --------------------------------------------------------------------


def test_one_challenge_ack_per_connection_per_interval(pair, tmp_path):
    server, client = connected(pair)
    settle(pair)
    wire = Wire(pair, tmp_path / "b.pcap")
    inject(pair, in_window_rsts(server, 20))
    pair.run_for(0.1)
    c = server.counters()
    assert c["challenge_acks"] == 1 and c["challenge_acks_skipped"] == 19
    assert pair.a.c_stats()["challenge_acks_conn_limited"] == 19
    time.sleep(0.5)                                      # invalid_ratelimit_ms: 500
    inject(pair, in_window_rsts(server, 20))
    pair.run_for(0.1)
    assert server.counters()["challenge_acks"] == 2
    acks = pure_acks(from_a(wire.frames()))
    assert len(acks) == 2 and all(f.tcp.ack == server.c_info().rcv_nxt for f in acks)
    assert server.state == TcpState.ESTABLISHED and client.state == TcpState.ESTABLISHED


def test_unacceptable_pure_acks_answered_once_data_always(pair, tmp_path):
    server, client = connected(pair)
    settle(pair)
    t = server.c_info()
    far = (t.rcv_nxt + 10_000_000) & 0xffffffff
    ts = (t.ts_recent + 1, 0)
    wire = Wire(pair, tmp_path / "b.pcap")
    for _ in range(5):               # one batch each: a batch's ACKs would fold into one
        inject(pair, [segment(client.local[1], TcpFlags.ACK, far, t.snd_nxt, ts=ts)])
        pair.run_for(0.02)
    assert len(pure_acks(from_a(wire.frames()))) == 1
    c = server.counters()
    assert c["out_of_window"] == 5 and c["oow_acks_skipped"] == 4
    assert pair.a.c_stats()["oow_acks_limited"] == 4
    # data is exempt (a retransmission whose ACK was lost must be answered)
    wire = Wire(pair, tmp_path / "b2.pcap")
    for _ in range(5):
        inject(pair, [segment(client.local[1], TcpFlags.ACK | TcpFlags.PSH, far, t.snd_nxt, b"x", ts=ts)])
        pair.run_for(0.02)
    assert len(pure_acks(from_a(wire.frames()))) == 5
    assert server.counters()["oow_acks_skipped"] == 4 and server.counters()["out_of_window"] == 10


def test_interval_zero_turns_the_per_connection_limit_off():
    with EnginePair(invalid_ratelimit_ms=0) as p:
        server, _ = connected(p)
        inject(p, in_window_rsts(server, 20))
        p.run_for(0.1)
        assert server.counters()["challenge_acks"] == 20
        assert p.a.c_stats()["challenge_acks_conn_limited"] == 0


def test_engine_budget_is_drawn_at_random_each_second():
    """With the per-connection interval off, the engine-wide budget of each
    second lies in [limit/2, 3*limit/2) and changes from second to second.
    The segments go through the engine's batch call with an explicit clock, one
    simulated second after the other."""
    limit, probes, seconds = 10, 40, 12
    with EnginePair(challenge_ack_limit=limit, invalid_ratelimit_ms=0) as p:
        server, _ = connected(p)
        frames = in_window_rsts(server, probes)
        first = (time.monotonic_ns() // 10**9 + 10) * 10**9
        eng, res = p.a, ffi.new("struct xc_poll_result *")
        sent = []
        for k in range(seconds):
            before = server.counters()["challenge_acks"]
            inject(p, frames)
            while True:     # the engine's own batch call, on a clock of our own
                lib.xc_engine_poll(eng.raw, eng.burst.raw, eng._slow, first + k * 10**9, res)
                lib.xc_engine_flush(eng.raw, first + k * 10**9)
                if not res.frames:
                    break
            sent.append(server.counters()["challenge_acks"] - before)
        assert all(limit // 2 <= n < limit // 2 + limit for n in sent), sent
        assert len(set(sent)) > 1, sent
        assert p.a.c_stats()["challenge_acks_limited"] == probes * seconds - sum(sent)
        assert server.counters()["challenge_acks_skipped"] == probes * seconds - sum(sent)


def test_challenge_ack_count_tells_an_attacker_nothing(tmp_path):
    """CVE-2016-5696: an off-path attacker sends guesses to a victim's tuple,
    then counts the challenge ACKs its own connection gets for a burst of
    in-window RSTs.  With one engine-wide budget of 1000, 100 right guesses
    made it 900 instead of 1000.  Now the count is the same whether the
    guesses were right or wrong."""
    with EnginePair() as p:
        victim, _ = connected(p)
        attacker, attacker_client = connected(p)
        settle(p)
        seen = {}
        for guess in ("right", "wrong"):
            time.sleep(1.1)                              # a new second and a new interval
            wire = Wire(p, tmp_path / (guess + ".pcap"))
            before = victim.counters()["challenge_acks"]
            offset = 100 if guess == "right" else 1 << 30    # in or far out of the window
            inject(p, in_window_rsts(victim, 100, offset) + in_window_rsts(attacker, 1000))
            p.run_for(0.1)
            drawn = victim.counters()["challenge_acks"] - before
            seen[guess] = (drawn, len(pure_acks(from_a(wire.frames(), attacker_client.local[1]))))
        assert seen["right"][0] == 1 and seen["wrong"][0] == 0     # the victim did draw one
        assert seen["right"][1] == seen["wrong"][1] == 1, seen     # the attacker cannot tell
        assert victim.state == attacker.state == TcpState.ESTABLISHED


# --- probes to a listening port ------------------------------------------------------------

SCANS = {"FIN": TcpFlags.FIN, "NULL": TcpFlags(0), "Xmas": TcpFlags.FIN | TcpFlags.PSH | TcpFlags.URG}


def test_fin_null_xmas_to_listener_are_dropped(pair, tmp_path):
    lst = pair.a.listen(PORT)
    wire = Wire(pair, tmp_path / "b.pcap")
    inject(pair, [segment(40000 + i, flags, 1000) for i, flags in enumerate(SCANS.values())])
    pair.run_for(0.1)
    assert from_a(wire.frames()) == []                   # nmap: open|filtered
    assert lst.stats.probes_dropped == 3
    assert pair.a.c_stats()["rst_sent"] == 0 and pair.a.tcb_count() == 0


def test_listener_still_resets_bad_acks_and_closed_ports_reset_probes(pair, tmp_path):
    lst = pair.a.listen(PORT)
    wire = Wire(pair, tmp_path / "b.pcap")
    inject(pair, [segment(40000, TcpFlags.ACK, 1000, 0x12345678),          # not a cookie
                  segment(40001, TcpFlags.FIN, 2000, dport=PORT + 1)])      # nobody listens
    pair.run_for(0.1)
    got = {f.tcp.dst_port: f for f in from_a(wire.frames())}
    bad_ack, closed = got[40000].tcp, got[40001].tcp
    assert bad_ack.flags == TcpFlags.RST and bad_ack.seq == 0x12345678      # RFC 9293 §3.10.7.2
    assert closed.flags == TcpFlags.RST | TcpFlags.ACK and closed.ack == 2001
    assert pair.a.c_stats()["rst_sent"] == 2 and lst.stats.probes_dropped == 0
    assert lst.stats.cookies_rejected == 1


# --- TSval and IP ID: nothing shared between connections -----------------------------------


def ts_offset_seen(f, sent_ns):
    """TSval minus the sender's millisecond clock: the offset on the wire."""
    return (f.tcp.options.timestamp[0] - sent_ns // 10**6) & 0xffffffff


def modular_gap(a, b, bits=32):
    d = (a - b) % (1 << bits)
    return min(d, (1 << bits) - d)


def test_tsval_offsets_are_per_connection_and_not_uptime(pair, tmp_path):
    wire = Wire(pair, tmp_path / "b.pcap")
    conns = []
    for _ in range(4):
        conns.append(connected(pair))
    frames = wire.frames()
    now_ns = time.monotonic_ns()
    offsets = []
    for server, client in conns:
        syn = next(f for f in frames if f.ip.src == ADDR_B and f.tcp.flags == TcpFlags.SYN
                   and f.tcp.src_port == client.local[1])
        synack = next(f for f in from_a(frames, client.local[1]) if f.tcp.flags & TcpFlags.SYN)
        # TSval = the 1 ms clock + the connection's offset, on both sides
        for conn, f in ((client, syn), (server, synack)):
            assert conn.c_info().ts_offset != 0
            assert modular_gap(ts_offset_seen(f, now_ns), conn.c_info().ts_offset) < 5000
        offsets += [client.c_info().ts_offset, server.c_info().ts_offset]
    # eight connection ends, eight unrelated offsets (a shared clock would
    # put them all within the seconds this test took)
    assert all(modular_gap(a, b) > 10_000 for i, a in enumerate(offsets) for b in offsets[i + 1:]), offsets


def test_reused_tuple_keeps_growing_timestamps():
    """The offset is a keyed hash of the tuple, so a new connection on a
    tuple the peer still holds in TIME-WAIT sends larger TSvals (the peer
    may accept its SYN by them, RFC 6191)."""
    with EnginePair(tcp_timewait=0.05) as p:
        server, client = connected(p, local_port=61234)
        first = (client.c_info().ts_offset, server.c_info().ts_offset)
        client.close()
        server.close()
        assert p.run_until(lambda: client.released and server.released, 3)
        server2, client2 = connected(p, local_port=61234)
        assert (client2.c_info().ts_offset, server2.c_info().ts_offset) == first
        other, _ = connected(p, local_port=61235)
        assert other.c_info().ts_offset != first[1]


def test_ip_ids_count_per_connection_from_random_starts(pair, tmp_path):
    (s1, c1), (s2, c2) = connected(pair), connected(pair)
    settle(pair)
    wire = Wire(pair, tmp_path / "b.pcap")
    for _ in range(5):                                   # interleaved traffic
        s1.send(b"x" * 100)
        pair.run_for(0.01)
        s2.send(b"y" * 100)
        pair.run_for(0.01)
    settle(pair)
    frames = wire.frames()
    ids = {}
    for conn in (c1, c2):
        seq = [f.ip.ident for f in from_a(frames, conn.local[1])]
        assert len(seq) >= 5
        # its own counter: consecutive whatever the other connection sent
        assert all((b - a) & 0xffff == 1 for a, b in zip(seq, seq[1:])), seq
        ids[conn] = seq
    assert all(f.ip.dont_fragment for f in from_a(frames))
    # not one counter shared by both
    assert modular_gap(ids[c1][0], ids[c2][0], 16) > 20, ids


def test_answers_without_a_connection_carry_ip_id_zero(pair, tmp_path):
    lst = pair.a.listen(PORT)
    wire = Wire(pair, tmp_path / "b.pcap")
    inject(pair, [segment(40000, TcpFlags.ACK, 1000, 5000, dport=PORT + 1)])   # RST
    client = pair.b.connect((ADDR_A, PORT))
    assert pair.run_until(lambda: lst.pending() and client.state == TcpState.ESTABLISHED, 3)
    settle(pair)
    frames = from_a(wire.frames())
    rst = next(f for f in frames if f.tcp.flags & TcpFlags.RST)
    synack = next(f for f in frames if f.tcp.flags & TcpFlags.SYN)
    assert rst.ip.ident == 0 and synack.ip.ident == 0     # as Linux: DF set, no counter
    assert rst.ip.dont_fragment and synack.ip.dont_fragment
