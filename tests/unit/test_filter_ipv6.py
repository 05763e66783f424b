"""IPv6 in the packet filters: the C core's verdicts equal tcpdump's on a
capture of IPv6 and IPv4 frames mixed; the XDP expression agrees with the
C core on IPv6 fields; flow tuples of IPv6 flows match by their full
addresses (bad IPv6 input: test_filter.py's error cases)."""
import ipaddress
import random
import struct

import pytest

from test_filter import frames as ipv4_frames
from test_filter import tcpdump_matches, xdp_verdicts
from xdpmtcp._core import ffi, lib
from xdpmtcp.filter import Filter, FilterError
from xdpmtcp.monitor.filter import Filter as FlowFilter
from xdpmtcp.phy import Burst
from xdpmtcp.phy.pcap_source import PcapSource

from pcapgen import pcap_file

ADDRS6 = ["2001:db8::1", "2001:db8::2", "2001:db8:1::7", "2001:db8:8000::1", "fe80::1",
          "::ffff:198.18.0.1"]
PORTS = [80, 443, 22, 5001, 61000]


def ipv6(src, dst, nh, payload):
    hdr = struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64,
                      ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed)
    return bytes.fromhex("020000000002020000000001") + b"\x86\xdd" + hdr + payload


def tcp(sp, dp, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sp, dp, 1, 0, 5 << 4, flags, 1000, 0, 0) + data


def frames6(seed=9, n=300):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        src, dst = rng.choice(ADDRS6), rng.choice(ADDRS6)
        sp, dp = rng.choice(PORTS), rng.choice(PORTS)
        kind = rng.random()
        if kind < 0.6:
            out.append(ipv6(src, dst, 6, tcp(sp, dp, rng.choice([0x02, 0x12, 0x10, 0x11, 0x04]),
                                              b"x" * rng.choice([0, 10, 900]))))
        elif kind < 0.8:
            out.append(ipv6(src, dst, 17, struct.pack("!HHHH", sp, dp, 28, 0) + b"u" * 20))
        else:
            out.append(ipv6(src, dst, 58, b"\x80\x00\x00\x00\x00\x01\x00\x01" + b"p" * 30))
    return out


EXPRESSIONS = [
    "ip6", "ip", "tcp", "udp", "icmp", "icmp6", "not ip6", "ip6 and tcp",
    "host 2001:db8::1", "src host 2001:db8::2", "dst host fe80::1",
    "src and dst host 2001:db8::1", "host ::ffff:198.18.0.1",
    "net 2001:db8::/32", "src net 2001:db8:8000::/33", "dst net 2001:db8::/33",
    "net 2001:db8:1::/48", "net ::/0", "net fe80::/10",
    "port 80", "src port 443", "ip6 and dst port 22", "tcp port 5001",
    "host 2001:db8::1 or 2001:db8::2", "host 2001:db8::1 or 198.18.0.1",
    "host 2001:db8::1 and port 80 or host 198.18.0.2",
    "tcp and not (port 80 or port 443) and src net 2001:db8::/32",
    "greater 200", "less 100", "tcp[tcpflags] & tcp-syn != 0",
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    fs = [f for pair in zip(frames6(), ipv4_frames(n=300)) for f in pair]
    path = tmp_path_factory.mktemp("filter6") / "mix6.pcap"
    path.write_bytes(pcap_file([(i * 1000, f) for i, f in enumerate(fs)]))
    return path, fs


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_ipv6_verdicts_as_tcpdump(capture, expr):
    path, fs = capture
    f = Filter(expr)
    mine = {i for i, frame in enumerate(fs) if f.match(frame)}
    assert mine == tcpdump_matches(path, expr)
    burst = Burst(len(fs))
    PcapSource(str(path)).read(burst)
    assert {i for i, hit in enumerate(f.match_burst(burst)) if hit} == mine


def test_ipv6_behind_extension_headers_is_matched():
    """The VM walks extension headers (libpcap looks past a fragment header
    only): TCP behind a hop-by-hop header is TCP with ports."""
    seg = tcp(40000, 80, 0x02)
    frame = ipv6("2001:db8::1", "2001:db8::2", 0, bytes([6, 0]) + b"\x01\x04" + bytes(4) + seg)
    for expr, want in [("tcp", True), ("port 80", True), ("host 2001:db8::2", True),
                       ("udp", False), ("ip", False), ("port 81", False)]:
        assert Filter(expr).match(frame) is want, expr


def test_xdp_expression_agrees_on_ipv6(capture, tmp_path):
    """The XDP expressions, compiled by gcc over the fields the monitor's
    XDP program loads for IPv4 and IPv6, give the C core's verdicts."""
    path, fs = capture
    rows = xdp_verdicts(EXPRESSIONS, fs, tmp_path)
    for k, e in enumerate(EXPRESSIONS):
        f = Filter(e)
        assert [row[k:k + 1] == b"1" for row in rows] == [f.match(fr) for fr in fs], e


def test_flow_tuples_match_by_full_ipv6_addresses():
    f = FlowFilter("src host 2001:db8::1 and dst port 80", flow=True)
    assert f("2001:db8::1", 40000, "2001:db8::2", 80)
    assert not f("2001:db8::2", 40000, "2001:db8::1", 80)
    # an address whose low 32 bits equal an IPv4 one is not that IPv4 address
    g = FlowFilter("host 198.18.0.1", flow=True)
    assert g("198.18.0.1", 1, "198.18.0.2", 2) and not g("::c612:1", 1, "::c612:2", 2)
    assert not FlowFilter("ip", flow=True)("2001:db8::1", 1, "2001:db8::2", 2)
    assert FlowFilter("ip6 and net 2001:db8::/32", flow=True)("2001:db8::1", 1, "2001:db8::2", 2)
    with pytest.raises(ValueError, match="mixes IPv4 and IPv6"):
        f("2001:db8::1", 1, "198.18.0.1", 2)


def test_icmp6_is_no_rule_for_a_flow():
    with pytest.raises(FilterError, match="icmp6 is not a rule for a TCP flow"):
        FlowFilter("icmp6", flow=True)


def test_the_vm_refuses_an_ipv6_prefix_over_128():
    prog = ffi.new("struct xc_filter *")
    prog.n = 1
    prog.insns[0].op = lib.XC_FOP_ADDR6
    prog.insns[0].a = 129
    assert lib.xc_filter_check(prog) == -1
    prog.insns[0].a = 128
    assert lib.xc_filter_check(prog) == 0
