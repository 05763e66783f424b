"""The AF_PACKET port against real veths: frames arrive byte for byte
(stripped VLAN tags restored), our own sends are not seen, oversize frames
are counted, the kernel's drop counter is readable."""
import time

import pytest
from pyroute2 import IPRoute

from xdpmtcp.lab.probes import send_raw
from xdpmtcp.phy import Burst, Port, PortError
from xdpmtcp.wire import TcpFlags, build_tcp_frame
from xdpmtcp.wire.ethernet import emit_ethernet

pytestmark = pytest.mark.integration

MARK = bytes.fromhex("02aabbccdd01")   # source MAC of our test frames


def tcp_frame(seq=1, payload=b"afpacket"):
    return build_tcp_frame(src_mac="02:aa:bb:cc:dd:01", dst_mac="02:aa:bb:cc:dd:02",
                           src_ip="198.18.0.2", dst_ip="198.18.0.1", sport=4000,
                           dport=4001, seq=seq, ack=1, flags=TcpFlags.ACK,
                           window=100, payload=payload)


def open_port(host, **kw):
    with host.enter():
        return Port.open_afpacket(host.ifname, **kw)


def collect(port, want, timeout=3.0):
    """Our test frames received on port (other chatter filtered out)."""
    got, burst = [], Burst(64)
    end = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        burst.clear()
        port.rx(burst)
        got += [f.data for f in burst if f.data[6:12] == MARK]
        time.sleep(0.01)
    return got


def test_frames_arrive_unchanged_and_classified(lab):
    port = open_port(lab.stack)
    try:
        vlan = emit_ethernet("02:aa:bb:cc:dd:01", "02:aa:bb:cc:dd:02", 0x0800,
                             tcp_frame()[14:], vlan_id=42, vlan_pcp=3)
        frames = [tcp_frame(seq=1), tcp_frame(seq=2, payload=b""), vlan]
        send_raw(lab.peer, frames)
        got = collect(port, 3)
        assert got == frames
        assert port.afpacket_stats()["rx_vlan_restored"] == 1
        burst = Burst(8)
        send_raw(lab.peer, [tcp_frame(seq=9)])
        time.sleep(0.2)
        port.rx(burst)
        mine = [f for f in burst if f.data[6:12] == MARK]
        assert mine and mine[0].payload_len == len(b"afpacket") and mine[0].ts_ns > 0
    finally:
        port.close()


def test_own_transmissions_are_ignored(lab):
    stack, peer = open_port(lab.stack), open_port(lab.peer)
    try:
        frames = [tcp_frame(seq=i) for i in range(10)]
        assert stack.tx(frames) == 10
        assert collect(peer, 10) == frames
        assert collect(stack, 1, timeout=0.3) == []
        assert stack.stats()["tx_frames"] == 10
    finally:
        stack.close()
        peer.close()


def test_oversize_frames_are_counted(lab):
    for host in (lab.stack, lab.peer):
        with host.enter(), IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname=host.ifname)[0], mtu=4000)
    port = open_port(lab.stack)
    try:
        big = tcp_frame(payload=b"j" * 3000)
        send_raw(lab.peer, [big, tcp_frame(seq=5)])
        assert collect(port, 1) == [tcp_frame(seq=5)]
        assert port.stats()["rx_oversize"] == 1
    finally:
        port.close()


def test_kernel_drops_are_reported(lab):
    port, sender = open_port(lab.stack, ring_frames=16), open_port(lab.peer)
    try:
        assert sender.tx([tcp_frame(seq=i, payload=b"d" * 1000) for i in range(2000)]) == 2000
        assert port.afpacket_stats()["kernel_drops"] > 0
    finally:
        port.close()
        sender.close()


def test_open_errors_are_reported(lab):
    with pytest.raises(PortError, match="no interface"):
        Port.open_afpacket("nosuchif0")
    with pytest.raises(PortError, match="exceeds"):
        Port.open_afpacket("lo", ring_frames=1 << 30)
