"""Packet filters: the C core's verdicts equal tcpdump's (libpcap compiles
the same expression) on one capture of varied frames; errors name the
column; the XDP expression is valid C with the same meaning."""
import random
import shutil
import struct
import subprocess

import pytest

from xdpmtcp.filter import Filter, FilterError
from xdpmtcp.phy import Burst
from xdpmtcp.phy.pcap_source import PcapSource
from xdpmtcp.wire import TcpFlags, build_tcp_frame
from xdpmtcp.wire.checksum import internet_checksum

from pcapgen import pcap_file

MACS = ("02:00:00:00:00:01", "02:00:00:00:00:02")
ADDRS = ["198.18.0.1", "198.18.0.2", "198.18.1.7", "198.19.255.1", "10.1.2.3"]
PORTS = [80, 443, 8080, 22, 5000, 5001, 61000, 65535, 1]


def ipv4(src, dst, proto, payload, frag=0):
    import socket
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, frag, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", internet_checksum(hdr)) + hdr[12:]
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + hdr + payload


def frames(seed=7, n=400):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        src, dst = rng.choice(ADDRS), rng.choice(ADDRS)
        sp, dp = rng.choice(PORTS), rng.choice(PORTS)
        kind = rng.random()
        if kind < 0.6:
            flags = rng.choice([TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.ACK,
                                TcpFlags.FIN | TcpFlags.ACK, TcpFlags.RST, TcpFlags.PSH | TcpFlags.ACK])
            out.append(build_tcp_frame(*MACS, src, dst, sp, dp, i, 0, flags, 1000,
                                       payload=b"x" * rng.choice([0, 10, 600, 1400])))
        elif kind < 0.75:
            out.append(ipv4(src, dst, 17, struct.pack("!HHHH", sp, dp, 8 + 20, 0) + b"u" * 20))
        elif kind < 0.85:
            out.append(ipv4(src, dst, 1, b"\x08\x00\x00\x00\x00\x01\x00\x01" + b"p" * 30))
        elif kind < 0.93:   # a later fragment: no ports
            out.append(ipv4(src, dst, 6, b"f" * 40, frag=185))
        else:               # ARP
            out.append(bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + b"\0" * 28)
    return out


EXPRESSIONS = [
    "", "tcp", "udp", "icmp", "ip", "not tcp",
    "host 198.18.0.1", "src host 198.18.0.1", "dst host 198.18.0.2",
    "src and dst host 198.18.0.1", "src or dst host 10.1.2.3",
    "net 198.18.0.0/15", "src net 198.18.0.0 mask 255.255.255.0", "not net 198.18.0.0/16",
    "port 80", "src port 443", "dst port 8080", "port 80 or 443", "portrange 5000-5001",
    "src portrange 1-1024", "tcp port 22", "udp and dst port 5000",
    "host 198.18.0.1 or 198.18.1.7 and port 80",
    "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
    "tcp and not (port 80 or port 443) and src net 198.18.0.0/15",
    "less 100", "greater 1000", "!(tcp && port 22) || icmp",
    "port http", "dst port 61000 and tcp[tcpflags] & tcp-ack != 0",
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    fs = frames()
    path = tmp_path_factory.mktemp("filter") / "mix.pcap"
    path.write_bytes(pcap_file([(i * 1000, f) for i, f in enumerate(fs)]))
    return path, fs


def tcpdump_matches(path, expr):
    """Indexes of the frames tcpdump selects (frame i was stamped i µs)."""
    r = subprocess.run(["tcpdump", "-tt", "-nn", "-r", str(path)] + ([expr] if expr else []),
                       capture_output=True, text=True, check=True)
    return {round(float(line.split()[0]) * 1e6) for line in r.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_same_verdicts_as_tcpdump(capture, expr):
    assert shutil.which("tcpdump"), "tcpdump is installed by tools/setup"
    path, fs = capture
    f = Filter(expr)
    mine = {i for i, frame in enumerate(fs) if f.match(frame)}
    assert mine == tcpdump_matches(path, expr)
    # the batch entry point agrees with the per-frame one
    burst = Burst(len(fs))
    PcapSource(str(path)).read(burst)
    assert {i for i, hit in enumerate(f.match_burst(burst)) if hit} == mine


@pytest.mark.parametrize("expr,column,words", [
    ("host", 5, "expected an IPv4 or IPv6 address"),
    ("port 99999", 6, "out of range"),
    ("host 1.2.3", 6, "expected an IPv4 or IPv6 address"),
    ("foo", 1, "unknown primitive"),
    ("port 80 and (", 14, "expected a primitive"),
    ("tcp[tcpflags] & tcp-syn == 0", 25, "expected '!='"),
    ("portrange 9-3", 11, "is empty"),
    ("tcp port 80 )", 13, "unexpected ')'"),
    ("src 1.2.3.4", 5, "expected host, net, port or portrange"),
    ("host 2001:db8::g", 6, "expected an IPv4 or IPv6 address, found '2001:db8::g'"),
    ("host 2001:db8:::1", 6, "expected an IPv4 or IPv6 address"),
    ("net 2001:db8::/129", 5, "bad network '2001:db8::/129'"),
    ("net 2001:db8:: mask ffff::", 16, "'mask' takes IPv4 networks only"),
    ("host 2001:db8::1 or", 20, "expected a primitive"),
    ("ip6 port 80", 5, "unexpected 'port'"),
])
def test_errors_name_the_column(expr, column, words):
    with pytest.raises(FilterError) as e:
        Filter(expr)
    assert e.value.column + 1 == column and words in e.value.message


def test_too_deep_a_filter_is_refused():
    with pytest.raises(ValueError, match="too"):
        Filter(" and ".join("not (port %d" % i for i in range(40)) + ")" * 40)


def xdp_verdicts(exprs, fs, tmp_path):
    """Rows of '0'/'1', one per frame, one column per expression: the
    expressions for XDP compiled by gcc over the fields the monitor's XDP
    program loads (IPv4, or IPv6 without extension headers)."""
    body = "\n".join("    case %d: return %s;" % (i, Filter(e).xdp_expression())
                     for i, e in enumerate(exprs))
    src = tmp_path / "x.c"
    src.write_text(r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>
typedef uint32_t __u32; typedef uint16_t __u16; typedef uint8_t __u8;
static int verdict(int k, int ipv4, int ipv6, __u32 saddr, __u32 daddr, const __u32 *s6,
                   const __u32 *d6, __u16 sport, __u16 dport, __u8 proto, __u8 tcp_flags,
                   int has_ports, __u32 len) {
    switch (k) {
%s
    }
    return -1;
}
int main(void) {
    unsigned char f[2048]; unsigned len;
    while (fread(&len, 4, 1, stdin) == 1 && fread(f, 1, len, stdin) == len) {
        int ipv4 = len >= 34 && f[12] == 8 && f[13] == 0;
        int ipv6 = len >= 54 && f[12] == 0x86 && f[13] == 0xdd;
        __u32 s = 0, d = 0, s6[4] = {0}, d6[4] = {0}; __u16 sp = 0, dp = 0;
        __u8 proto = 0, fl = 0; int hp = 0;
        const unsigned char *l4 = f;
        if (ipv4) {
            const unsigned char *ip = f + 14;
            l4 = ip + (ip[0] & 15) * 4;
            memcpy(&s, ip + 12, 4); memcpy(&d, ip + 16, 4); proto = ip[9];
            hp = ((ip[6] & 0x3f) << 8 | ip[7]) == 0 && (proto == 6 || proto == 17);
        } else if (ipv6) {
            const unsigned char *ip = f + 14;
            l4 = ip + 40;
            memcpy(s6, ip + 8, 16); memcpy(d6, ip + 24, 16); proto = ip[6];
            hp = proto == 6 || proto == 17;
        }
        if (hp) {
            sp = l4[0] << 8 | l4[1]; dp = l4[2] << 8 | l4[3];
            if (proto == 6) fl = l4[13];
        }
        for (int k = 0; k < %d; k++)
            putchar('0' + verdict(k, ipv4, ipv6, s, d, s6, d6, sp, dp, proto, fl, hp, len));
        putchar('\n');
    }
    return 0;
}
""" % (body, len(exprs)))
    exe = tmp_path / "x"
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-Wno-unused-parameter", "-o", str(exe),
                    str(src)], check=True)
    feed = b"".join(struct.pack("=I", len(f)) + f for f in fs)
    return subprocess.run([str(exe)], input=feed, capture_output=True, check=True).stdout.split()


def test_xdp_expression_compiles_and_agrees(capture, tmp_path):
    """The expression for XDP, compiled by gcc over the same fields,
    gives the same verdicts as the C core."""
    path, fs = capture
    exprs = [e for e in EXPRESSIONS if e]
    rows = xdp_verdicts(exprs, fs, tmp_path)
    for k, e in enumerate(exprs):
        f = Filter(e)
        assert [row[k:k + 1] == b"1" for row in rows] == [f.match(fr) for fr in fs], e
