"""IPv6 beside IPv4 in the monitor: every IPv4 conversation of these tests
is also sent as IPv6 (same TCP segments, IPv6 header, extension headers
where asked) and must come out the same: both directions byte for byte,
the same overlap policies with the same overlaps reported, the same gaps
and states; the flow table keeps IPv6 flows apart by their full addresses;
the outputs name them (conn.log, index.json, Community ID, the table)."""
import ipaddress
import json
import random
import struct

import pytest

from montraffic import ACK, FIN, PSH, Conv, Run, write_pcap
from test_monitor_overlap import FAMILIES, POLICIES, frames_for, stream_from
from xdpmtcp.cli import main
from xdpmtcp.monitor.community_id import community_id_v1
from xdpmtcp.monitor.core import CLI, SVR, Ev

C6, S6 = "2001:db8::1", "2001:db8::2"
DATA = random.Random(11).randbytes(120_000)
REPLY = random.Random(12).randbytes(30_000)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def hbh(nh, n=0):
    """A hop-by-hop or destination options header of 8 * (n + 1) bytes (PadN)."""
    body = b"\x01" + bytes([6 + 8 * n - 2]) + bytes(6 + 8 * n - 2)
    return bytes([nh, n]) + body


def frag(nh, offset=0, more=False, ident=7):
    return struct.pack("!BBHI", nh, 0, (offset << 3) | more, ident)


def to_v6(frame, ext=(), c6=C6, s6=S6):
    """The IPv4 frame's TCP segment in IPv6 (addresses mapped: the IPv4
    client's to c6, else s6), with extension headers ext: a list of
    (next-header number of this one, builder(nh) -> bytes)."""
    ihl = (frame[14] & 15) * 4
    tot = struct.unpack_from("!H", frame, 16)[0]
    seg = bytearray(frame[14 + ihl:14 + tot])
    client = frame[26:30] == ipaddress.IPv4Address("198.18.0.1").packed
    src, dst = (c6, s6) if client else (s6, c6)
    src, dst = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    seg[16:18] = b"\0\0"
    pseudo = src + dst + struct.pack("!IxxxB", len(seg), 6)
    struct.pack_into("!H", seg, 16, csum(pseudo + bytes(seg)))
    chain, first = b"", 6
    for num, build in reversed(ext):
        chain = build(first) + chain
        first = num
    ip6 = struct.pack("!IHBB", 6 << 28, len(chain) + len(seg), first, 64) + src + dst
    return frame[:12] + b"\x86\xdd" + ip6 + chain + bytes(seg)


def conversation(cv=None, seg=1400, reply=True):
    cv = cv or Conv()
    frames = cv.handshake()
    for i in range(0, len(DATA), seg):
        frames.append(cv.c(ACK | PSH, DATA[i:i + seg]))
        if reply and i % (seg * 10) == 0:
            j = i // 4
            frames.append(cv.s(ACK | PSH, REPLY[j:j + seg // 4]))
    frames += [cv.c(FIN | ACK), cv.s(ACK)]
    return frames + [cv.s(FIN | ACK), cv.c(ACK)]


def sent_reply():
    out = b""
    for i in range(0, len(DATA), 1400):
        if i % 14000 == 0:
            out += REPLY[i // 4:i // 4 + 350]
    return out


def stream_pair(frames, **kw):
    r = Run(**kw).feed(frames).flush()
    return r, r.stream(1, SVR), r.stream(1, CLI)


def test_both_directions_byte_for_byte_as_with_ipv4():
    v4 = conversation()
    r4, c2s4, s2c4 = stream_pair(v4)
    r6, c2s6, s2c6 = stream_pair([to_v6(f) for f in v4])
    assert c2s6 == c2s4 == DATA and s2c6 == s2c4 == sent_reply()
    st = r6.mon.stats()
    assert st["ipv6_frames"] == st["tcp_frames"] == len(v4) and st["flows_ipv6"] == 1
    assert r6.ended[1]["conn"]["conn_state"] == r4.ended[1]["conn"]["conn_state"] == "SF"
    assert r6.ended[1]["conn"]["history"] == r4.ended[1]["conn"]["history"]


def test_reordered_retransmitted_and_lost_segments_as_with_ipv4():
    v4 = conversation(reply=False)
    rnd = random.Random(3)
    data = v4[3:-4]
    rnd.shuffle(data)                                   # reordered
    data += data[::7]                                   # retransmitted
    del data[5]                                         # lost (a gap)
    frames = v4[:3] + data + v4[-4:]
    r4, c2s4, _ = stream_pair(frames)
    r6, c2s6, _ = stream_pair([to_v6(f) for f in frames])
    assert c2s6 == c2s4 and r6.gaps == r4.gaps and r4.gaps
    assert [e[0] for e in r6.of(Ev.REXMIT)] == [e[0] for e in r4.of(Ev.REXMIT)]


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_overlap_policies_as_with_ipv4(tmp_path, capsys, policy, family):
    steps, table = FAMILIES[family]
    frames = [to_v6(f) for f in frames_for(steps)]
    pcap = write_pcap(tmp_path / "o6.pcap", frames)
    out = tmp_path / "streams"
    assert main(["monitor", "--pcap", str(pcap), "--streams", str(out), "--overlap", policy]) == 0
    got, rec = stream_from(out)
    assert got == table[policy][-1].encode()
    assert rec["c2s"]["overlap_anomalies"] == len(rec["c2s"]["overlaps"]) > 0
    assert rec["client"]["ip"] == C6


EXT = {
    "hop-by-hop": [(0, lambda nh: hbh(nh))],
    "dest options, 16 bytes": [(60, lambda nh: hbh(nh, 1))],
    "atomic fragment": [(44, lambda nh: frag(nh))],
    "hop-by-hop, routing, dest options": [
        (0, lambda nh: hbh(nh)), (43, lambda nh: bytes([nh, 0, 0, 0]) + bytes(4)),
        (60, lambda nh: hbh(nh))],
}


@pytest.mark.parametrize("name", sorted(EXT))
def test_extension_headers_are_walked(name):
    frames = [to_v6(f, EXT[name]) for f in conversation()]
    r, c2s, s2c = stream_pair(frames, verify_csum=True)
    assert c2s == DATA and s2c == sent_reply()
    assert r.mon.stats()["bad_csum"] == 0 and r.mon.stats()["malformed"] == 0


def test_fragments_and_other_upper_layers_are_counted():
    v4 = conversation()
    frames = [to_v6(f) for f in v4[:3]]
    frames.append(to_v6(v4[3], [(44, lambda nh: frag(nh, more=True))]))   # first fragment
    frames.append(to_v6(v4[4], [(44, lambda nh: frag(nh, offset=100))]))  # a later one
    esp = bytearray(to_v6(v4[5]))
    esp[20] = 50                                        # ESP: no TCP to read
    frames.append(bytes(esp))
    cut = to_v6(v4[6])[:14 + 30]                        # IPv6 header cut short
    frames.append(cut)
    r = Run().feed(frames).flush()
    st = r.mon.stats()
    assert (st["ip_fragments"], st["not_tcp"], st["malformed"]) == (2, 1, 1)


def folded_twin(addr):
    """Another address with the same 32-bit fold (words 0 and 1 swapped)."""
    b = ipaddress.IPv6Address(addr).packed
    return str(ipaddress.IPv6Address(b[4:8] + b[0:4] + b[8:]))


def test_flows_whose_folded_addresses_collide_stay_apart():
    a = [to_v6(f) for f in conversation(Conv())]
    c6, s6 = folded_twin("2001:db8:1::1"), folded_twin("2001:db8:1::2")
    assert c6 != "2001:db8:1::1"
    b = [to_v6(f, c6="2001:db8:1::1", s6="2001:db8:1::2") for f in conversation(Conv())]
    c = [to_v6(f, c6=c6, s6=s6) for f in conversation(Conv())]
    v4 = conversation(Conv())
    r = Run().feed([x for quad in zip(a, b, c, v4) for x in quad]).flush()
    assert r.mon.stats()["flows_created"] == 4
    for flow in (1, 2, 3, 4):
        assert r.stream(flow, SVR) == DATA


def test_outputs_name_ipv6_flows(tmp_path, capsys):
    frames = [to_v6(f) for f in conversation()] + conversation(Conv(cport=41000))
    pcap = write_pcap(tmp_path / "m.pcap", frames)
    assert main(["monitor", "--pcap", str(pcap), "--json", "--streams",
                 str(tmp_path / "s")]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    conn = {l["id.orig_p"]: l for l in lines if l["event"] == "conn"}
    c = conn[40000]
    assert (c["id.orig_h"], c["id.resp_h"]) == (C6, S6)
    assert c["community_id"] == community_id_v1(C6, S6, 40000, 80)
    assert c["orig_bytes"] == len(DATA) and c["missed_bytes"] == 0
    assert conn[41000]["id.orig_h"] == "198.18.0.1"
    summary = lines[-1]["monitor"]
    assert summary["flows_ipv6"] == 1 and summary["not_ipv4"] == 0
    index = json.load(open(tmp_path / "s" / "index.json"))
    rec = next(f for f in index["flows"] if f["client"]["port"] == 40000)
    assert rec["server"]["ip"] == S6
    assert (tmp_path / "s" / rec["c2s"]["file"]).read_bytes() == DATA
    assert main(["monitor", "--pcap", str(pcap), "--table"]) == 0
    assert "[2001:db8::1]:40000 [2001:db8::2]:80" in capsys.readouterr().out


@pytest.mark.parametrize("expr,kept,filtered", [
    ("port 80", ["198.18.0.1", C6], 0),
    ("host %s" % C6, [C6], 1),
    ("src net 2001:db8::/64", [C6], 1),
    ("ip6", [C6], 1),
    ("ip", ["198.18.0.1"], 1),
    ("not host %s" % S6, ["198.18.0.1"], 1),
    ("dst host %s" % C6, [], 2),          # src is the client: C6 is no server
    ("host 2001:db8::3", [], 2),
])
def test_ipv6_flows_follow_the_filter(tmp_path, capsys, expr, kept, filtered):
    frames = [to_v6(f) for f in conversation()] + conversation(Conv(cport=41000))
    pcap = write_pcap(tmp_path / "f.pcap", frames)
    assert main(["monitor", "--pcap", str(pcap), "--json", "--filter", expr]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert lines[-1]["monitor"]["flows_filtered"] == filtered
    assert sorted(l["id.orig_h"] for l in lines if l["event"] == "conn") == sorted(kept)


def test_ipv6_super_frames_are_cut(tmp_path, capsys):
    cv = Conv()
    v4 = cv.handshake()
    for i in range(0, len(DATA), 60_000):
        v4.append(cv.c(ACK | PSH, DATA[i:i + 60_000]))
        v4.append(cv.s(ACK))
    v4 += cv.close()
    frames = [to_v6(f, EXT["hop-by-hop"]) for f in v4]
    pcap = write_pcap(tmp_path / "sf6.pcap", frames)
    assert main(["monitor", "--pcap", str(pcap), "--json", "--streams", str(tmp_path / "s"),
                 "--verify-csum"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["input"]["superframes"] == 2 and summary["monitor"]["bad_csum"] == 0
    assert (tmp_path / "s" / "000001.c2s").read_bytes() == DATA


@pytest.mark.parametrize("expr,raised", [("src host %s" % C6, True), ("src host %s" % S6, False),
                                         ("ip", False), ("ip6 and dst port 80", True)])
def test_an_ipv6_orphan_raises_orphan_as_the_filter_says(expr, raised):
    from xdpmtcp.monitor.filter import Filter
    o = Conv()
    o.handshake()
    r = Run()
    r.mon.set_filter(Filter(expr, flow=True))
    r.feed([to_v6(o.c(ACK | PSH, b"orphan"))])       # its sender (the client) as src
    assert r.mon.stats()["orphans"] == 1
    assert bool(r.of(Ev.ORPHAN)) is raised
