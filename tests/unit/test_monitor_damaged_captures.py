"""`xdpmtcp monitor --pcap` on damaged captures, each made here: a file that
cannot be read at all fails with a one-line error and nothing else; a file
damaged part-way keeps every frame before the damage, says in the summary
how many records were read and where and why reading stopped (or which
damaged blocks it skipped), and exits non-zero, as tcpdump does for a
truncated dump file."""
import json
import re
import struct

import pytest

from montraffic import ACK, PSH, Conv
from pcapgen import BE, LE, block, epb, idb, ng_block_offsets, option, pcap_file, \
    pcap_record_offsets, shb
from xdpmtcp.cli import main

T0 = 1_700_000_000_000_000_000
STEP = 1_000_000
N = 52                  # records of the healthy capture, as in the report


def conversation():
    """N frames: handshake, 45 data segments from the client, close."""
    cv = Conv()
    frames = cv.handshake()
    frames += [cv.c(ACK | PSH, b"seg%03d...." % i) for i in range(N - 7)]
    frames += cv.close()
    assert len(frames) == N
    return frames


FRAMES = conversation()
PAYLOAD = len(b"seg000....")


def classic(frames=FRAMES, **kw):
    return bytearray(pcap_file([(T0 + i * STEP, f) for i, f in enumerate(frames)], **kw))


def ng(frames=FRAMES, e=LE, linktype=1):
    return bytearray(shb(e) + idb(linktype, e)
                     + b"".join(epb(0, (T0 + i * STEP) // 1000, f, e) for i, f in
                                enumerate(frames)))


def put32(blob, at, value, e=LE):
    struct.pack_into(e + "I", blob, at, value)
    return blob


def record(blob, n):
    """Offset of the n-th record (1-based) of a little-endian classic file."""
    return pcap_record_offsets(bytes(blob))[n - 1]


def ng_block(blob, n):
    """Offset of the n-th block (1-based) of a little-endian pcapng file."""
    return ng_block_offsets(bytes(blob))[n - 1]


def run_monitor(tmp_path, blob, capsys, *extra):
    path = tmp_path / "trace.cap"
    path.write_bytes(bytes(blob))
    rc = main(["monitor", "--pcap", str(path), *extra])
    out, err = capsys.readouterr()
    return rc, out, err


# ---------------------------------------------------------------- unreadable

def bad_version():
    blob = classic()
    struct.pack_into("<HH", blob, 4, 1, 0)
    return blob


def ng_bad_version():
    blob = ng()
    struct.pack_into("<HH", blob, 12, 2, 0)
    return blob


UNREADABLE = {
    "empty": (lambda: b"", "too short for a capture file"),
    "bad magic": (lambda: b"GIF89a" + bytes(64), r"not a pcap or pcapng file \(magic 38464947\)"),
    "global header cut short": (lambda: classic()[:20], "pcap file header is cut short"),
    "unsupported version": (bad_version, r"unsupported pcap version 1\.0"),
    "unknown link type": (lambda: classic(linktype=147),
                          r"link type 147 is not supported \(Ethernet, Linux cooked"),
    "pcapng byte-order mark": (lambda: put32(ng(), 8, 0x01020304),
                               "pcapng section header has no byte-order mark"),
    "pcapng version": (ng_bad_version, r"unsupported pcapng version 2\.0"),
    "pcapng header cut short": (lambda: ng()[:20], "pcapng section header is cut short"),
    "pcapng header length": (lambda: put32(ng(), 4, 30),
                             "pcapng section header claims a length of 30 bytes"),
    "pcapng header trailer": (lambda: put32(ng(), 28 - 4, 32),
                              "pcapng section header claims 28 bytes but its trailer says 32"),
}


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_capture_is_one_line_error(tmp_path, capsys, name):
    make, message = UNREADABLE[name]
    rc, out, err = run_monitor(tmp_path, make(), capsys)
    assert rc == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("xdpmtcp: %s: " % (tmp_path / "trace.cap"))
    assert re.search(message, err), err


# ---------------------------------------------------------------- damaged part-way

def huge_length():
    blob = classic()
    at = record(blob, 2)
    return put32(blob, at + 8, 0x7FFFFFFF), 1, (
        "record 2 at byte %d claims 2147483647 captured bytes, more than any capture "
        "holds (262144)" % at)


def over_snaplen():
    # every record snapped to 64 bytes, as `tcpdump -s 64` writes; record 10 claims more
    frames = [(T0 + i * STEP, f[:64], len(f)) for i, f in enumerate(FRAMES)]
    blob = bytearray(pcap_file(frames, snaplen=64))
    at = record(blob, 10)
    struct.pack_into("<I", blob, at + 8, 65)
    return blob, 9, ("record 10 at byte %d claims 65 captured bytes, more than the file's "
                     "snapshot length (64)" % at)


def over_origlen():
    blob = classic()
    at = record(blob, 30)
    struct.pack_into("<I", blob, at + 12, 20)
    return blob, 29, "record 30 at byte %d claims %d captured bytes of a 20-byte packet" % (
        at, len(FRAMES[29]))


def cut_record():
    blob = classic()
    at = record(blob, N)
    return blob[:at + 16 + 30], N - 1, (
        "record %d at byte %d is cut short by the end of the file (truncated capture)"
        % (N, at))


def cut_record_header():
    blob = classic()
    at = record(blob, N)
    return blob[:at + 9], N - 1, "record %d at byte %d is cut short" % (N, at)


def cut_oversize_record():
    # a record longer than the core takes is skipped unread; here the file ends inside it
    blob = classic() + struct.pack("<IIII", 0, 0, 5000, 5000) + bytes(100)
    return blob, N, "record %d at byte %d is cut short" % (N + 1, len(blob) - 116)


def ng_length(value, why):
    def make():
        blob = ng()
        at = ng_block(blob, 10)          # SHB, IDB, then packet 8
        return put32(blob, at + 4, value), 7, "block at byte %d claims a length of %d bytes, %s" \
            % (at, value, why)
    return make


def ng_trailer():
    blob = ng()
    at, end = ng_block(blob, 10), ng_block(blob, 11)
    return put32(blob, end - 4, 1234), 7, "block at byte %d claims %d bytes but its trailer " \
        "says 1234" % (at, end - at)


def ng_cut():
    blob = ng()
    at = ng_block(blob, N + 2)
    return blob[:at + 40], N - 1, "block at byte %d is cut short by the end of the file" % at


def ng_second_section_version():
    blob = ng(FRAMES[:20]) + ng(FRAMES[20:])
    at = ng_block(blob, 23)
    struct.pack_into("<H", blob, at + 12, 3)
    return blob, 20, "section header at byte %d: unsupported pcapng version" % at


STOPPED = {
    "huge record length": huge_length,
    "caplen over snaplen": over_snaplen,
    "caplen over origlen": over_origlen,
    "record cut short": cut_record,
    "record header cut short": cut_record_header,
    "oversize record cut short": cut_oversize_record,
    "pcapng odd block length": ng_length(99, "not a multiple of 4"),
    "pcapng short block length": ng_length(8, "less than a block's 12"),
    "pcapng huge block length": ng_length(1 << 30, "more than 16 MiB"),
    "pcapng block trailer": ng_trailer,
    "pcapng block cut short": ng_cut,
    "pcapng second section": ng_second_section_version,
}


def data_sent(conn):
    return conn["orig_bytes"]


@pytest.mark.parametrize("name", sorted(STOPPED))
def test_damaged_capture_keeps_frames_before_the_damage(tmp_path, capsys, name):
    blob, kept, message = STOPPED[name]()
    rc, out, err = run_monitor(tmp_path, blob, capsys, "--json")
    assert rc == 1
    lines = [json.loads(line) for line in out.splitlines()]
    summary = lines[-1]
    assert summary["event"] == "summary"
    assert summary["input"]["frames"] == summary["monitor"]["frames"] == kept
    assert summary["input"]["records"] == kept
    assert message in summary["input_damage"]["stopped"]
    # what the frames kept carried is all there: the client's data up to the damage
    conn = [line for line in lines if line["event"] == "conn"]
    assert len(conn) == 1
    assert data_sent(conn[0]) == PAYLOAD * max(0, min(kept, N - 4) - 3)
    assert err.count("\n") == 1 and "reading stopped after %d records: " % kept in err
    assert message in err


def test_plain_summary_says_records_read_and_where_reading_stopped(tmp_path, capsys):
    blob, kept, message = huge_length()
    rc, out, err = run_monitor(tmp_path, blob, capsys)
    assert rc == 1
    assert "trace.cap: 1 frames, 1 connections" in out
    assert "capture: 1 records read, 1 frames\n" in out
    assert "capture damaged: reading stopped after 1 records: " + message + "\n" in out
    assert err.strip().endswith(message)


def test_streams_index_records_the_damage(tmp_path, capsys):
    blob, kept, message = cut_record()
    rc, _, _ = run_monitor(tmp_path, blob, capsys, "--streams", str(tmp_path / "s"))
    index = json.load(open(tmp_path / "s" / "index.json"))
    assert rc == 1
    assert message in index["summary"]["input_damage"]["stopped"]
    assert index["flows"][0]["c2s"]["bytes"] == PAYLOAD * (N - 7)


# ---------------------------------------------------------------- skipped

def ng_unknown_interface():
    blob = ng()
    at = ng_block(blob, 5)
    return put32(blob, at + 8, 5), "block at byte %d: packet of interface 5, which its " \
        "section does not describe" % at


def ng_caplen_over_origlen():
    blob = ng()
    at = ng_block(blob, 5)
    return put32(blob, at + 24, 20), "block at byte %d: packet of %d captured bytes of a " \
        "20-byte packet" % (at, len(FRAMES[2]))


def ng_caplen_past_block():
    blob = ng()
    at = ng_block(blob, 5)
    return put32(blob, at + 20, 4000), "block at byte %d: packet of 4000 captured bytes in " \
        "a %d-byte block" % (at, ng_block(blob, 6) - at)


def ng_option_past_block():
    opts = option(9, b"\x06") + struct.pack("<HH", 13, 200)
    blob = bytearray(shb() + block(1, struct.pack("<HHI", 1, 0, 0) + opts)
                     + b"".join(epb(0, i, f) for i, f in enumerate(FRAMES)))
    return blob, "block at byte 28: interface option 13 runs past its block"


SKIPPED = {
    "unknown interface": ng_unknown_interface,
    "caplen over origlen": ng_caplen_over_origlen,
    "caplen past its block": ng_caplen_past_block,
    "option past its block": ng_option_past_block,
}


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_damaged_block_is_skipped_and_reported(tmp_path, capsys, name):
    blob, message = SKIPPED[name]()
    rc, out, err = run_monitor(tmp_path, blob, capsys)
    assert rc == 1
    kept = N if name == "option past its block" else N - 1
    assert "trace.cap: %d frames" % kept in out
    assert "capture: %d records read, %d frames\n" % (kept, kept) in out
    line = "1 damaged blocks skipped (the first: %s)" % message
    assert "capture damaged: " + line + "\n" in out
    assert err.strip().endswith(line)


def test_pcapng_of_link_types_the_monitor_cannot_read(tmp_path, capsys):
    rc, out, err = run_monitor(tmp_path, ng(FRAMES[:3], linktype=147), capsys)
    assert rc == 1
    assert "capture: 3 records read, 0 frames\n" in out
    assert "skipped frames: 3 of unsupported link types\n" in out
    assert "none of its 3 packets has a link type the monitor reads" in err


# ---------------------------------------------------------------- healthy

@pytest.mark.parametrize("make", [classic, ng, lambda: ng(e=BE)],
                         ids=["pcap", "pcapng", "pcapng big-endian"])
def test_healthy_capture_exits_zero_and_says_so(tmp_path, capsys, make):
    rc, out, err = run_monitor(tmp_path, make(), capsys)
    assert (rc, err) == (0, "")
    assert "capture: %d records read, %d frames\n" % (N, N) in out
    assert "capture damaged" not in out


def test_skipped_frames_that_are_not_damage_exit_zero(tmp_path, capsys):
    big = Conv(cport=41000).c(ACK | PSH, b"x" * 3000)     # a GSO super-frame: 2 segments
    blob = pcap_file([(T0, f) for f in FRAMES + [big, b"short"]])
    rc, out, err = run_monitor(tmp_path, blob, capsys)
    assert (rc, err) == (0, "")
    assert "capture: %d records read, %d frames\n" % (N + 2, N + 2) in out
    assert "skipped frames: 1 too short for their link header\n" in out
    assert "offloads: 1 super-frame (GRO/TSO, jumbo) taken as the 2 segments" in out
    assert "capture damaged" not in out
