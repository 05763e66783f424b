"""Foundation, against the kernel: XDP steering, AF_XDP I/O, the kernel
keeps what is not ours, malformed frames are counted and dropped."""
import socket
import threading
import time

from xdpmtcp.lab.probes import connect_echo, send_raw
from xdpmtcp._core import ffi, lib
from xdpmtcp.wire import TcpFlags, build_tcp_frame


def wait_for(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_syn_arrives_with_metadata_and_synack_reaches_kernel(lab, responder):
    out = connect_echo(lab.peer, lab.stack.ip, 8080, "ping-pong", 3)
    # The kernel client got our SYN-ACK (connect completed) and the echo.
    assert out["connected"] and out["reply"] == "ping-pong"
    assert wait_for(lambda: responder.stats.fin >= 1)
    syns = [s for s in responder.seen if s.seg_class == lib.XM_SEG_SYN]
    assert len(syns) == 1
    f = syns[0].frame
    assert (f.ip.src, f.ip.dst, f.tcp.dst_port) == (lab.peer.ip, lab.stack.ip, 8080)
    classes = {s.seg_class for s in responder.seen}
    assert {lib.XM_SEG_SYN, lib.XM_SEG_ACK, lib.XM_SEG_DATA, lib.XM_SEG_FIN} <= classes
    c = responder.netif.program.counters()
    assert c["redirected"] >= 4 and c["malformed"] == 0


def test_metadata_fields_match_the_software_classifier(lab, netif):
    """Read frames directly: XDP's class, payload length and hash equal the
    C core's own classification of the same bytes."""
    from xdpmtcp.phy import Burst
    netif.listen(8081)
    t = threading.Thread(target=connect_echo, args=(lab.peer, lab.stack.ip, 8081, "", 1.5))
    t.start()
    burst = Burst(64)
    wait_for(lambda: netif.port.rx(burst) > 0 or len(burst) > 0, 3)
    t.join()
    assert len(burst) >= 1
    fr = burst.frame(0)
    if netif.program.metadata:
        assert fr.owner == lib.XM_OWNER_LISTEN
    else:
        # the kernel refuses bpf_xdp_adjust_meta: no owner is known, the
        # port classified the frame, and the user was told why
        assert fr.owner == 0
        assert any("bpf_xdp_adjust_meta" in n for n in netif.notes)
    sw = ffi.new("struct xc_pkt *")
    lib.xc_frame_classify(fr.data, len(fr.data), sw)
    assert (fr.seg_class, fr.payload_len, fr.flow_hash) == (sw.seg_class, sw.payload_len, sw.flow_hash)
    assert fr.seg_class == lib.XM_SEG_SYN


def test_kernel_keeps_arp_icmp_and_other_ports(lab, responder):
    with lab.stack.enter():
        srv = socket.create_server((lab.stack.ip, 9090))
    srv.settimeout(5)

    def serve():
        c, _ = srv.accept()
        with c:
            c.sendall(b"kernel: " + c.recv(100))

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    ping = lab.peer.run(["ping", "-c", "2", "-i", "0.2", "-W", "1", lab.stack.ip], check=False)
    assert ping.returncode == 0, ping.stdout
    out = connect_echo(lab.peer, lab.stack.ip, 9090, "hi", 3)
    assert out.get("reply") == "kernel: hi"
    t.join(5)
    srv.close()
    # The peer learned the stack's MAC through the kernel's ARP reply.
    neigh = lab.peer.run(["ip", "neigh", "show", lab.stack.ip]).stdout
    assert lab.stack.mac in neigh.lower()
    c = responder.netif.program.counters()
    assert c["passed"] > 0 and c["redirected"] == 0


def crafted(lab, **kw):
    base = dict(src_mac=lab.peer.mac, dst_mac=lab.stack.mac, src_ip=lab.peer.ip,
                dst_ip=lab.stack.ip, sport=45000, dport=8080, seq=1000, ack=0,
                flags=TcpFlags.SYN, window=1024)
    base.update(kw)
    return bytearray(build_tcp_frame(**base))


def test_malformed_frames_are_counted_and_dropped(lab, netif):
    from xdpmtcp.phy import Burst
    netif.listen(8080)
    good = crafted(lab)
    bad_ip = crafted(lab); bad_ip[14 + 10] ^= 0x55                 # IPv4 checksum
    bad_tcp = crafted(lab, payload=b"abcd", flags=TcpFlags.ACK); bad_tcp[-1] ^= 0x01
    bad_doff = crafted(lab, flags=TcpFlags.ACK); bad_doff[14 + 20 + 12] = 0xF0   # 60-byte header in a 20-byte one
    syn_fin = crafted(lab, flags=TcpFlags.SYN | TcpFlags.FIN)
    frames = [bad_ip, bad_tcp, bad_doff, syn_fin, good]
    send_raw(lab.peer, frames)
    burst = Burst(64)
    assert wait_for(lambda: netif.port.rx(burst) > 0 or len(burst) >= 1)
    time.sleep(0.2)
    netif.port.rx(burst)
    assert [f.data for f in burst] == [bytes(good)]
    st = netif.port.stats()
    assert st["rx_bad_ip_csum"] == 1
    assert st["rx_bad_tcp_csum"] == 1
    assert st["rx_malformed"] == 2            # data offset and SYN+FIN
    assert netif.program.counters()["malformed"] == 2


def test_unowned_port_goes_to_kernel_which_resets(lab, netif):
    netif.listen(8080)
    out = connect_echo(lab.peer, lab.stack.ip, 8099, "", 2)
    assert out["error"] == "ConnectionRefusedError"


def test_owned_port_without_socket_falls_back_to_kernel(lab, netif):
    netif.listen(8080)
    netif.program.unbind_socket(0)
    out = connect_echo(lab.peer, lab.stack.ip, 8080, "", 2)
    assert out["error"] == "ConnectionRefusedError"   # the kernel answered RST
    assert netif.program.counters()["no_socket"] >= 1


def test_responder_answers_a_fin_that_overtakes_the_echos_ack(lab, responder):
    # the peer shuts down right after its data (nc -N): its FIN still
    # acknowledges only our SYN, yet the FIN-ACK must come after the echo
    from xdpmtcp.lab.probes import SYSTEM_PYTHON
    out = lab.peer.run([SYSTEM_PYTHON, "-c", r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], 8080))
t0 = time.monotonic()
s.sendall(b"hello\n"); s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(100)
    if not b:
        break
    got += b
print(got.decode().strip(), round((time.monotonic() - t0) * 1000))
""", lab.stack.ip]).stdout.split()
    assert out[0] == "hello" and int(out[1]) < 150, out     # no FIN retransmission (200 ms+)
    assert wait_for(lambda: responder.stats.fin >= 1)
    time.sleep(0.3)
    assert responder.stats.fin == 1                          # the peer never had to send it again
