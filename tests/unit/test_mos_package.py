"""The mOS dialect as a package over the C core: mos_api re-exports it
whole; the monitor's defaults have one home (tunables) that the C core,
the CLI, Monitor and mOS contexts agree with; forwarded frames go through
the one C pcap writer with their own timestamps; raw frames are read by
the C parser (VLAN tags too) and refreshed by its checksum routine; SYN,
orphan and raw filters run in the C filter VM, and a flow filter's XDP
expression takes both directions of a flow."""
import errno
import pathlib
import struct
import subprocess

import pytest

from montraffic import ACK, PSH, SYN, Conv, write_pcap
from xdpmtcp import mos, mos_api as M
from xdpmtcp._core import ffi, lib
from xdpmtcp.monitor import core
from xdpmtcp.monitor.filter import Filter, FilterError
from xdpmtcp.phy import PcapSource
from xdpmtcp.phy.pcap import PcapWriter
from xdpmtcp.tunables import DEFAULTS

PKG = pathlib.Path(mos.__file__).parent


def test_mos_api_is_a_thin_reexport_of_the_package():
    assert sorted(M.__all__) == sorted(mos.__all__) and len(M.__all__) > 90
    for name in M.__all__:
        assert getattr(M, name) is getattr(mos, name), name
    assert len(pathlib.Path(M.__file__).read_text().splitlines()) < 20
    sizes = {p.name: len(p.read_text().splitlines()) for p in PKG.glob("*.py")}
    assert len(sizes) >= 8 and max(sizes.values()) <= 500, sizes


def test_the_core_error_names_are_defined_once():
    from xdpmtcp.mos import dispatch
    assert dispatch.ERRORS is core.ERRORS
    defs = [p for p in pathlib.Path(core.__file__).parents[1].rglob("*.py")
            if "\nERRORS = " in p.read_text() or "_ERR_KINDS" in p.read_text()]
    assert [p.name for p in defs] == ["core.py"]


def test_monitor_defaults_come_from_tunables_and_match_the_c_core(tmp_path):
    cfg = ffi.new("struct xc_mon_config *")
    lib.xc_mon_config_default(cfg)
    assert cfg.buf_cap == DEFAULTS.monitor_buf == 8 << 20
    assert cfg.idle_timeout_ns == int(DEFAULTS.monitor_idle_timeout * 1e9) == 300 * 10**9
    assert cfg.max_flows == DEFAULTS.monitor_max_flows
    assert cfg.mem_max == DEFAULTS.monitor_mem_max
    assert cfg.close_timeout_ns == int(DEFAULTS.monitor_close_timeout * 1e9)
    m = core.Monitor()
    assert (m.config.buf_cap, m.config.idle_timeout_ns) == (cfg.buf_cap, cfg.idle_timeout_ns)
    from xdpmtcp.cli import build_parser
    args = build_parser().parse_args(["monitor", "--pcap", "x.pcap"])
    assert (args.buf, args.idle_timeout, args.max_flows, args.mem_max) == (
        DEFAULTS.monitor_buf, DEFAULTS.monitor_idle_timeout, DEFAULTS.monitor_max_flows,
        DEFAULTS.monitor_mem_max)
    c = Conv()
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "t.pcap", c.handshake())))
    M.mtcp_app_join(mctx)
    assert (mctx.mon.config.buf_cap, mctx.mon.config.idle_timeout_ns) == (
        cfg.buf_cap, cfg.idle_timeout_ns)
    M.mtcp_destroy_context(mctx)


def test_pcap_out_keeps_packet_times_and_puts_sent_frames_after_their_packet(tmp_path):
    c = Conv()
    frames = c.handshake() + [c.c(ACK | PSH, b"ping"), c.s(ACK)]
    out = tmp_path / "out.pcap"
    pcap = write_pcap(tmp_path / "in.pcap", frames, step_ns=7_001_000)
    mctx = M.mtcp_create_context(0, pcap=str(pcap), pcap_out=str(out))
    s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)

    def on_data(m, sock, side, ev, arg):
        p = M.mtcp_getlastpkt(m, sock, side)
        if p.payload == b"ping":
            M.mtcp_sendpkt(m, sock, b"\x02" * 60)
    M.mtcp_register_callback(mctx, s, M.MOS_ON_PKT_IN, M.MOS_HK_SND, on_data)
    M.mtcp_app_join(mctx)
    with PcapSource(str(out)) as src:
        got = [(f.ts_ns, f.data) for f in src.frames()]
    want = [(1_000_000_000 + i * 7_001_000, fr) for i, fr in enumerate(frames)]
    assert got == want[:4] + [(want[3][0], b"\x02" * 60)] + want[4:]


def test_pcap_writer_writes_pcapng_and_counts_frames_over_its_cap(tmp_path):
    frame = Conv().c(SYN, ack=0)
    with PcapWriter(str(tmp_path / "a.pcapng"), max_bytes=200) as w:
        assert w.write(frame, 5_000_000_123)
        assert not w.write(frame, 6_000_000_000)           # over 200 bytes
        assert w.capped == 1
    with PcapSource(str(tmp_path / "a.pcapng")) as src:
        assert [(f.ts_ns, f.data) for f in src.frames()] == [(5_000_000_123, frame)]
    with pytest.raises(OSError, match="nowhere"):
        PcapWriter(str(tmp_path / "nowhere" / "x.pcap"))


def vlan(frame, vid=7):
    return frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]


def test_raw_frames_are_read_by_the_c_parser_vlan_tags_included(tmp_path):
    c = Conv()
    frames = [vlan(f) for f in c.handshake() + [c.c(ACK | PSH, b"tagged data")]]
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "v.pcap", frames)))
    raw = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_RAW, 0)
    seen = []
    M.mtcp_register_callback(mctx, raw, M.MOS_ON_PKT_IN, M.MOS_NULL,
                             lambda m, sock, *a: seen.append(M.mtcp_getlastpkt(m, sock)))
    M.mtcp_app_join(mctx)
    assert len(seen) == 4
    p = seen[-1]
    assert (p.ip_off, p.tcp_off, p.payload_off) == (18, 38, 58)
    assert p.payload == b"tagged data" and p.seq == 1001 and p.ack_seq == 5001
    assert p.ip_len == 20 + 20 + len(b"tagged data") and p.window == 65535


def test_setlastpkt_checksums_on_a_tagged_frame_and_refuses_a_non_tcp_one(tmp_path):
    c = Conv()
    udp = vlan(bytes.fromhex("020000000002020000000001") + b"\x08\x00" +
               struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0, bytes(4), bytes(4)) +
               struct.pack("!HHHH", 53, 53, 8, 0))
    frames = [vlan(f) for f in c.handshake() + [c.c(ACK | PSH, b"abcdef")]] + [udp]
    out = tmp_path / "o.pcap"
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "v.pcap", frames)),
                                 pcap_out=str(out))
    raw = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_RAW, 0)
    errs = []

    def edit(m, sock, *a):
        p = M.mtcp_getlastpkt(m, sock)
        try:
            if p.payload == b"abcdef":
                M.mtcp_setlastpkt(m, sock, 0, 0, b"XY", M.MOS_TCP_PAYLOAD | M.MOS_OVERWRITE |
                                  M.MOS_UPDATE_IP_CHKSUM | M.MOS_UPDATE_TCP_CHKSUM)
            elif p.ip_len == 28:
                M.mtcp_setlastpkt(m, sock, 0, 0, b"X", M.MOS_TCP_PAYLOAD | M.MOS_OVERWRITE)
        except OSError as e:
            errs.append(e.errno)
    M.mtcp_register_callback(mctx, raw, M.MOS_ON_PKT_IN, M.MOS_NULL, edit)
    M.mtcp_app_join(mctx)
    assert errs == [errno.EINVAL]
    with PcapSource(str(out)) as src:
        edited = [f.data for f in src.frames()][3]
    untagged = edited[:12] + edited[16:]
    assert untagged.endswith(b"XYcdef")
    assert lib.xc_frame_verify(untagged, len(untagged)) == lib.XC_FRAME_OK


def test_syn_orphan_and_raw_filters_run_in_the_c_vm(tmp_path):
    web, other = Conv(cport=40001, sport=80), Conv(cport=40002, sport=22)
    late = Conv(cport=40003, sport=80)
    frames = web.handshake() + other.handshake() + [late.c(ACK | PSH, b"late", seq=7)]
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "f.pcap", frames)))
    s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    M.mtcp_bind_monitor_filter(mctx, s, M.monitor_filter(
        stream_syn_filter="dst port 80", stream_orphan_filter="src port 40003"))
    raw = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_RAW, 0)
    M.mtcp_bind_monitor_filter(mctx, raw, "tcp[tcpflags] & tcp-syn != 0 and port 22")
    starts, orphans, syns = [], [], []
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_START, M.MOS_HK_SND, lambda m, k, *a:
                             starts.append(M.mtcp_getpeername(m, k, M.MOS_SIDE_CLI)))
    M.mtcp_register_callback(mctx, s, M.MOS_ON_ORPHAN, M.MOS_NULL,
                             lambda m, k, *a: orphans.append(M.mtcp_getlastpkt(m, k).payload))
    M.mtcp_register_callback(mctx, raw, M.MOS_ON_PKT_IN, M.MOS_NULL,
                             lambda m, k, *a: syns.append(M.mtcp_getlastpkt(m, k).tcph[13]))
    M.mtcp_app_join(mctx)
    assert starts == [("198.18.0.1", 40001)]
    assert orphans == [b"late"]
    assert syns == [SYN, SYN | ACK]


def test_flow_filters_refuse_per_packet_rules_with_one_error_type():
    for bad in ("udp", "not tcp", "less 100", "tcp[tcpflags] & tcp-syn != 0",
                " and ".join("not (port %d" % i for i in range(40)) + ")" * 40):
        with pytest.raises(FilterError):
            Filter(bad, flow=True)


def test_a_flow_filters_xdp_expression_takes_both_directions(tmp_path):
    """Compiled by gcc over the XDP program's fields: a frame of either
    direction of a matching flow passes, others do not."""
    exprs = ["src host 198.18.0.1 and dst port 80", "not port 5001", "dst net 198.18.0.0/24"]
    body = "\n".join("    case %d: return %s;" % (i, Filter(e, flow=True).xdp_expression())
                     for i, e in enumerate(exprs))
    src = tmp_path / "x.c"
    src.write_text(r"""
#include <stdint.h>
#include <stdio.h>
#include <arpa/inet.h>
typedef uint32_t __u32; typedef uint16_t __u16; typedef uint8_t __u8;
static int verdict(int k, __u32 saddr, __u32 daddr, __u16 sport, __u16 dport) {
    __u8 proto = 6, tcp_flags = 0x10; int has_ports = 1, ipv4 = 1; __u32 len = 60;
    (void)proto; (void)tcp_flags; (void)has_ports; (void)ipv4; (void)len;
    switch (k) {
%s
    }
    return -1;
}
int main(int argc, char **argv) {
    struct in_addr a, b;
    inet_aton(argv[2], &a); inet_aton(argv[4], &b);
    printf("%%d\n", verdict(atoi(argv[1]), a.s_addr, b.s_addr, atoi(argv[3]), atoi(argv[5])));
    return 0;
}
""" % body)
    exe = tmp_path / "x"
    subprocess.run(["gcc", "-O1", "-Wall", "-Werror", "-include", "stdlib.h", "-o", str(exe),
                    str(src)], check=True)

    def xdp(k, *frame):
        return subprocess.run([str(exe), str(k)] + [str(x) for x in frame], capture_output=True,
                              text=True, check=True).stdout.strip() == "1"
    c2s, s2c = ("198.18.0.1", 40000, "198.18.0.2", 80), ("198.18.0.2", 80, "198.18.0.1", 40000)
    assert xdp(0, *c2s) and xdp(0, *s2c)
    assert not xdp(0, "198.18.0.9", 40000, "198.18.0.2", 80)
    assert not xdp(1, "198.18.0.1", 40000, "198.18.0.2", 5001)
    assert not xdp(1, "198.18.0.2", 5001, "198.18.0.1", 40000)
    assert xdp(1, *c2s) and xdp(2, "10.0.0.1", 1, "198.18.0.7", 2)
    assert xdp(2, "198.18.0.7", 2, "10.0.0.1", 1) and not xdp(2, "10.0.0.1", 1, "10.0.0.2", 2)
    # the C core's flow verdict agrees (client as src)
    f = Filter(exprs[0], flow=True)
    assert f(*c2s) and not f(*s2c)


def _flows(n, segments=3):
    frames = []
    for i in range(n):
        c = Conv(cport=30000 + i, sport=80 if i % 2 == 0 else 443)
        frames += c.handshake() + [c.c(ACK | PSH, b"x" * 100) for _ in range(segments)]
        frames += c.close()
    return frames


def test_the_core_raises_nothing_for_a_listener_without_callbacks(tmp_path):
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "n.pcap", _flows(6))))
    M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    M.mtcp_app_join(mctx)
    st = mctx.mon.stats()
    assert st["flows_created"] == 6 and st["events"] == 0


def test_the_core_raises_a_flows_events_only_for_listeners_that_took_it(tmp_path):
    """Listener A takes port 80 with a NEW_DATA callback, B port 443 with
    none: the core writes NEW_DATA of port 80's flows (and their CONN_END,
    which ends their active sockets), nothing of port 443's; a flow no
    listener takes buffers nothing."""
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "l.pcap", _flows(6))))
    a = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    b = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    M.mtcp_bind_monitor_filter(mctx, a, "dst port 80")
    M.mtcp_bind_monitor_filter(mctx, b, "dst port 443")
    got = []
    M.mtcp_register_callback(mctx, a, M.MOS_ON_CONN_NEW_DATA, M.MOS_NULL, lambda m, k, side, *x:
                             got.append(M.mtcp_getpeername(m, k, M.MOS_SIDE_CLI)[1]))
    M.mtcp_app_join(mctx)
    assert sorted(set(got)) == [30000, 30002, 30004] and len(got) == 9
    st = mctx.mon.stats()
    assert st["events"] == 9 + 3                     # NEW_DATA, CONN_END of port 80's flows
    assert not [s for s in mctx.socks.values() if s.type == M.MOS_SOCK_MONITOR_STREAM_ACTIVE]


def test_flows_no_listener_takes_are_not_buffered(tmp_path):
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "u.pcap", _flows(1, 20))))
    s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    M.mtcp_bind_monitor_filter(mctx, s, "dst port 9")
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_NEW_DATA, M.MOS_NULL, lambda *x: None)
    seen = []
    M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_START, M.MOS_HK_SND, lambda *x: seen.append(1))
    M.mtcp_app_join(mctx)
    st = mctx.mon.stats()
    assert seen == [] and st["events"] == 0 and st["mem_peak"] == 0


def test_listener_slots_are_capped_and_reused(tmp_path):
    mctx = M.mtcp_create_context(0, pcap=str(write_pcap(tmp_path / "s.pcap", _flows(2))))
    socks = [M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
             for _ in range(lib.XC_MON_MAX_LISTENERS)]
    with pytest.raises(OSError) as e:
        M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    assert e.value.errno == errno.ENFILE
    raw = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_RAW, 0)     # not a listener
    for s in socks[1:]:
        M.mtcp_close(mctx, s)
    again = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    ends = []
    for s in (socks[0], again):
        M.mtcp_register_callback(mctx, s, M.MOS_ON_CONN_END, M.MOS_HK_SND,
                                 lambda m, k, *x, s=s: ends.append(s))
    M.mtcp_app_join(mctx)
    assert sorted(ends) == sorted([socks[0], again] * 2) and raw not in ends
