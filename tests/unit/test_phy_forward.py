"""xc_port_forward over in-memory links: everything goes through unchanged,
faults apply once per direction, a full destination drops and counts."""
import struct
import time

import pytest

from xdpmtcp._core import lib
from xdpmtcp.phy import Burst, FaultInjector, Port
from xdpmtcp.wire import TcpFlags, build_tcp_frame

ARP = b"\xff" * 6 + bytes.fromhex("02000000000a") + b"\x08\x06" + bytes(28)


def frame(seq=1, payload=b"x"):
    return build_tcp_frame(src_mac="02:00:00:00:00:0a", dst_mac="02:00:00:00:00:0b",
                           src_ip="198.18.1.1", dst_ip="198.18.1.2", sport=40000,
                           dport=5001, seq=seq, ack=1, flags=TcpFlags.ACK,
                           window=1000, payload=payload)


@pytest.fixture
def path():
    """sender -> (in_side) forwarder (out_side) -> receiver"""
    sender, in_side = Port.memlink(depth=256)
    out_side, receiver = Port.memlink(depth=256)
    yield sender, in_side, out_side, receiver
    for p in (sender, in_side, out_side, receiver):
        p.close()


def drain(port):
    burst = Burst(1024)
    port.set_flags(verify_csum=False, classify=False)
    port.rx(burst)
    return [f.data for f in burst]


def seqs(frames):
    return [struct.unpack("!I", f[38:42])[0] for f in frames]


def test_everything_is_forwarded_unchanged(path):
    sender, in_side, out_side, receiver = path
    bad = bytearray(frame(seq=7, payload=b"abc"))
    bad[-1] ^= 0xFF                      # TCP checksum now wrong
    frames = [frame(seq=1), ARP, bytes(bad), b"\x01" * 60]
    assert sender.tx(frames) == 4
    assert in_side.forward_to(out_side, 64) == 4
    assert drain(receiver) == frames
    # the source's own flags are back: verification still drops bad frames
    sender.tx([bytes(bad)])
    assert in_side.rx(Burst(4)) == 0
    assert in_side.stats()["rx_bad_tcp_csum"] == 1


def test_max_bounds_one_call(path):
    sender, in_side, out_side, receiver = path
    sender.tx([frame(seq=i) for i in range(200)])
    assert in_side.forward_to(out_side, 10) == 10
    assert in_side.forward_to(out_side, 1000) == 190
    assert seqs(drain(receiver)) == list(range(200))


def test_rx_faults_apply_once_per_frame(path):
    sender, in_side, out_side, receiver = path
    in_side.add(FaultInjector(drop=0.2, duplicate=0.1, seed=5, direction="rx"))
    sender.tx([frame(seq=i) for i in range(200)])
    sent = in_side.forward_to(out_side, 1000)
    st = in_side.stats()
    dropped, duplicated = st["fault_dropped_rx"], st["fault_duplicated_rx"]
    assert dropped > 0 and duplicated > 0
    assert sent == 200 - dropped + duplicated == out_side.stats()["tx_frames"]
    got = seqs(drain(receiver))
    assert len(got) == sent and len(set(got)) == 200 - dropped
    # nothing configured on the sending side: no second decision
    assert out_side.stats()["fault_dropped_tx"] == 0


def test_reordered_frames_come_out_later(path):
    sender, in_side, out_side, receiver = path
    in_side.add(FaultInjector(reorder=0.3, reorder_us=2000, seed=2, direction="rx"))
    sender.tx([frame(seq=i) for i in range(50)])
    in_side.forward_to(out_side, 1000)
    assert in_side.next_due_ns() > 0
    time.sleep(0.005)
    in_side.forward_to(out_side, 1000)       # releases the held ones
    got = seqs(drain(receiver))
    assert sorted(got) == list(range(50)) and got != list(range(50))


def test_full_destination_drops_and_counts():
    sender, in_side = Port.memlink(depth=64)
    out_side, receiver = Port.memlink(depth=8)
    sender.tx([frame(seq=i) for i in range(20)])
    assert in_side.forward_to(out_side, 64) == 8
    assert out_side.stats()["tx_no_room"] == 12
    assert seqs(drain(receiver)) == list(range(8))
    for p in (sender, in_side, out_side, receiver):
        p.close()


def test_forward_without_frames_is_zero(path):
    _, in_side, out_side, _ = path
    assert in_side.forward_to(out_side) == 0


def test_afpacket_stats_refuse_other_ports(path):
    with pytest.raises(OSError, match="not an AF_PACKET"):
        path[0].afpacket_stats()
    assert lib.XC_FORWARD_BATCH == 64
