#!/usr/bin/env python3
"""RX benchmark: frames/s the C core takes off AF_XDP in the lab, against the
kernel's own UDP receive path on the same veth in the same run.

A C sender (tools/bench/blast.c, AF_PACKET + sendmmsg) in the peer namespace
blasts one frame over and over for --seconds:
  1. TCP frames to a port the stack owns -> XDP -> AF_XDP -> C core
     (Python calls C once per batch of 256 and discards the frames, after
     checksum verification);
  2. UDP frames of the same size to a kernel UDP socket.  Reported twice:
     datagrams the kernel's UDP layer processed (delivered + dropped for a
     full receive buffer, from /proc/net/snmp) and datagrams a Python
     reader actually read.
Prints one table with ratios.  Runs as root; makes and removes its own lab.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.netif import NetIf  # noqa: E402
from xdpmtcp.wire import TcpFlags, build_tcp_frame  # noqa: E402
from xdpmtcp.wire.checksum import internet_checksum  # noqa: E402

TCP_PORT, UDP_PORT = 5201, 5202


def build_blast():
    out = ROOT / "build" / "bench" / "blast"
    src = ROOT / "tools" / "bench" / "blast.c"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["gcc", "-O2", "-o", str(out), str(src)], check=True)
    return str(out)


def mac_bytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


def udp_frame(lab, size):
    payload = b"\0" * max(0, size - 14 - 20 - 8)
    udp = struct.pack("!HHHH", 40000, UDP_PORT, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(lab.peer.ip), socket.inet_aton(lab.stack.ip))
    ip = ip[:10] + struct.pack("!H", internet_checksum(ip)) + ip[12:]
    return mac_bytes(lab.stack.mac) + mac_bytes(lab.peer.mac) + b"\x08\x00" + ip + udp


def tcp_frame(lab, size):
    payload = b"\0" * max(0, size - 14 - 20 - 20)
    return build_tcp_frame(src_mac=lab.peer.mac, dst_mac=lab.stack.mac, src_ip=lab.peer.ip,
                           dst_ip=lab.stack.ip, sport=40000, dport=TCP_PORT, seq=1, ack=1,
                           flags=TcpFlags.ACK, window=1000, payload=payload)


def blast(lab, blaster, frame, seconds):
    return lab.peer.popen([blaster, lab.peer.ifname, frame.hex(), str(seconds)],
                          stdout=subprocess.PIPE, text=True)


def sender_result(proc):
    out, _ = proc.communicate(timeout=60)
    return json.loads(out)


def run_afxdp(lab, blaster, size, seconds):
    with lab.stack.enter():
        nif = NetIf(lab.stack.ifname, reserve_ports=False).open()
    try:
        nif.listen(TCP_PORT)
        before = nif.port.stats()["rx_frames"]
        proc = blast(lab, blaster, tcp_frame(lab, size), seconds)
        t0 = time.monotonic()
        while proc.poll() is None:
            nif.port.rx_discard(256)
        elapsed = time.monotonic() - t0
        for _ in range(100):
            nif.port.rx_discard(256)
        got = nif.port.stats()["rx_frames"] - before
        sent = sender_result(proc)
        return sent, got, elapsed, nif.program.counters()
    finally:
        with lab.stack.enter():
            nif.close()


def udp_counters(lab):
    text = lab.stack.run(["cat", "/proc/net/snmp"], own_sysfs=False).stdout
    rows = [l.split()[1:] for l in text.splitlines() if l.startswith("Udp:")]
    vals = dict(zip(rows[0], map(int, rows[1])))
    return vals["InDatagrams"] + vals["RcvbufErrors"]


def run_kernel_udp(lab, blaster, size, seconds):
    with lab.stack.enter():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((lab.stack.ip, UDP_PORT))
    s.settimeout(0.2)
    count = [0]
    stop = threading.Event()

    def reader():
        buf = bytearray(2048)
        while not stop.is_set():
            try:
                s.recv_into(buf)
                count[0] += 1
            except socket.timeout:
                pass

    before = udp_counters(lab)
    t = threading.Thread(target=reader)
    t.start()
    proc = blast(lab, blaster, udp_frame(lab, size), seconds)
    t0 = time.monotonic()
    sent = sender_result(proc)
    elapsed = time.monotonic() - t0
    time.sleep(0.3)
    stop.set()
    t.join()
    s.close()
    return sent, udp_counters(lab) - before, count[0], elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0, help="per measurement (default %(default)s)")
    ap.add_argument("--sizes", default="64,1514", help="frame sizes in bytes (default %(default)s)")
    args = ap.parse_args(argv)
    con = Console()
    blaster = build_blast()
    table = Table(title="RX frames/s on one veth queue (same run)")
    for col in ("frame", "receiver", "sent/s", "received/s", "vs kernel UDP layer", "vs Python UDP reader"):
        table.add_column(col, justify="right")
    with Lab.create(prefix="xmbench") as lab:
        for size in [int(x) for x in args.sizes.split(",")]:
            sent_x, got_x, el_x, xc = run_afxdp(lab, blaster, size, args.seconds)
            sent_k, kern_k, app_k, el_k = run_kernel_udp(lab, blaster, size, args.seconds)
            x_rate = got_x / sent_x["seconds"]
            k_rate = kern_k / sent_k["seconds"]
            a_rate = app_k / sent_k["seconds"]
            table.add_row(str(size), "AF_XDP -> C core", "%.0f" % (sent_x["sent"] / sent_x["seconds"]),
                          "%.0f" % x_rate, "%.2fx" % (x_rate / k_rate), "%.2fx" % (x_rate / a_rate))
            table.add_row("", "kernel UDP layer", "%.0f" % (sent_k["sent"] / sent_k["seconds"]),
                          "%.0f" % k_rate, "1.00x", "")
            table.add_row("", "Python UDP reader", "", "%.0f" % a_rate, "", "1.00x")
            con.print("[dim]%d B: xdp counters %s[/]" % (size, xc))
    con.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
