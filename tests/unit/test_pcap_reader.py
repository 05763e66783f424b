"""The C capture reader on files made here: every byte order, timestamp
resolution and block the formats allow, link-header normalisation, the
caps, and corrupted or truncated input (counted, never a crash)."""
import os
import random
import struct
import threading

import pytest

from pcapgen import (BE, LE, block, epb, idb, ng_block_offsets, opb, option,
                     pcap_file, pcap_record_offsets, sll, sll2, shb, spb)
from xdpmtcp._core import ffi, lib
from xdpmtcp.phy import Burst, PcapSource, PcapTap, Port
from xdpmtcp.wire import TcpFlags, build_tcp_frame

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
T0 = 1_700_000_000_123_456_789


def tcp(seq=1, payload=b"", flags=TcpFlags.ACK):
    return build_tcp_frame(src_mac=MAC_A, dst_mac=MAC_B, src_ip="198.18.1.1",
                           dst_ip="198.18.1.2", sport=40000, dport=5001, seq=seq,
                           ack=1, flags=flags, window=1000, payload=payload)


FRAMES = [tcp(1, flags=TcpFlags.SYN), tcp(2, b"hello"), tcp(7, b""),
          tcp(7, b"x" * 1400), tcp(1407, flags=TcpFlags.FIN | TcpFlags.ACK)]
ARP = b"\xff" * 6 + bytes.fromhex("02000000000a") + b"\x08\x06" + bytes(28)


def write(tmp_path, blob, name="f.cap"):
    p = tmp_path / name
    p.write_bytes(blob)
    return str(p)


def read_all(path):
    with PcapSource(path) as src:
        return list(src.frames()), src.stats()


def classify(data):
    pkt = ffi.new("struct xc_pkt *")
    lib.xc_frame_classify(data, len(data), pkt)
    return pkt.seg_class, pkt.payload_len, pkt.flow_hash


def eth(data, ethertype=0x0800, src=b"\0" * 6):
    return b"\0" * 6 + src + struct.pack("!H", ethertype) + data


# ---------------------------------------------------------------- classic

@pytest.mark.parametrize("e", [LE, BE])
@pytest.mark.parametrize("nsec", [False, True])
def test_classic_byte_orders_and_precisions(tmp_path, e, nsec):
    recs = [(T0 + i * 1_000_000_001, f) for i, f in enumerate(FRAMES + [ARP])]
    got, st = read_all(write(tmp_path, pcap_file(recs, e=e, nsec=nsec)))
    assert [g.data for g in got] == FRAMES + [ARP]
    step = 1 if nsec else 1000
    assert [g.ts_ns for g in got] == [ts // step * step for ts, _ in recs]
    for g in got:   # the same classifier the live path runs
        assert (g.seg_class, g.payload_len, g.flow_hash) == classify(g.data)
    assert [g.seg_class for g in got] == [lib.XM_SEG_SYN, lib.XM_SEG_DATA, lib.XM_SEG_ACK,
                                          lib.XM_SEG_DATA, lib.XM_SEG_FIN, lib.XM_SEG_NONE]
    assert st["records"] == st["frames"] == 6
    assert st["file_bytes"] == os.path.getsize(tmp_path / "f.cap")
    assert sum(st[k] for k in ("truncated_records", "oversize", "bad_blocks",
                               "bad_link_header", "unsupported_linktype")) == 0


def test_round_trip_with_the_pcap_tap(tmp_path):
    a, b = Port.memlink(depth=64)
    path = str(tmp_path / "tap.pcap")
    a.add(PcapTap(path))
    a.tx(FRAMES)
    a.close()
    burst = Burst(64)
    b.rx(burst)
    live = list(burst)
    b.close()
    got, st = read_all(path)
    assert [g.data for g in got] == [f.data for f in live]
    assert [(g.seg_class, g.payload_len, g.flow_hash) for g in got] == \
        [(f.seg_class, f.payload_len, f.flow_hash) for f in live]
    assert all(x.ts_ns <= y.ts_ns for x, y in zip(got, got[1:]))
    assert st["frames"] == len(FRAMES)


def test_classic_fcs_is_cut(tmp_path):
    recs = [(T0, f + b"\xde\xad\xbe\xef") for f in FRAMES[:2]]
    got, _ = read_all(write(tmp_path, pcap_file(recs, fcs_bytes=4)))
    assert [g.data for g in got] == FRAMES[:2]


def test_snapped_records_are_delivered_and_counted(tmp_path):
    full = FRAMES[3]
    recs = [(T0, full[:96], len(full)), (T0, FRAMES[1])]
    got, st = read_all(write(tmp_path, pcap_file(recs, snaplen=96)))
    assert [g.data for g in got] == [full[:96], FRAMES[1]]
    assert st["snapped"] == 1


def test_a_super_frame_comes_out_as_its_segments_and_reading_goes_on(tmp_path):
    big = tcp(1, b"j" * 3000)
    got, st = read_all(write(tmp_path, pcap_file([(T0, big), (T0, FRAMES[1])])))
    assert [len(g.data) for g in got] == [lib.XC_FRAME_MAX, 54 + 3000 - (lib.XC_FRAME_MAX - 54),
                                          len(FRAMES[1])]
    assert got[2].data == FRAMES[1] and got[0].payload_len + got[1].payload_len == 3000
    assert (st["superframes"], st["superframe_pieces"], st["records"]) == (1, 2, 2)
    assert st["oversize"] == 0


def test_insane_record_length_stops_cleanly(tmp_path):
    blob = bytearray(pcap_file([(T0, f) for f in FRAMES]))
    second = pcap_record_offsets(bytes(blob))[1]
    struct.pack_into("<I", blob, second + 8, 0x7FFFFFFF)
    got, st = read_all(write(tmp_path, bytes(blob)))
    assert [g.data for g in got] == FRAMES[:1]
    assert st["bad_records"] == 1 and st["truncated_records"] == 0
    assert (st["stop"], st["stop_offset"]) == (lib.XC_PCAP_STOP_RECORD_LENGTH, second)


# ---------------------------------------------------------------- link types

def test_link_types_become_ethernet(tmp_path):
    ip = FRAMES[1][14:]
    ip6 = bytes([0x60]) + bytes(39)
    mac = bytes.fromhex("02aabbccddee")
    cases = [
        (113, sll(ip, addr=mac), eth(ip, src=mac)),
        (113, sll(ip, addr=b"\x01\x02"), eth(ip)),          # not a MAC: zero
        (276, sll2(ip, addr=mac), eth(ip, src=mac)),
        (101, ip, eth(ip)),
        (101, ip6, eth(ip6, 0x86DD)),
        (228, ip, eth(ip)),
        (229, ip6, eth(ip6, 0x86DD)),
    ]
    for linktype, record, want in cases:
        got, st = read_all(write(tmp_path, pcap_file([(T0, record)], linktype=linktype)))
        assert [g.data for g in got] == [want], linktype
        assert got[0].seg_class == classify(want)[0]
    assert got[0].seg_class == lib.XM_SEG_NONE
    # the IPv4 ones classify like the Ethernet original
    got, _ = read_all(write(tmp_path, pcap_file([(T0, sll2(ip))], linktype=276)))
    assert got[0].payload_len == 5 and got[0].seg_class == lib.XM_SEG_DATA


def test_bad_and_unknown_link_headers_are_counted(tmp_path):
    ip = FRAMES[1][14:]
    got, st = read_all(write(tmp_path, pcap_file(
        [(T0, b"short"), (T0, sll(ip))], linktype=113)))
    assert len(got) == 1 and st["bad_link_header"] == 1
    got, st = read_all(write(tmp_path, pcap_file(
        [(T0, bytes([0x60]) + ip[1:]), (T0, b""), (T0, ip)], linktype=228)))
    assert len(got) == 1 and st["bad_link_header"] == 2
    # a classic file of a link type the reader cannot normalise is refused whole
    with pytest.raises(OSError, match="link type 105 is not supported"):
        PcapSource(write(tmp_path, pcap_file([(T0, ip)] * 3, linktype=105)))


def test_raw_ip_near_the_frame_cap(tmp_path):
    room = lib.XC_FRAME_MAX - 14
    got, st = read_all(write(tmp_path, pcap_file(
        [(T0, b"\x45" + bytes(room - 1)), (T0, b"\x45" + bytes(room))], linktype=101)))
    # the longer one is no IPv4/TCP packet to cut: delivered cut, counted
    assert [len(g.data) for g in got] == [lib.XC_FRAME_MAX] * 2 and st["cut_frames"] == 1


# ---------------------------------------------------------------- pcapng

def sample_ng():
    """Two sections, one per byte order, interfaces of several link types
    and resolutions, every packet block type, blocks to skip."""
    ip = FRAMES[1][14:]
    first = (shb(LE)
             + idb(1, LE)                                        # 0: µs
             + idb(276, LE, tsresol=9)                           # 1: ns
             + idb(101, LE, tsresol=0x80 | 20, tsoffset=100)     # 2: 2^-20 s, +100 s
             + block(4, b"\x00" * 8, LE)                         # name resolution
             + epb(0, 1_700_000_000_000_001, FRAMES[0], LE)
             + epb(1, T0, sll2(ip), LE, options=option(1, b"comment", LE))
             + epb(2, 3 << 20 | 1 << 19, ip, LE)
             + spb(FRAMES[2], LE)
             + opb(0, 5, FRAMES[3], LE)
             + block(5, b"\x00" * 12, LE)                        # interface stats
             + block(0x40000BAD, b"vendor", LE))                 # custom
    second = (shb(BE)
              + idb(228, BE, tsresol=3, fcslen=0)                # ms
              + idb(1, BE, fcslen=4)
              + epb(0, 42, ip, BE)
              + epb(1, 7, FRAMES[4] + b"\x01\x02\x03\x04", BE))
    return first + second


NG_EXPECT = [
    (FRAMES[0], 1_700_000_000_000_001_000),
    (eth(ip := FRAMES[1][14:], src=bytes.fromhex("020000000001")), T0),
    (eth(ip), 103_500_000_000),
    (FRAMES[2], 0),                      # simple packet blocks carry no time
    (FRAMES[3], 5_000),
    (eth(ip), 42_000_000),
    (FRAMES[4], 7_000),
]


def test_pcapng_sections_interfaces_resolutions(tmp_path):
    path = write(tmp_path, sample_ng())
    with PcapSource(path) as src:
        assert src.format == "pcapng"
        got = list(src.frames())
        st = src.stats()
    assert [(g.data, g.ts_ns) for g in got] == NG_EXPECT
    assert (st["sections"], st["interfaces"], st["skipped_blocks"]) == (2, 5, 3)
    assert st["records"] == st["frames"] == 7
    assert st["file_bytes"] == os.path.getsize(path)
    assert sum(st[k] for k in ("truncated_records", "oversize", "bad_blocks")) == 0


def test_pcapng_bad_blocks_are_skipped_when_the_next_is_known(tmp_path):
    blob = (shb() + idb(1)
            + epb(5, 0, FRAMES[0])                       # no interface 5
            + block(6, struct.pack("<IIIII", 0, 0, 0, 5000, 5000) + bytes(8))  # caplen > block
            + block(6, b"\0" * 4)                        # too short for an EPB
            + epb(0, 0, FRAMES[1]))
    got, st = read_all(write(tmp_path, blob))
    assert [g.data for g in got] == [FRAMES[1]]
    assert st["bad_blocks"] == 3


@pytest.mark.parametrize("damage", ["trailer", "odd_length", "huge_length", "bom", "no_shb"])
def test_pcapng_corruption_stops_cleanly(tmp_path, damage):
    blob = bytearray(shb() + idb(1) + epb(0, 0, FRAMES[0]) + epb(0, 0, FRAMES[1]))
    second = ng_block_offsets(bytes(blob))[3]
    if damage == "trailer":
        struct.pack_into("<I", blob, len(blob) - 4, 1234)
    elif damage == "odd_length":
        struct.pack_into("<I", blob, second + 4, 99)
    elif damage == "huge_length":
        struct.pack_into("<I", blob, second + 4, 1 << 30)
    elif damage == "bom":
        blob[8:12] = b"\x01\x02\x03\x04"
    else:
        blob = bytearray(b"\x0a\x0d\x0d\x0a") + blob[ng_block_offsets(bytes(blob))[1] + 4:]
    if damage in ("bom", "no_shb"):     # the first section header: nothing to read
        with pytest.raises(OSError, match="section header"):
            PcapSource(write(tmp_path, bytes(blob)))
        return
    got, st = read_all(write(tmp_path, bytes(blob)))
    assert st["bad_blocks"] == 1
    assert [g.data for g in got] == [FRAMES[0]]
    assert (st["stop"], st["stop_offset"]) == (lib.XC_PCAP_STOP_BLOCK_LENGTH, second)


def test_oversize_pcapng_block_is_skipped_unread(tmp_path):
    big = b"\0" * (lib.XC_PCAP_BUF_BYTES + 4096)
    blob = shb() + idb(1) + epb(0, 0, big) + block(0xBAD, big) + epb(0, 0, FRAMES[1])
    got, st = read_all(write(tmp_path, blob))
    assert [g.data for g in got] == [FRAMES[1]]
    assert (st["oversize"], st["skipped_blocks"]) == (1, 1)


# ---------------------------------------------------------------- truncation

def cut_counts(offsets, cut):
    """(complete records, whether a record is cut) for a file cut at cut."""
    complete = sum(1 for a, b in zip(offsets, offsets[1:]) if b <= cut)
    return complete, cut not in offsets


def test_every_truncation_of_a_classic_file(tmp_path):
    blob = pcap_file([(T0, f) for f in FRAMES])
    offs = pcap_record_offsets(blob)
    for cut in range(24, len(blob) + 1):
        got, st = read_all(write(tmp_path, blob[:cut]))
        complete, partial = cut_counts(offs, cut)
        assert (len(got), st["truncated_records"]) == (complete, int(partial)), cut
    for cut in range(0, 24):
        with pytest.raises(OSError):
            PcapSource(write(tmp_path, blob[:cut]))


def test_every_truncation_of_a_pcapng_file(tmp_path):
    blob = shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(FRAMES))
    offs = ng_block_offsets(blob)
    for cut in range(0, offs[1]):               # inside the first section header
        with pytest.raises(OSError, match="too short|cut short"):
            PcapSource(write(tmp_path, blob[:cut]))
    for cut in range(offs[1], len(blob) + 1):
        got, st = read_all(write(tmp_path, blob[:cut]))
        complete, partial = cut_counts(offs, cut)
        assert len(got) == max(0, complete - 2), cut       # minus SHB and IDB
        assert st["truncated_records"] == int(partial), cut


# ---------------------------------------------------------------- fuzz

def fuzz_targets():
    ip = FRAMES[1][14:]
    return {
        "pcap": pcap_file([(T0, f) for f in FRAMES]),
        "pcap_be_sll": pcap_file([(T0, sll(f[14:])) for f in FRAMES], e=BE, linktype=113),
        "pcapng": sample_ng(),
        "pcapng_raw": shb(BE) + idb(101, BE) + b"".join(epb(0, 1, ip, BE) for _ in range(5)),
    }


@pytest.mark.parametrize("name", sorted(fuzz_targets()))
def test_fuzz_flips_and_cuts_never_crash(tmp_path, name):
    """Byte flips, random cuts and spliced garbage: the reader returns, its
    counters add up, and nothing outside the frame cap is delivered."""
    base = fuzz_targets()[name]
    rng = random.Random(name)
    for i in range(400):
        blob = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(blob))
            if rng.random() < 0.7:
                blob[at] ^= 1 << rng.randrange(8)
            else:
                blob[at:at + 4] = struct.pack("<I", rng.choice(
                    [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 12, 13, 2049, rng.getrandbits(32)]))
        if rng.random() < 0.5:
            del blob[rng.randrange(4, len(blob)):]
        try:
            src = PcapSource(write(tmp_path, bytes(blob)))
        except OSError:
            continue
        with src:
            frames = list(src.frames())
            st = src.stats()
        assert st["frames"] == len(frames) <= st["records"], (i, st)
        assert st["file_bytes"] <= len(blob)
        assert st["bytes"] == sum(len(f.data) for f in frames)
        assert all(0 < len(f.data) <= lib.XC_FRAME_MAX for f in frames)


# ---------------------------------------------------------------- API

def test_burst_room_and_max_are_respected(tmp_path):
    path = write(tmp_path, pcap_file([(T0, f) for f in FRAMES]))
    with PcapSource(path) as src:
        burst = Burst(2)
        assert src.read(burst, 1) == 1
        assert src.read(burst) == 1
        assert src.read(burst) == 0          # full, not the end
        burst.clear()
        n = [src.read(burst)]
        burst.clear()
        n.append(src.read(burst))
        burst.clear()
        n.append(src.read(burst))
        assert n == [2, 1, 0]


def test_reads_from_a_pipe(tmp_path):
    blob = sample_ng()
    rfd, wfd = os.pipe()

    def feed():
        with os.fdopen(wfd, "wb") as w:
            for i in range(0, len(blob), 7):   # dribble: partial reads everywhere
                w.write(blob[i:i + 7])
                w.flush()

    t = threading.Thread(target=feed)
    t.start()
    with PcapSource(rfd) as src:
        got = [(g.data, g.ts_ns) for g in src.frames()]
    os.close(rfd)
    t.join()
    assert got == NG_EXPECT


def test_open_errors(tmp_path):
    with pytest.raises(OSError, match="No such file"):
        PcapSource(str(tmp_path / "missing.pcap"))
    with pytest.raises(OSError, match="too short"):
        PcapSource(write(tmp_path, b""))
    with pytest.raises(OSError, match="not a pcap"):
        PcapSource(write(tmp_path, b"GIF89a" + bytes(100)))
    with pytest.raises(OSError, match="cut short"):
        PcapSource(write(tmp_path, pcap_file([])[:20]))
    src = PcapSource(write(tmp_path, pcap_file([])))
    src.close()
    with pytest.raises(ValueError, match="closed"):
        src.stats()
