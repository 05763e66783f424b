"""The C core's generic port over an in-memory link: checksums, verification,
fault injection, pcap tap, capacity limits."""
import struct

import pytest

from xdpmtcp._core import ffi, lib
from xdpmtcp.phy import Burst, FaultInjector, PcapTap, Port
from xdpmtcp.wire import TcpFlags, build_tcp_frame

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def frame(seq=1, payload=b"", flags=TcpFlags.ACK, sport=40000, dport=8080):
    return build_tcp_frame(src_mac=MAC_A, dst_mac=MAC_B, src_ip="198.18.0.2",
                           dst_ip="198.18.0.1", sport=sport, dport=dport, seq=seq,
                           ack=1, flags=flags, window=1000, payload=payload)


@pytest.fixture
def link():
    a, b = Port.memlink(depth=64)
    yield a, b
    a.close()
    b.close()


def receive(port, cap=256):
    burst = Burst(cap)
    port.rx(burst)
    return list(burst)


def test_frames_cross_the_link_unchanged_and_classified(link):
    a, b = link
    frames = [frame(seq=i, payload=b"x" * i) for i in range(5)]
    assert a.tx(frames) == 5
    got = receive(b)
    assert [g.data for g in got] == frames
    assert [g.seg_class for g in got] == [lib.XM_SEG_ACK] + [lib.XM_SEG_DATA] * 4
    assert [g.payload_len for g in got] == [0, 1, 2, 3, 4]
    assert b.stats()["rx_frames"] == 5 and a.stats()["tx_frames"] == 5


def test_software_classifier_matches_flags(link):
    a, b = link
    cases = [(TcpFlags.SYN, lib.XM_SEG_SYN), (TcpFlags.SYN | TcpFlags.ACK, lib.XM_SEG_SYNACK),
             (TcpFlags.FIN | TcpFlags.ACK, lib.XM_SEG_FIN), (TcpFlags.RST, lib.XM_SEG_RST)]
    a.tx([frame(flags=f) for f, _ in cases])
    assert [g.seg_class for g in receive(b)] == [c for _, c in cases]


def test_flow_hash_is_symmetric(link):
    a, b = link
    fwd = frame(sport=1234, dport=80)
    rev = build_tcp_frame(src_mac=MAC_B, dst_mac=MAC_A, src_ip="198.18.0.1",
                          dst_ip="198.18.0.2", sport=80, dport=1234, seq=5, ack=1,
                          flags=TcpFlags.ACK, window=10)
    a.tx([fwd, rev])
    h = [g.flow_hash for g in receive(b)]
    assert h[0] == h[1] != 0


def corrupt_at(data, offset):
    d = bytearray(data)
    d[offset] ^= 0xFF
    return bytes(d)


def test_bad_checksums_and_truncation_are_counted_and_dropped(link):
    a, b = link
    good = frame(payload=b"hello")
    bad_ip = corrupt_at(good, 14 + 8)            # TTL: IPv4 header checksum breaks
    bad_tcp = corrupt_at(good, len(good) - 1)    # payload byte: TCP checksum breaks
    truncated = good[:14 + 20 + 10]              # IPv4 total length > frame
    a.tx([bad_ip, bad_tcp, truncated, good])
    got = receive(b)
    assert [g.data for g in got] == [good]
    st = b.stats()
    assert (st["rx_bad_ip_csum"], st["rx_bad_tcp_csum"], st["rx_malformed"]) == (1, 1, 1)


def test_verification_can_be_turned_off(link):
    a, b = link
    b.set_flags(verify_csum=False)
    a.tx([corrupt_at(frame(payload=b"abc"), 55)])
    assert len(receive(b)) == 1


def test_fill_csum_computes_both_checksums(link):
    a, b = link
    good = frame(payload=b"payload")
    zeroed = bytearray(good)
    zeroed[24:26] = b"\0\0"          # IPv4 checksum
    zeroed[50:52] = b"\0\0"          # TCP checksum
    a.tx([bytes(zeroed)], fill_csum=True)
    assert [g.data for g in receive(b)] == [good]


def test_inet_csum_matches_rfc1071_example():
    # RFC 1071 section 3 example words: sum 0x2ddf0 -> folded 0xddf2, csum ~ = 0x220d
    data = bytes([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
    c = lib.xc_inet_csum(data, len(data))
    assert struct.pack("=H", c) == bytes([0x22, 0x0d])


def test_drop_all_and_seeded_determinism(link):
    a, b = link
    b.add(FaultInjector(drop=1.0, direction="rx"))
    a.tx([frame(seq=i) for i in range(10)])
    assert receive(b) == []
    assert b.stats()["fault_dropped_rx"] == 10


def run_lossy(seed):
    a, b = Port.memlink(depth=512)
    b.add(FaultInjector(drop=0.3, seed=seed, direction="rx"))
    a.tx([frame(seq=i) for i in range(400)])
    seqs = [struct.unpack("!I", g.data[38:42])[0] for g in receive(b, 512)]
    a.close(); b.close()
    return seqs


def test_drop_rate_is_near_p_and_reproducible():
    s1, s2, s3 = run_lossy(7), run_lossy(7), run_lossy(8)
    assert s1 == s2 and s1 != s3
    assert 400 * 0.6 < len(s1) < 400 * 0.8


def test_duplicate_emits_twice(link):
    a, b = link
    a.add(FaultInjector(duplicate=1.0, direction="tx"))
    a.tx([frame(seq=1), frame(seq=2)])
    got = receive(b)
    assert [g.data for g in got] == [frame(seq=1)] * 2 + [frame(seq=2)] * 2
    assert a.stats()["fault_duplicated_tx"] == 2


def test_corruption_is_caught_by_verification(link):
    a, b = link
    a.add(FaultInjector(corrupt=1.0, direction="tx", seed=3))
    a.tx([frame(seq=i, payload=b"z" * 100) for i in range(20)])
    assert receive(b) == []
    st = b.stats()
    assert st["rx_bad_ip_csum"] + st["rx_bad_tcp_csum"] + st["rx_malformed"] == 20


def test_delay_holds_frames_until_due(link):
    import time
    a, b = link
    a.add(FaultInjector(delay=1.0, delay_us=20000, direction="tx"))
    a.tx([frame(seq=1)])
    assert receive(b) == []
    due = a.next_due_ns()
    assert due > lib.xc_monotonic_ns()
    time.sleep(0.03)
    a.flush()
    assert [g.data for g in receive(b)] == [frame(seq=1)]
    assert a.next_due_ns() == 0


def test_reorder_lets_later_frames_overtake(link):
    import time
    a, b = link
    b.add(FaultInjector(reorder=0.5, reorder_us=5000, seed=11, direction="rx"))
    a.tx([frame(seq=i) for i in range(20)])
    got = receive(b)
    time.sleep(0.01)
    got += receive(b)
    seqs = [struct.unpack("!I", g.data[38:42])[0] for g in got]
    assert sorted(seqs) == list(range(20))
    assert seqs != list(range(20))
    assert b.stats()["fault_reordered_rx"] > 0


def test_pcap_tap_writes_a_readable_file(link, tmp_path):
    a, b = link
    path = tmp_path / "t.pcap"
    a.add(PcapTap(str(path)))
    frames = [frame(seq=i, payload=b"p" * i) for i in range(3)]
    a.tx(frames)
    a.close()
    raw = path.read_bytes()
    magic, vmaj, vmin, _, _, snap, linktype = struct.unpack("=IHHiIII", raw[:24])
    assert (magic, vmaj, vmin, linktype) == (0xA1B23C4D, 2, 4, 1)
    off, found = 24, []
    while off < len(raw):
        _, _, incl, orig = struct.unpack("=IIII", raw[off:off + 16])
        found.append(raw[off + 16:off + 16 + incl])
        off += 16 + incl
    assert found == frames


def test_pcap_cap_counts_instead_of_writing(link, tmp_path):
    a, b = link
    a.add(PcapTap(str(tmp_path / "c.pcap"), max_bytes=24 + 16 + 60))
    a.tx([frame(seq=i) for i in range(3)])
    st = a.stats()
    assert st["pcap_frames"] == 1 and st["pcap_dropped"] == 2


def test_full_link_reports_what_was_not_sent():
    a, b = Port.memlink(depth=4)
    assert a.tx([frame(seq=i) for i in range(6)]) == 4
    assert a.stats()["tx_no_room"] == 2
    a.close(); b.close()


def test_oversize_frames_are_refused(link):
    a, b = link
    a.tx([b"\0" * (lib.XC_FRAME_MAX + 1), frame()])
    assert a.stats()["tx_oversize"] == 1
    assert len(receive(b)) == 1


def test_burst_capacity_is_respected(link):
    a, b = link
    a.tx([frame(seq=i) for i in range(10)])
    burst = Burst(4)
    assert b.rx(burst) == 4
    assert b.rx(burst) == 0          # full
    burst.clear()
    assert b.rx(burst) == 4


def test_fault_spec_parsing():
    f = FaultInjector.parse("loss=0.1, dup=0.2,reorder=0.3,seed=9,direction=tx")
    assert (f.drop, f.duplicate, f.reorder, f.seed, f.direction) == (0.1, 0.2, 0.3, 9, "tx")
    with pytest.raises(ValueError, match="bogus"):
        FaultInjector.parse("bogus=1")
    with pytest.raises(ValueError, match="probability"):
        FaultInjector.parse("drop=2")


def test_closed_port_raises(link):
    a, b = link
    a.close()
    with pytest.raises(OSError, match="closed"):
        a.tx([frame()])
