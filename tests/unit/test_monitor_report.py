"""`xdpmtcp monitor`'s plain report hides nothing the JSON summary knows:
frames skipped per reason, gap bytes and the connections that have them,
a one-line hint where the cause is known (snaplen, capture drops from the
pcapng interface statistics, offloads), and the per-connection table
(largest first) by default on a terminal."""
import os
import pty
import struct
import subprocess
import sys

from montraffic import ACK, PSH, Conv
from pcapgen import block, end_of_options, epb, idb, option, pcap_file, shb
from xdpmtcp.cli import main
from xdpmtcp.monitor.report import ConnTable

T0 = 1_700_000_000_000_000_000


def conv(cport, nseg, size=1000):
    cv = Conv(cport=cport)
    frames = cv.handshake()
    frames += [cv.c(ACK | PSH, bytes([65 + i % 26]) * size) for i in range(nseg)]
    return frames + [cv.s(ACK)] + cv.close()


def run(tmp_path, blob, capsys, *extra, name="t.pcap"):
    path = tmp_path / name
    path.write_bytes(bytes(blob))
    rc = main(["monitor", "--pcap", str(path), *extra])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


def classic(frames, **kw):
    return pcap_file([(T0 + i * 1000, *f) if isinstance(f, tuple) else (T0 + i * 1000, f)
                      for i, f in enumerate(frames)], **kw)


def test_frames_skipped_are_listed_per_reason(tmp_path, capsys):
    frames = conv(40000, 3)
    arp = frames[0][:12] + b"\x08\x06" + bytes(28)
    udp = bytearray(frames[3])
    udp[23] = 17
    frag = bytearray(frames[3])
    frag[20] |= 0x20                                  # more fragments
    bad_doff = bytearray(frames[3])
    bad_doff[46] = 0x30                               # TCP data offset 12 bytes
    out = run(tmp_path, classic(frames + [arp, bytes(udp), bytes(frag), bytes(bad_doff),
                                          b"short"]), capsys)
    assert ("skipped frames: 1 too short for their link header, 1 not IP, 1 not TCP, "
            "1 IP fragments (not reassembled), 1 malformed\n") in out
    assert "gaps: none" in out and "hint:" not in out


def test_gap_bytes_and_the_connections_with_gaps(tmp_path, capsys):
    a, b = conv(40000, 5), conv(40001, 5)
    del a[5]                                        # a 1000-byte segment the capture lacks
    out = run(tmp_path, classic(a + b), capsys)
    assert "gaps: 1000 bytes missing, in 1 of 2 connections\n" in out


def test_snaplen_hint(tmp_path, capsys):
    frames = conv(40000, 4)
    recs = [f if len(f) < 200 else (f[:120], len(f)) for f in frames]
    out = run(tmp_path, classic(recs, snaplen=120), capsys)
    assert "gaps: %d bytes missing, in 1 of 1 connections" % (4 * (1000 - 66)) in out
    assert ("hint: 4 frames captured shorter than sent (snaplen): the rest of their payload "
            "is in the gaps; capture whole packets (tcpdump -s 0)\n") in out


def isb(ifid, ifdrop, osdrop=None):
    opts = option(5, struct.pack("<Q", ifdrop))
    if osdrop is not None:
        opts += option(7, struct.pack("<Q", osdrop))
    return block(5, struct.pack("<III", ifid, 0, 0) + opts + end_of_options())


def test_capture_drops_from_pcapng_interface_statistics(tmp_path, capsys):
    frames = conv(40000, 5)
    del frames[6]
    blob = (shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(frames[:4]))
            + isb(0, 1) + b"".join(epb(0, 9 + i, f) for i, f in enumerate(frames[4:]))
            + isb(0, 2, 1))                             # cumulative: 3 lost in all
    out = run(tmp_path, blob, capsys, "--json", name="t.pcapng")
    import json
    summary = json.loads(out.splitlines()[-1])
    assert summary["input"]["capture_drops"] == 3 and summary["input"]["drop_reports"] == 2
    out = run(tmp_path, blob, capsys, name="t.pcapng")
    assert ("hint: the capture lost 3 packets (pcapng interface statistics): the gaps are "
            "likely those\n") in out


def test_offload_hints(tmp_path, capsys):
    frames = conv(40000, 2)
    huge = frames[3][:54] + b"h" * (256 * 1024)       # over the reader's cap
    blob = shb() + idb(1) + b"".join(epb(0, i, f) for i, f in enumerate(frames + [huge]))
    out = run(tmp_path, blob, capsys, name="t.pcapng")
    assert "skipped frames: 1 longer than 256 KiB\n" in out
    assert "hint: 1 frame over 256 KiB skipped (BIG TCP offloads)" in out
    broken = bytearray(frames[3])
    broken[-1] ^= 0xff                                # the checksum no longer holds
    out = run(tmp_path, classic(frames[:3] + [bytes(broken)] + frames[4:]), capsys,
              "--verify-csum")
    assert "skipped frames: 1 with bad checksums\n" in out
    assert "hint: 1 frame failed --verify-csum: on a host with checksum offload" in out


def test_table_with_table_flag_largest_first(tmp_path, capsys):
    frames = conv(40000, 2) + conv(40001, 9) + conv(40002, 5)
    out = run(tmp_path, classic(frames), capsys, "--table")
    lines = out.splitlines()
    assert lines[0] == "TCP connections, largest first"
    assert lines[1].split() == ["client", "server", "state", "c2s", "s2c", "pkts", "gaps",
                                "retx", "secs", "end"]
    rows = [l.split() for l in lines[3:6]]
    assert [r[0] for r in rows] == ["198.18.0.1:40001", "198.18.0.1:40002",
                                    "198.18.0.1:40000"]
    assert rows[0][1:6] == ["198.18.0.2:80", "SF", "9.0k", "0", "13/4"]
    assert rows[0][-1] == "fin"


def test_no_table_on_a_pipe_or_with_json(tmp_path, capsys):
    blob = classic(conv(40000, 2))
    assert "TCP connections" not in run(tmp_path, blob, capsys)
    assert "TCP connections" not in run(tmp_path, blob, capsys, "--json")


def test_table_by_default_on_a_terminal(tmp_path):
    path = tmp_path / "t.pcap"
    path.write_bytes(classic(conv(40000, 2)))
    master, slave = pty.openpty()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), COLUMNS="100")
    p = subprocess.Popen([sys.executable, "-m", "xdpmtcp", "monitor", "--pcap", str(path)],
                         stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:                              # EIO: the child closed its end
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(30) == 0
    assert b"TCP connections, largest first" in out and b"198.18.0.1:40000" in out
    assert b"--no-table" not in out
    p = subprocess.run([sys.executable, "-m", "xdpmtcp", "monitor", "--pcap", str(path),
                        "--no-table"], capture_output=True, env=env)
    assert b"TCP connections" not in p.stdout


class _Side:
    def __init__(self, **kw):
        self.__dict__.update(dict(pkts=1, rexmit_pkts=0, gap_bytes=0, overlaps=0, sflags=0,
                                  seen_end=0, ack_off=0, fin_off=0), **kw)


class _Flow:
    def __init__(self, port, nbytes):
        self.side = [_Side(), _Side(seen_end=nbytes)]
        self.cli_addr, self.svr_addr = 0x010012c6, 0x020012c6   # network order
        self.cli_port, self.svr_port = port, 0x5000
        self.first_ns, self.last_ns, self.end_reason, self.v6 = 0, 10 ** 9, 5, 0


def test_table_keeps_the_largest_within_its_cap():
    t = ConnTable(cap=3)
    for port, n in enumerate([50, 10, 70, 20, 90, 30]):
        t.add(_Flow(port << 8, n))
    assert [r[4] for r in t.rows()] == [90, 70, 50]
    assert t.unlisted == 3
    assert t.render().caption == "and 3 more connections, smaller"


def test_live_input_lines():
    from xdpmtcp.monitor import report
    mon = dict.fromkeys(["not_ipv4", "not_tcp", "ip_fragments", "malformed", "bad_csum",
                         "snapped", "gap_bytes", "flows_gapped", "flows_ended"], 0)
    mon.update(gap_bytes=5000, flows_gapped=1, flows_ended=3, not_tcp=2)
    inp = {"eth1": {"rx_oversize": 4, "kernel_drops": 7}, "forwarded": [0, 0]}
    assert report.skipped_line(mon, inp, live=True) == \
        "skipped frames: 4 too long (over 64 KiB, or long and not TCP), 2 not TCP"
    assert report.gaps_line(mon) == "gaps: 5000 bytes missing, in 1 of 3 connections"
    assert report.hints(mon, inp, live=True) == [
        "the kernel dropped 7 frames before the monitor read them (socket buffer full): "
        "the gaps are likely those",
        "4 frames dropped, over 64 KiB (BIG TCP offloads: set the interface's "
        "gro_max_size and gso_max_size to 65536) or long and not TCP"]
