"""The mOS samples in examples/ on crafted captures (live inline labs come
with the inline input)."""
import io
import sys
from pathlib import Path

import pytest

from montraffic import ACK, PSH, Conv, Run, write_pcap
from xdpmtcp._core import lib
from xdpmtcp.phy import PcapSource
from xdpmtcp.wire.frame import parse_tcp_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import midstat  # noqa: E402
import nat  # noqa: E402
import simple_firewall  # noqa: E402
from xdpmtcp import mos_api as M  # noqa: E402

S = 1_000_000_000


def flow(c, data=b"req", reply=b"resp"):
    return c.handshake() + [c.c(ACK | PSH, data), c.s(ACK | PSH, reply), c.c(ACK)] + c.close()


def frames_of(path):
    with PcapSource(str(path)) as src:
        return [fr.data for fr in src.frames()]


def test_midstat_prints_states_on_the_packet_clock(tmp_path):
    a, b = Conv(cport=5001), Conv(cport=5002)
    frames = a.handshake() + b.handshake() + [a.c(ACK | PSH, b"x")] + a.close()
    pcap = write_pcap(tmp_path / "m.pcap", frames, step_ns=S // 2)       # 0.5 s apart
    mctx = M.mtcp_create_context(0, pcap=str(pcap))
    out = io.StringIO()
    m = midstat.Midstat(mctx, 1.0, out)
    M.mtcp_app_join(mctx)
    text = out.getvalue()
    assert m.prints >= 3
    assert "198.18.0.1:5002" in text and "ESTABLISHED" in text
    tables = text.split("\n\n")
    assert any("198.18.0.1:5001" in t and "198.18.0.1:5002" in t for t in tables)
    assert "SYN_SENT" not in tables[0] or "ESTABLISHED" in text
    assert m.conns == {}                                           # all ended


def test_simple_firewall_drops_a_denied_syn_and_passes_an_allowed_flow(tmp_path):
    ssh, web = Conv(cport=6001, sport=22), Conv(cport=6002, sport=80)
    frames = flow(ssh) + flow(web)
    pcap = write_pcap(tmp_path / "in.pcap", frames)
    out = tmp_path / "out.pcap"
    rules = simple_firewall.parse_rules(["DROP dst port 22", "ACCEPT dst port 80"])
    mctx = M.mtcp_create_context(0, pcap=str(pcap), pcap_out=str(out))
    fw = simple_firewall.Firewall(mctx, rules)
    M.mtcp_app_join(mctx)
    assert [(d[1][1], d[2]) for d in fw.decisions] == [(22, "DROP"), (80, "ACCEPT")]
    got = frames_of(out)
    ports = {parse_tcp_frame(f).tcp.dst_port for f in got} | {parse_tcp_frame(f).tcp.src_port
                                                               for f in got}
    assert 22 not in ports                                         # the denied flow is gone
    assert got == frames[len(flow(Conv())):]                       # the allowed one untouched
    with pytest.raises(ValueError):
        simple_firewall.parse_rules(["REJECT port 1"])
    assert simple_firewall.main(["--pcap", str(pcap), "--out", str(tmp_path / "o2.pcap"),
                                 "--rule", "DROP dst port 80"]) == 0
    assert len(frames_of(tmp_path / "o2.pcap")) == len(flow(Conv()))   # only the ssh flow


def _to_public(frame, public, port):
    """An inside s2c frame as it arrives from outside: for public:port."""
    import ipaddress
    import struct
    f = bytearray(frame)
    f[30:34] = ipaddress.IPv4Address(public).packed
    struct.pack_into("!H", f, 36, port)
    buf = bytes(f)
    lib.xc_frame_fill_csum(buf, len(buf))
    return buf


def test_nat_rewrites_both_ways_and_the_flow_stays_one(tmp_path):
    a, b = Conv(cport=7001), Conv(cport=7002)
    frames = a.handshake() + b.handshake()                           # both open at once
    frames += [a.c(ACK | PSH, b"alpha" * 100), b.c(ACK | PSH, b"beta"), a.s(ACK | PSH, b"ALPHA"),
               b.s(ACK | PSH, b"BETA" * 50), a.c(ACK), b.c(ACK)] + a.close() + b.close()
    inside = frames
    # what the NAT box receives: client frames from inside, server frames from outside
    pport = {7001: 20000, 7002: 20001}                               # the pool hands out in order
    arriving = []
    for f in inside:
        t = parse_tcp_frame(f)
        if t.tcp.src_port == 80:
            arriving.append(_to_public(f, "198.19.0.1", pport[t.tcp.dst_port]))
        else:
            arriving.append(f)
    pcap = write_pcap(tmp_path / "in.pcap", arriving)
    out = tmp_path / "nat.pcap"
    assert nat.main(["--pcap", str(pcap), "--out", str(out), "--public", "198.19.0.1",
                     "--ports", "20000-20001"]) == 0
    got = frames_of(out)
    assert len(got) == len(inside)
    assert all(lib.xc_frame_verify(f, len(f)) == lib.XC_FRAME_OK for f in got)
    for orig, sent in zip(inside, got):
        t, u = parse_tcp_frame(orig), parse_tcp_frame(sent)
        if t.tcp.src_port == 80:
            assert sent == orig                                      # translated back exactly
        else:
            assert (str(u.ip.src), u.tcp.src_port) == ("198.19.0.1", pport[t.tcp.src_port])
            assert u.tcp.payload == t.tcp.payload
