"""The send path against the kernel's TCP: super-segments cut by the kernel
(AF_PACKET GSO next to AF_XDP), cut by the port when a pcap tap or TX faults
must see every segment, or not made at all (gso_max_segs=0); and
examples/epserver.py sending a 200 MB file with mtcp_sendfile to curl.
Every transfer is checked by sha256."""
import hashlib
import os

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.exampleproc import ExampleProcess, write_conf
from xdpmtcp.lab.fixtures import require
from xdpmtcp.lab.stackproc import StackProcess
from xdpmtcp.wire import MalformedFrame, parse_tcp_frame
from xdpmtcp.phy import PcapSource

from conftest import bpf_problem

PORT = 8080
NBYTES = 20_000_000


def source_to_kernel(lab, *args):
    """serve --mode source to a kernel client; (the client's result, the
    connection's record, the port's counters)."""
    with StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "source", "--bytes", NBYTES,
                      "--count", 1, *args) as sp:
        sp.wait_event("ready")
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 0, timeout=120)
        conn = sp.wait_event("conn", 60)
        engine = sp.wait_event("engine", 60)
    assert "error" not in res, res
    assert res["bytes_recv"] == NBYTES and res["sha256_recv"] == conn["sha256_out"]
    return res, conn, engine["port"]


def test_kernel_cuts_super_segments(lab):
    _, conn, port = source_to_kernel(lab)
    assert port["tx_gso_kernel"] > 0 and port["tx_gso_kernel"] == port["tx_gso_frames"]
    # counted per segment on the wire, as the kernel's TSO/GSO counters do
    assert port["tx_frames"] >= conn["counters"]["data_segs_out"] > port["tx_gso_kernel"]


def test_no_super_segments_when_off(lab):
    _, _, port = source_to_kernel(lab, "--tcp", "gso_max_segs=0")
    assert port["tx_gso_frames"] == 0 and port["tx_gso_kernel"] == 0


def test_pcap_sees_every_segment_cut_by_the_port(lab, tmp_path):
    pcap = tmp_path / "tx.pcap"
    _, conn, port = source_to_kernel(lab, "--pcap", pcap)
    assert port["tx_gso_frames"] > 0 and port["tx_gso_kernel"] == 0
    mss = 0
    data = {}                              # seq -> payload bytes (retransmissions once)
    with PcapSource(str(pcap)) as src:
        for fr in src.frames():
            try:
                f = parse_tcp_frame(bytes(fr.data), verify_checksums=True)
            except MalformedFrame as e:
                pytest.fail("bad frame in the tap: %s" % e)
            if f.ip.src == lab.stack.ip and f.tcp.payload:
                mss = max(mss, len(f.tcp.payload))
                data[f.tcp.seq] = len(f.tcp.payload)
    # every byte went out in segments of at most one MSS, with good checksums
    assert mss == 1448 and sum(data.values()) == NBYTES


def test_tx_faults_see_segments_and_recovery_works(lab):
    _, conn, port = source_to_kernel(lab, "--faults", "drop=0.01,seed=5,direction=tx")
    assert port["tx_gso_frames"] > 0 and port["tx_gso_kernel"] == 0
    assert port["fault_dropped_tx"] > 0 and conn["counters"]["retrans_segs"] > 0


@pytest.fixture
def big_site(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    h = hashlib.sha256()
    with open(root / "big.bin", "wb") as f:
        for _ in range(200):
            block = os.urandom(1_000_000)
            f.write(block)
            h.update(block)
    (root / "index.html").write_bytes(b"<h1>small</h1>\n")
    return root, h.hexdigest()


def test_epserver_sends_200mb_file_with_sendfile(lab, big_site, need_tool, tmp_path):
    need_tool("curl")
    require(bpf_problem() is None, bpf_problem() or "")
    root, digest = big_site
    conf = write_conf(tmp_path / "mtcp.conf", lab.stack.ifname, tcp_timewait=0)
    url = "http://%s:%d/" % (lab.stack.ip, PORT)
    with ExampleProcess(lab.stack, "epserver.py", "-p", root, "-f", conf, "--port", PORT) as p:
        p.wait_for("ready", 120)
        r = lab.peer.run(["sh", "-c", "curl -sS --max-time 120 %sbig.bin | sha256sum" % url],
                         timeout=180)
        assert r.stdout.split()[0] == digest, r.stderr
        # keep-alive: the file, then a small page, in order on one connection
        out = tmp_path / "got.bin"
        r = lab.peer.run(["curl", "-sS", "--max-time", "120", "-o", str(out), "-o", "/dev/null",
                          "-w", "%{http_code} %{num_connects} %{size_download}\n",
                          url + "big.bin", url], timeout=180)
        assert r.stdout.split() == ["200", "1", "200000000", "200", "0", "15"], r.stdout + r.stderr
        with open(out, "rb") as f:
            assert hashlib.file_digest(f, "sha256").hexdigest() == digest
        r = lab.peer.run(["curl", "-sS", "-I", url + "big.bin"], timeout=30)        # HEAD
        assert "Content-Length: 200000000" in r.stdout
        assert p.stop() == 0
    assert "requests" in p.output()
