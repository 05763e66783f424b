"""The monitor core's flow table, caps and their policies, orphans,
mid-stream pickup, timeouts, malformed input and the shared ring."""
import struct

import pytest

from montraffic import ACK, FIN, PSH, RST, SYN, Conv, Run, burst_of
from xdpmtcp._core import ffi, lib
from xdpmtcp.monitor.core import BOTH, CLI, SVR, Ev, Monitor
from xdpmtcp.storage.ring import Ring

S = 1_000_000_000


def ends(run):
    return [(e[1], e[5]) for e in run.of(Ev.CONN_END)]


# ---------------------------------------------------------------- orphans, pickup

def test_non_syn_of_unknown_flow_is_an_orphan():
    c = Conv()
    c.handshake()
    frames = [c.c(ACK | PSH, b"data"), c.s(ACK), c.c(RST)]
    r = Run().feed(frames)
    orph = r.of(Ev.ORPHAN)
    assert [(e[1], e[2], e[3]) for e in orph] == [(0, 0, 3), (0, 1, 3), (0, 2, 3)]
    st = r.mon.stats()
    assert st["orphans"] == 3 and st["flows_created"] == 0


def test_midstream_pickup_roles_by_port_and_inferred_isns():
    c = Conv(cport=50000, sport=443)
    c.handshake()
    # the server speaks first in the capture: low port names it the server
    frames = [c.s(ACK | PSH, b"hello"), c.c(ACK | PSH, b"abc"), c.s(ACK | PSH, b" world")]
    frames += c.close()
    r = Run(midstream=True).feed(frames)
    f = r.ended[1]
    assert f["client"] == ("198.18.0.1", 50000) and f["server"] == ("198.18.0.2", 443)
    assert f["midstream"] and f["roles_guessed"]
    assert bytes(r.data[(1, CLI)]) == b"hello world" and bytes(r.data[(1, SVR)]) == b"abc"
    assert r.ended[1]["conn"]["conn_state"] == "OTH"
    starts = [(e[3], e[4]) for e in r.of(Ev.CONN_START)]
    assert starts == [(CLI, 0), (SVR, 0)]
    assert r.mon.stats()["flows_midstream"] == 1
    # a RST of an unknown flow never starts one
    r2 = Run(midstream=True).feed([Conv().c(RST, seq=5)])
    assert r2.mon.stats()["orphans"] == 1


def test_midstream_pickup_from_a_synack():
    c = Conv()
    c.c(SYN, ack=0)                                   # not captured
    frames = [c.s(SYN | ACK), c.c(ACK), c.c(ACK | PSH, b"req"), c.s(ACK | PSH, b"resp")]
    r = Run(midstream=True).feed(frames + c.close())
    f = r.ended[1]
    assert f["midstream"] and not f["roles_guessed"]
    assert f["client"][1] == 40000
    assert bytes(r.data[(1, SVR)]) == b"req" and bytes(r.data[(1, CLI)]) == b"resp"
    assert (f["cli"]["state"], f["svr"]["state"]) == ("TIME_WAIT", "CLOSED")


# ---------------------------------------------------------------- reuse, late packets

def test_port_reuse_after_close_makes_a_new_flow_and_late_packets_are_counted():
    c = Conv()
    first = c.handshake() + [c.c(ACK | PSH, b"one")] + c.close()
    late = c.c(ACK)                                   # a duplicate after the end
    c2 = Conv(ciss=900_000, siss=77)
    second = c2.handshake() + [c2.c(ACK | PSH, b"two")] + c2.close()
    r = Run().feed(first + [late] + second)
    assert ends(r) == [(1, lib.XC_MON_END_FIN), (2, lib.XC_MON_END_FIN)]
    assert bytes(r.data[(1, SVR)]) == b"one" and bytes(r.data[(2, SVR)]) == b"two"
    st = r.mon.stats()
    assert st["late_pkts"] == 1 and st["orphans"] == 0 and st["flows_created"] == 2


def test_new_syn_on_a_closing_flow_ends_it_as_reused():
    c = Conv()
    frames = c.handshake() + [c.c(FIN | ACK), c.s(ACK)]       # half closed
    syn2 = Conv(ciss=123456).c(SYN, ack=0)
    r = Run().feed(frames + [syn2])
    assert ends(r) == [(1, lib.XC_MON_END_REUSED)]
    assert r.mon.flow_count() == 1 and r.mon.stats()["end_reused"] == 1


def test_syn_with_another_isn_on_a_live_flow_is_ignored():
    c = Conv()
    frames = c.handshake() + [Conv(ciss=42).c(SYN, ack=0)]
    r = Run().feed(frames)
    errs = [(e[3], e[5]) for e in r.of(Ev.ERROR)]
    assert errs == [(SVR, lib.XC_MON_ERR_BAD_SYN)]
    assert r.mon.stats()["syn_ignored"] == 1 and not r.ended


# ---------------------------------------------------------------- timeouts

def test_idle_and_closing_timeouts_on_the_packet_clock():
    a, b = Conv(cport=1001), Conv(cport=1002)
    frames = a.handshake() + [a.c(ACK | PSH, b"a")]            # established, then idle
    frames += [b.c(SYN, ack=0)]                                 # an attempt: "closing"
    ts = [S, S + 1, S + 2, S + 3, S + 4]
    r = Run(idle_timeout=60, close_timeout=5).feed(frames, ts=ts)
    # a third flow's packets move the clock: 6 s later the attempt times out
    c = Conv(cport=1003)
    r.feed([c.c(SYN, ack=0)], ts=[S + 6 * S])
    assert ends(r) == [(2, lib.XC_MON_END_TIMEOUT)]
    tmo = r.of(Ev.TIMEOUT)
    assert [(e[1], e[3]) for e in tmo] == [(2, BOTH)]
    # the idle established one needs 60 s; xc_mon_expire with an explicit clock
    r.expire(S + 70 * S)
    assert sorted(ends(r)) == [(1, lib.XC_MON_END_TIMEOUT), (2, lib.XC_MON_END_TIMEOUT),
                               (3, lib.XC_MON_END_TIMEOUT)]
    assert bytes(r.data[(1, SVR)]) == b"a"
    assert r.mon.stats()["end_timeout"] == 3 and r.mon.flow_count() == 0


# ---------------------------------------------------------------- caps

def test_flow_table_full_evicts_least_recently_active():
    convs = [Conv(cport=2000 + i) for i in range(4)]
    frames = []
    for c in convs[:3]:
        frames += c.handshake()
    frames += [convs[0].c(ACK | PSH, b"keep me")]              # 0 is now the most recent
    frames += convs[3].handshake()
    r = Run(max_flows=3).feed(frames)
    assert ends(r) == [(2, lib.XC_MON_END_EVICTED)]            # flow of convs[1]
    assert r.ended[2]["client"][1] == 2001
    st = r.mon.stats()
    assert st["end_evicted"] == 1 and st["flows_live"] == 3 and st["flows_peak"] == 3


def test_flow_table_full_refuse_policy():
    convs = [Conv(cport=2000 + i) for i in range(3)]
    frames = [c.c(SYN, ack=0) for c in convs]
    r = Run(max_flows=2, table_policy="refuse").feed(frames)
    st = r.mon.stats()
    assert st["flows_refused"] == 1 and st["flows_live"] == 2 and not r.ended


def test_many_flows_cycle_through_slots():
    r = Run(max_flows=64, linger=0)
    for rnd in range(6):
        frames = []
        for i in range(100):
            c = Conv(cport=10000 + i, ciss=rnd * 1000 + i)
            frames += c.handshake() + [c.c(ACK | PSH, b"%d" % i)] + c.close()
        r.feed(frames, t0_ns=S * (rnd + 1))
    st = r.mon.stats()
    assert st["flows_created"] == 600 and st["end_fin"] == 600 and st["flows_live"] == 0
    assert st["events_lost"] == st["out_lost"] == 0


def test_per_side_buffer_cap_drops_oldest_and_reports_outrun():
    c = Conv()
    frames = c.handshake()
    data = bytes(range(256)) * 256                                  # 64 KiB
    for i in range(0, len(data), 1000):
        frames.append(c.c(ACK | PSH, data[i:i + 1000]))
    r = Run(drain=False, buf_cap=16384).feed(frames)
    errs = [e for e in r.of(Ev.ERROR) if e[5] == lib.XC_MON_ERR_OUTRUN]
    lost = sum(e[7] for e in errs)
    f = r.mon.flow(1)
    ring = f.side[SVR].rcv
    assert ring.cap == 16384 and lost == len(data) - 16384
    assert f.side[SVR].outrun_bytes == lost
    assert ring.read_off == lost and ring.next_off == len(data)   # the newest 16 KiB kept
    out = Ring.__new__(Ring)
    buf = ffi.new("uint8_t[]", 16384)
    assert lib.xc_ring_peek(ffi.addressof(ring), ring.read_off, buf, 16384) == 16384
    assert bytes(ffi.buffer(buf)) == data[-16384:]


def test_global_memory_cap_reports_and_tracks_offsets_only():
    a, b = Conv(cport=3001), Conv(cport=3002)
    frames = a.handshake() + b.handshake()
    frames += [a.c(ACK | PSH, b"x" * 1000), b.c(ACK | PSH, b"y" * 1000)]
    r = Run(mem_max=20000, buf_cap=16384).feed(frames)          # room for one ring
    errs = [(e[1], e[3], e[5]) for e in r.of(Ev.ERROR)]
    assert errs == [(2, SVR, lib.XC_MON_ERR_MEMORY)]
    st = r.mon.stats()
    assert st["mem_denied"] == 1 and st["mem_used"] == 16384
    f2 = r.mon.flow(2)
    assert f2.side[SVR].unbuffered == 1000 and f2.side[SVR].rcv.next_off == 1000
    assert bytes(r.data[(1, SVR)]) == b"x" * 1000 and (2, SVR) not in r.data


def test_fragment_cap_skips_the_lowest_hole_when_draining():
    c = Conv()
    frames = c.handshake()
    base = c.cnxt
    for i in range(1, 8):                                         # 7 islands, holes between
        frames.append(c.c(ACK | PSH, bytes([65 + i]) * 10, seq=base + 20 * i))
    r = Run(frag_cap=4).feed(frames)
    gaps = r.gaps[(1, SVR)]
    assert gaps[:3] == [(0, 20), (30, 10), (50, 10)]               # skipped to make room
    r.flush()
    want = b"\0" * 10 + b"".join(b"\0" * 10 + bytes([65 + i]) * 10 for i in range(1, 8))
    assert r.stream(1, SVR) == want


def test_fragment_cap_without_drain_refuses_the_segment():
    c = Conv()
    frames = c.handshake()
    base = c.cnxt
    for i in range(1, 4):
        frames.append(c.c(ACK | PSH, b"z" * 10, seq=base + 20 * i))
    r = Run(drain=False, frag_cap=2).feed(frames)
    errs = [(e[5], e[6], e[7]) for e in r.of(Ev.ERROR)]
    assert errs == [(lib.XC_MON_ERR_FRAGS, 60, 10)]
    assert r.mon.flow(1).side[SVR].rcv.stats.frag_overflow == 1


def test_small_event_array_makes_early_returns_without_losing_anything():
    convs = [Conv(cport=4000 + i) for i in range(50)]
    frames = []
    for c in convs:
        frames += c.handshake() + [c.c(ACK | PSH, b"p%d" % c.cport)] + c.close()
    r = Run(frag_cap=4)
    r.mon.nev = lib.xc_mon_events_min(r.mon.raw) + 8               # tight on purpose
    r.feed(frames)
    st = r.mon.stats()
    assert st["early_returns"] > 0 and r.calls > 1
    assert st["events_lost"] == 0 and st["end_fin"] == 50
    assert all(bytes(r.data[(i + 1, SVR)]) == b"p%d" % (4000 + i) for i in range(50))


# ---------------------------------------------------------------- malformed input

def _vlan(frame):
    return frame[:12] + b"\x81\x00\x00\x05" + frame[12:]


def test_malformed_and_foreign_frames_are_counted_never_trusted():
    c = Conv()
    syn = c.c(SYN, ack=0)
    bad = [
        syn[:30],                                         # truncated IPv4 header
        syn[:14] + b"\x46" + syn[15:],                    # IHL 24 with no options
        syn[:16] + b"\x00\x20" + syn[18:],                # total length < IPv4 + TCP headers
        syn[:47] + b"\x33" + syn[48:],                    # SYN+FIN+RST flags
        syn[:46] + b"\x10" + syn[47:],                    # data offset 4 (< 20 bytes)
        syn[:12] + b"\x86\xdd" + syn[14:],                # IPv6 ethertype, IPv4 header
        syn[:12] + b"\x08\x06" + syn[14:],                # ARP
        syn[:23] + b"\x11" + syn[24:],                    # UDP
        syn[:20] + b"\x20\x00" + syn[22:],                # more fragments
        b"",
    ]
    r = Run().feed(bad)
    st = r.mon.stats()
    assert (st["malformed"], st["not_ipv4"], st["not_tcp"], st["ip_fragments"]) == (7, 1, 1, 1)
    assert st["flows_created"] == 0 and st["frames"] == len(bad)


def test_random_garbage_never_crashes():
    import random
    rnd = random.Random(7)
    c = Conv()
    good = c.handshake() + [c.c(ACK | PSH, b"q" * 100)] + c.close()
    frames = []
    for _ in range(3000):
        fr = bytearray(rnd.choice(good))
        for _ in range(rnd.randint(1, 6)):
            fr[rnd.randrange(len(fr))] = rnd.randrange(256)
        frames.append(bytes(fr[:rnd.randint(0, len(fr))]))
    r = Run(midstream=True).feed(frames).flush()
    assert r.mon.stats()["frames"] == 3000


def test_vlan_tagged_frames_are_followed():
    c = Conv()
    frames = [_vlan(f) for f in c.handshake() + [c.c(ACK | PSH, b"tagged")] + c.close()]
    r = Run().feed(frames)
    assert bytes(r.data[(1, SVR)]) == b"tagged" and ends(r) == [(1, lib.XC_MON_END_FIN)]


def test_snapped_frames_keep_state_and_become_gaps():
    c = Conv()
    frames = c.handshake()
    d1, d2 = c.c(ACK | PSH, b"A" * 100), c.c(ACK | PSH, b"B" * 100)
    frames += [d1[:54 + 40], d2] + c.close()                   # d1 captured 40 of 100
    r = Run().feed(frames)
    assert r.mon.stats()["snapped"] == 1
    assert bytes(r.data[(1, SVR)]) == b"A" * 40 + b"B" * 100
    assert r.gaps[(1, SVR)] == [(40, 60)]
    assert ends(r) == [(1, lib.XC_MON_END_FIN)]


def test_verify_csum_drops_bad_frames():
    c = Conv()
    frames = c.handshake()
    d = bytearray(c.c(ACK | PSH, b"payload"))
    d[-1] ^= 0xff
    r = Run(verify_csum=True).feed(frames + [bytes(d)])
    assert r.mon.stats()["bad_csum"] == 1 and (1, SVR) not in r.data
    r2 = Run().feed(frames + [bytes(d)])
    assert bytes(r2.data[(1, SVR)]) == b"payloae"[:6] + bytes([ord("d") ^ 0xff])


# ---------------------------------------------------------------- the shared ring

def test_rings_are_the_engines_xc_ring_and_show_holes_before_they_fill():
    c = Conv()
    frames = c.handshake()
    base = c.cnxt
    frames += [c.c(ACK | PSH, b"a" * 10, seq=base), c.c(ACK | PSH, b"c" * 10, seq=base + 20),
               c.c(ACK | PSH, b"e" * 10, seq=base + 40)]
    r = Run(drain=False).feed(frames)
    ring = r.mon.flow(1).side[SVR].rcv
    out = ffi.new("struct xc_ring_frag[8]")
    n = lib.xc_ring_fragments(ffi.addressof(ring), out, 8)
    assert [(out[i].offset, out[i].len) for i in range(n)] == [(0, 10), (20, 10), (40, 10)]
    r.feed([c.c(ACK | PSH, b"b" * 10, seq=base + 10), c.c(ACK | PSH, b"d" * 10, seq=base + 30)])
    n = lib.xc_ring_fragments(ffi.addressof(ring), out, 8)
    assert [(out[i].offset, out[i].len) for i in range(n)] == [(0, 50)]
    # the application consumes: xc_mon_consume
    assert lib.xc_mon_consume(r.mon.raw, 1, SVR, 20) == 20
    assert ring.read_off == 20 and r.mon.flow(1).side[SVR].delivered == 20


def test_set_buf_overlap_and_stop():
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"x" * 100)]
    r = Run(drain=False).feed(frames)
    m = r.mon.raw
    assert lib.xc_mon_set_buf(m, 1, SVR, 1 << 20) == 0
    assert lib.xc_mon_set_buf(m, 1, SVR, 50) == -1               # 100 unread bytes do not fit
    assert lib.xc_mon_set_buf(m, 1, 7, 100) == -1 and lib.xc_mon_set_buf(m, 99, SVR, 100) == -1
    assert lib.xc_mon_set_overlap(m, 1, SVR, lib.XC_OVERLAP_LINUX) == 0
    assert r.mon.flow(1).side[SVR].rcv.policy == lib.XC_OVERLAP_LINUX
    assert lib.xc_mon_set_overlap(m, 1, SVR, 9) == -1
    assert lib.xc_mon_set_buf(m, 1, SVR, 0) == 0                  # disable: bytes dropped
    f = r.mon.flow(1)
    assert f.side[SVR].rcv.cap == 0 and f.side[SVR].rcv.stats.bytes_lost == 100
    r.feed([c.c(ACK | PSH, b"y" * 10)])
    assert f.side[SVR].rcv.next_off == 110                          # offsets still tracked
    before = len(r.events)
    assert lib.xc_mon_stop(m, 1, BOTH) == 0
    r.feed([c.c(ACK | PSH, b"z"), c.s(ACK)])
    assert len(r.events) == before                                # silent from now on


def test_flow_filter_in_the_core_tracks_rejected_flows_silently():
    from xdpmtcp.monitor.filter import Filter
    web, ssh = Conv(cport=8001, sport=80), Conv(cport=8002, sport=22)
    frames = web.handshake() + ssh.handshake()
    frames += [web.c(ACK | PSH, b"GET"), ssh.c(ACK | PSH, b"SSH-2.0")] + web.close() + ssh.close()
    o = Conv(cport=8003, sport=22)
    o.handshake()
    frames += [o.c(ACK | PSH, b"orphan22")]
    r = Run()
    r.mon.set_filter(Filter("dst port 80 or dst portrange 8000-8100", flow=True))
    r.feed(frames)
    st = r.mon.stats()
    assert st["flows_created"] == 2 and st["flows_filtered"] == 1
    assert ends(r) == [(1, lib.XC_MON_END_FIN)]              # the ssh flow ends silently
    assert {e[1] for e in r.events} <= {0, 1}
    assert st["orphans"] == 1 and not r.of(Ev.ORPHAN)        # counted, no event: filtered
    assert bytes(r.data[(1, SVR)]) == b"GET" and (2, SVR) not in r.data
    assert r.mon.flow_count() == 0 and st["end_fin"] == 2
    r.mon.set_filter(None)
    r.feed([Conv(cport=8004, sport=22).c(SYN, ack=0)])
    assert r.mon.stats()["flows_filtered"] == 1              # removed: the next one is followed
    from xdpmtcp._core import ffi
    bad = ffi.new("struct xc_filter *")
    bad.n, bad.insns[0].op = 1, lib.XC_FOP_AND                # stack underflow
    assert lib.xc_mon_set_filter(r.mon.raw, bad) == -1
    bad.n, bad.insns[0].op, bad.insns[1].op = 2, lib.XC_FOP_TRUE, lib.XC_FOP_TRUE   # two results
    assert lib.xc_mon_set_filter(r.mon.raw, bad) == -1
