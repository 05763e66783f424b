"""The capture reader on files real tools wrote: tcpdump (Ethernet, µs and
ns, cooked v1/v2 from "any"), dumpcap and tshark (pcapng, two interfaces of
different link types), editcap conversions (pcapng, nanosecond pcap, raw
IP).  Every frame is checked against tshark's own reading of the file."""
import decimal
import shutil
import struct
import subprocess

import pytest

from xdpmtcp.lab import Lab
from xdpmtcp.lab.capture import start_capture, start_tcpdump, stop_capture
from xdpmtcp.lab.fixtures import require, require_netns
from xdpmtcp.lab.probes import tcp_transfer
from xdpmtcp._core import lib
from xdpmtcp.phy import PcapSource

pytestmark = pytest.mark.integration

TOOLS = ("tcpdump", "dumpcap", "tshark", "editcap")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """One lab run captured six ways at once, plus editcap conversions."""
    require_netns()
    for tool in TOOLS + ("ping",):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    d = tmp_path_factory.mktemp("captures")
    files = {}
    with Lab.create(prefix="xmpcap") as lab:
        peer, ifname = lab.peer, lab.peer.ifname

        def path(name):
            files[name] = str(d / name)
            return files[name]

        procs = [
            start_tcpdump(peer, ifname, path("eth.pcap")),
            start_tcpdump(peer, ifname, path("nano.pcap"),
                          extra=["--time-stamp-precision=nano"]),
            start_tcpdump(peer, "any", path("sll2.pcap"), extra=["-y", "LINUX_SLL2"]),
            start_tcpdump(peer, "any", path("sll.pcap"), extra=["-y", "LINUX_SLL"]),
            start_capture(peer, ["dumpcap", "-q", "-i", ifname, "-i", "any", "-y", "LINUX_SLL",
                                 "-w", path("multi.pcapng")], "Capturing on"),
            start_capture(peer, ["tshark", "-q", "-i", ifname, "-F", "pcapng",
                                 "-w", path("tshark.pcapng")], "Capturing on"),
        ]
        try:
            peer.run(["ping", "-c", "2", "-i", "0.2", lab.stack.ip])
            tcp_transfer(peer, lab.stack, 300_000, 60_000)
        finally:
            for proc in procs:
                stop_capture(proc)
    conversions = {"eth.pcapng": ["-F", "pcapng"], "eth_nsec.pcap": ["-F", "nseclibpcap"],
                   "raw4.pcap": ["-F", "pcap", "-C", "14", "-T", "rawip4"],
                   "raw.pcap": ["-F", "pcap", "-C", "14", "-T", "rawip"],
                   "raw.pcapng": ["-F", "pcapng", "-C", "14", "-T", "rawip"],
                   "sll2.pcapng": ["-F", "pcapng"]}
    for name, args in conversions.items():
        src = files["sll2.pcap" if name.startswith("sll2") else "eth.pcap"]
        files[name] = str(d / name)
        subprocess.run(["editcap", *args, src, files[name]], check=True,
                       capture_output=True)
    return files


def tshark_view(path):
    """Per frame: (epoch ns, tcp payload length or None, is IPv4)."""
    r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.time_epoch",
                        "-e", "tcp.len", "-e", "ip.version"],
                       capture_output=True, text=True, check=True)
    rows = []
    for line in r.stdout.splitlines():
        epoch, tcp_len, ipv = (line.split("\t") + ["", ""])[:3]
        ns = int(decimal.Decimal(epoch) * 10**9)
        rows.append((ns, int(tcp_len) if tcp_len else None, ipv == "4"))
    return rows


def ours(path):
    with PcapSource(path) as src:
        return list(src.frames()), src.stats(), src.format


FORMATS = {"eth.pcap": "pcap", "nano.pcap": "pcap", "sll2.pcap": "pcap", "sll.pcap": "pcap",
           "multi.pcapng": "pcapng", "tshark.pcapng": "pcapng", "eth.pcapng": "pcapng",
           "eth_nsec.pcap": "pcap", "raw4.pcap": "pcap", "raw.pcap": "pcap",
           "raw.pcapng": "pcapng",
           "sll2.pcapng": "pcapng"}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_frame_matches_tshark(captures, name):
    frames, st, fmt = ours(captures[name])
    assert fmt == FORMATS[name]
    view = tshark_view(captures[name])
    if name.startswith("raw"):
        # editcap cut the Ethernet header off ARP too: not IP, so skipped
        view = [v for v in view if v[2]]
        assert st["bad_link_header"] == st["records"] - len(view) > 0
    assert st["records"] == len(tshark_view(captures[name]))
    assert len(frames) == len(view) > 300
    tcp_frames = 0
    for f, (ns, tcp_len, is_ip) in zip(frames, view):
        assert f.ts_ns == ns
        if tcp_len is not None:
            tcp_frames += 1
            assert f.payload_len == tcp_len
            assert f.seg_class != lib.XM_SEG_NONE
    assert tcp_frames > 300
    assert sum(st[k] for k in ("truncated_records", "oversize", "bad_blocks",
                               "unsupported_linktype")) == 0


def ip_packets(name, captures):
    frames, _, _ = ours(captures[name])
    return [(f.ts_ns // 1000, f.data[14:]) for f in frames if f.data[12:14] == b"\x08\x00"]


def test_all_forms_of_one_capture_agree(captures):
    """The Ethernet capture and every conversion of it give the same IP
    packets at the same times (to the µs the original recorded)."""
    ref = ip_packets("eth.pcap", captures)
    for name in ("eth.pcapng", "eth_nsec.pcap", "raw4.pcap", "raw.pcap", "raw.pcapng"):
        assert ip_packets(name, captures) == ref, name
    assert ip_packets("sll2.pcap", captures) == ip_packets("sll2.pcapng", captures)
    # cooked captures of "any" see the veth traffic too (and lo, idle here);
    # two sockets may see a send and a receive racing on two CPUs in either order
    cooked = sorted(p for _, p in ip_packets("sll2.pcap", captures))
    assert sorted(p for _, p in ip_packets("sll.pcap", captures)) == cooked
    assert set(p for _, p in ref) <= set(cooked)


def test_multi_interface_pcapng(captures):
    frames, st, _ = ours(captures["multi.pcapng"])
    assert st["interfaces"] == 2 and st["sections"] == 1
    r = subprocess.run(["tshark", "-r", captures["multi.pcapng"], "-T", "fields",
                        "-e", "frame.interface_id", "-e", "frame.encap_type"],
                       capture_output=True, text=True, check=True)
    assert set(r.stdout.split("\n")) - {""} == {"0\t1", "1\t25"}   # Ethernet, SLL
    # each packet was seen once on the veth and once on "any"
    eth = ip_packets("eth.pcap", captures)
    payloads = [f.data[14:] for f in frames if f.data[12:14] == b"\x08\x00"]
    assert len(payloads) >= 2 * len(eth) - 4
    assert {p for _, p in eth} <= set(payloads)


def test_raw_conversions_have_raw_link_types(captures):
    for name, linktype in (("raw4.pcap", 228), ("raw.pcap", 101)):
        with open(captures[name], "rb") as fh:
            assert struct.unpack("<I", fh.read(24)[20:])[0] == linktype


def test_nanosecond_capture_keeps_nanoseconds(captures):
    frames, _, _ = ours(captures["nano.pcap"])
    assert any(f.ts_ns % 1000 for f in frames)
