"""Frames longer than XC_FRAME_MAX in a capture (GRO/TSO/BIG TCP
super-frames, jumbo frames): the reader delivers the IPv4/TCP segments they
stand for (headers repeated, sequence numbers advancing, checksums fresh),
going on across bursts, and the monitor reassembles them byte for byte;
whatever cannot be cut is counted, never silently skipped."""
import json
import random
import struct

import pytest

from montraffic import ACK, PSH, Conv
from pcapgen import epb, idb, pcap_file, shb, sll, sll2
from xdpmtcp._core import lib
from xdpmtcp.cli import main
from xdpmtcp.phy.burst import Burst
from xdpmtcp.phy.pcap_source import PcapSource

T0 = 1_700_000_000_000_000_000
DATA = random.Random(7).randbytes(300_000)
CHUNK = 60_000          # a TSO super-segment's payload


def conversation(cv=None):
    """Handshake, DATA from the client in 60 KB super-frames, ACKs, close."""
    cv = cv or Conv()
    frames = cv.handshake()
    for i in range(0, len(DATA), CHUNK):
        frames.append(cv.c(ACK | PSH, DATA[i:i + CHUNK]))
        frames.append(cv.s(ACK))
    return frames + cv.close()


def write(tmp_path, frames, name="sf.pcap", linktype=1):
    path = tmp_path / name
    path.write_bytes(pcap_file([(T0 + i * 1000, f) for i, f in enumerate(frames)],
                               linktype=linktype, snaplen=262144))
    return path


def monitor(path, out, capsys, *extra):
    assert main(["monitor", "--pcap", str(path), "--streams", str(out), "--json", *extra]) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    index = json.load(open(out / "index.json"))
    flows = [(f, (out / f["c2s"]["file"]).read_bytes(), (out / f["s2c"]["file"]).read_bytes())
             for f in index["flows"]]
    return lines[-1], flows


def read_all(path, cap):
    """Every frame the reader delivers with bursts of cap frames."""
    src = PcapSource(path)
    b = Burst(cap)
    frames = []
    while True:
        b.clear()
        if not src.read(b):
            break
        frames += [fr.data for fr in b]
    return frames, src.stats()


def test_pieces_are_the_segments_across_small_bursts(tmp_path):
    frames, st = read_all(write(tmp_path, conversation()), 7)
    assert st["superframes"] == 5 and st["oversize"] == st["cut_frames"] == 0
    assert st["frames"] == len(frames) == st["records"] - 5 + st["superframe_pieces"]
    # the client's segments with payload (Ethernet 14 + IPv4 20 + TCP 20)
    data = [f for f in frames if len(f) > 60 and struct.unpack_from("!H", f, 34)[0] == 40000]
    payload, seq = b"", None
    for f in data:
        assert len(f) <= lib.XC_FRAME_MAX
        assert lib.xc_frame_verify(f, len(f)) == lib.XC_FRAME_OK     # fresh checksums
        s = struct.unpack_from("!I", f, 38)[0]
        assert seq is None or s == seq                                # in sequence
        tot = struct.unpack_from("!H", f, 16)[0]
        seq = s + tot - 40
        payload += f[54:14 + tot]
    assert payload == DATA
    # PSH only on the last piece of each super-frame
    psh = [f for f in data if f[47] & PSH]
    assert len(psh) == 5


def test_monitor_reassembles_super_frames_byte_for_byte(tmp_path, capsys):
    summary, flows = monitor(write(tmp_path, conversation()), tmp_path / "out", capsys,
                             "--verify-csum")
    assert summary["monitor"]["bad_csum"] == 0 and summary["monitor"]["malformed"] == 0
    (flow, c2s, s2c), = flows
    assert c2s == DATA and s2c == b"" and flow["c2s"]["gaps"] == []


@pytest.mark.parametrize("shape", ["vlan", "qinq", "sll", "sll2", "pcapng"])
def test_super_frames_behind_other_link_headers(tmp_path, capsys, shape):
    frames = conversation()
    if shape in ("vlan", "qinq"):
        tags = b"\x81\x00\x00\x07" if shape == "vlan" else b"\x88\xa8\x00\x05\x81\x00\x00\x07"
        frames = [f[:12] + tags + f[12:] for f in frames]
        path = write(tmp_path, frames)
    elif shape == "sll":
        path = write(tmp_path, [sll(f[14:]) for f in frames], linktype=113)
    elif shape == "sll2":
        path = write(tmp_path, [sll2(f[14:]) for f in frames], linktype=276)
    else:
        path = tmp_path / "sf.pcapng"
        path.write_bytes(shb() + idb(1) + b"".join(epb(0, T0 // 1000 + i, f)
                                                   for i, f in enumerate(frames)))
    summary, flows = monitor(path, tmp_path / "out", capsys)
    assert summary["input"]["superframes"] == 5
    (flow, c2s, _), = flows
    assert c2s == DATA and flow["c2s"]["gaps"] == []


def test_a_snapped_super_frame_leaves_a_gap_of_what_was_not_captured(tmp_path, capsys):
    cv = Conv()
    frames = cv.handshake()
    big = cv.c(ACK | PSH, DATA[:CHUNK])
    frames += [cv.s(ACK), cv.c(ACK | PSH, DATA[CHUNK:CHUNK + 1000]), cv.s(ACK)] + cv.close()
    keep = 10_054                          # 10,000 payload bytes captured of 60,000
    recs = [(T0, frames[0]), (T0 + 1, frames[1]), (T0 + 2, frames[2]),
            (T0 + 3, big[:keep], len(big))]
    recs += [(T0 + 4 + i, f) for i, f in enumerate(frames[3:])]
    path = tmp_path / "snap.pcap"
    path.write_bytes(pcap_file(recs, snaplen=keep))
    summary, flows = monitor(path, tmp_path / "out", capsys)
    assert summary["input"]["superframes"] == 1 and summary["input"]["snapped"] == 1
    (flow, c2s, _), = flows
    assert flow["c2s"]["gaps"] == [[10_000, 50_000]]
    assert c2s == DATA[:10_000] + DATA[CHUNK:CHUNK + 1000]


def test_big_tcp_ipv4_total_length_zero(tmp_path, capsys):
    """Linux writes an IPv4 total length of 0 on BIG TCP packets over 64 KiB."""
    cv = Conv()
    frames = cv.handshake()
    n = 150_000
    hdr = bytearray(cv.c(ACK | PSH, b"", advance=False))
    struct.pack_into("!H", hdr, 16, 0)
    cv.cnxt += n
    frames += [bytes(hdr) + DATA[:n], cv.s(ACK)] + cv.close()
    summary, flows = monitor(write(tmp_path, frames), tmp_path / "out", capsys)
    assert summary["input"]["superframes"] == 1
    (flow, c2s, _), = flows
    assert c2s == DATA[:n] and flow["c2s"]["gaps"] == []


def test_long_frames_that_are_not_tcp_are_cut_and_counted(tmp_path, capsys):
    frames = conversation()
    udp = bytearray(frames[3][:34]) + b"\0" * 8 + b"u" * 5000
    udp[23] = 17
    struct.pack_into("!H", udp, 16, len(udp) - 14)
    path = write(tmp_path, frames[:3] + [bytes(udp)] + frames[3:])
    summary, flows = monitor(path, tmp_path / "out", capsys)
    assert summary["input"]["cut_frames"] == 1 and summary["monitor"]["not_tcp"] == 1
    assert flows[0][1] == DATA


def test_frames_over_the_reader_cap_are_skipped_as_oversize(tmp_path):
    frames = conversation()
    huge = frames[3][:54] + b"h" * lib.XC_PCAP_FRAME_CAP
    path = tmp_path / "huge.pcapng"
    path.write_bytes(shb() + idb(1) + b"".join(epb(0, i, f) for i, f in
                                               enumerate(frames[:3] + [huge] + frames[3:])))
    got, st = read_all(path, 256)
    assert st["oversize"] == 1 and st["records"] == len(frames) + 1
    assert st["superframes"] == 5


def test_mutated_super_frames_never_crash(tmp_path):
    """Random bytes of the headers of super-frames (IPv4 and IPv6) changed:
    every frame delivered stays within XC_FRAME_MAX, the monitor counts
    what it cannot use."""
    from test_monitor_ipv6 import to_v6
    from xdpmtcp.monitor.core import Monitor
    rnd = random.Random(5)
    base = conversation()
    big = [f for f in base if len(f) > lib.XC_FRAME_MAX]
    big += [to_v6(f) for f in big]
    for i in range(200):
        f = bytearray(rnd.choice(big))
        for _ in range(rnd.randint(1, 4)):
            f[rnd.randrange(0, 80)] = rnd.randrange(256)
        if rnd.random() < 0.3:
            f = f[:rnd.randrange(60, len(f))]
        path = write(tmp_path, base[:3] + [bytes(f)] + base[4:5], name="m.pcap")
        frames, st = read_all(path, 3)
        assert all(len(x) <= lib.XC_FRAME_MAX for x in frames)
        mon = Monitor(drain=True, max_flows=4)
        src = PcapSource(path)
        b = Burst(8)
        while True:
            b.clear()
            if not src.read(b):
                break
            for _ in mon.feed(b):
                pass
        for _ in mon.flush():
            pass
        assert mon.stats()["frames"] == st["frames"]
