"""The monitor on captures as ordinary Linux hosts take them: offloads on.
A 2 MB kernel-to-kernel transfer captured by tcpdump on a namespace's lo
(TSO/GSO super-frames of up to 64 KiB) and on a veth pair with GRO and TSO
on both ends, then read live by packet sockets on a GRO veth: every
direction reassembles byte for byte to what the kernel peers sent, with no
frame skipped, and the super-frames were really there.  The same through
other link headers: Linux cooked captures (`tcpdump -i any`: SLL2, and
SLL) and QinQ (802.1ad over 802.1Q tags) on a veth."""
import hashlib
import json
import os
import struct
import subprocess
import sys
import time

import pytest

from xdpmtcp.lab import netns
from xdpmtcp.lab.capture import start_tcpdump, stop_tcpdump
from xdpmtcp.lab.fixtures import require_netns
from xdpmtcp.lab.probes import tcp_transfer
from xdpmtcp.lab.topology import Host

pytestmark = pytest.mark.integration

SENT, REPLY = 2_000_000, 500_000


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def spaces():
    """make(n) -> n fresh namespace names (xmrc<pid><i>), removed after."""
    require_netns()
    made = []

    def make(n):
        names = ["xmrc%d%s" % (os.getpid() % 100000, chr(ord("a") + len(made) + i))
                 for i in range(n)]
        for name in names:
            netns.create(name)
            made.append(name)
            netns.run(name, ["ip", "link", "set", "lo", "up"])
        return names
    yield make
    for name in made:
        netns.remove(name)


def veth_pair(a, b, gro=True):
    """Hosts a (198.18.79.1) and b (198.18.79.2) on a veth pair, offloads
    as Linux sets them, plus GRO on both ends."""
    subprocess.run(["ip", "link", "add", "rc0", "netns", a, "type", "veth", "peer", "name",
                    "rc1", "netns", b], check=True)
    hosts = []
    for ns, ifname, ip in ((a, "rc0", "198.18.79.1"), (b, "rc1", "198.18.79.2")):
        netns.run(ns, ["ip", "addr", "add", ip + "/24", "dev", ifname])
        netns.run(ns, ["ip", "link", "set", ifname, "up"])
        if gro:
            netns.run(ns, ["ethtool", "-K", ifname, "gro", "on"])
        hosts.append(Host(name=ifname, ns=ns, ifname=ifname, ip=ip))
    return hosts


def monitor_pcap(pcap, out_dir):
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "monitor", "--pcap", str(pcap),
                        "--streams", str(out_dir), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()]


def streams(out_dir):
    index = json.load(open(out_dir / "index.json"))
    assert len(index["flows"]) == 1
    flow = index["flows"][0]
    return (flow, (out_dir / flow["c2s"]["file"]).read_bytes(),
            (out_dir / flow["s2c"]["file"]).read_bytes())


def captured_transfer(client, server, where, ifname, pcap):
    dump = start_tcpdump(where, ifname, str(pcap))
    try:
        t = tcp_transfer(client, server, SENT, REPLY, port=5001, seed=3, timeout=60)
    finally:
        drops = stop_tcpdump(dump)
    assert drops == 0
    return t


def check_exact(lines, out_dir, t):
    summary = lines[-1]
    inp, mon = summary["input"], summary["monitor"]
    assert inp["superframes"] > 0 and inp["superframe_pieces"] > inp["superframes"]
    assert inp["oversize"] == inp["cut_frames"] == inp["bad_link_header"] == 0
    assert inp["unsupported_linktype"] == 0
    assert inp["records"] + inp["superframe_pieces"] - inp["superframes"] == inp["frames"]
    assert mon["frames"] == inp["frames"] and mon["malformed"] == 0
    flow, c2s, s2c = streams(out_dir)
    assert sha(c2s) == t["client"]["sent_sha256"] and len(c2s) == SENT
    assert sha(s2c) == t["server"]["sent_sha256"] and len(s2c) == REPLY
    assert flow["c2s"]["gaps"] == flow["s2c"]["gaps"] == []
    conn = [l for l in lines if l["event"] == "conn"]
    assert conn[0]["missed_bytes"] == 0 and conn[0]["conn_state"] == "SF"


def test_lo_capture_of_a_2mb_transfer_reassembles_exactly(spaces, tmp_path, need_tool):
    need_tool("tcpdump")
    (ns,) = spaces(1)
    netns.run(ns, ["ip", "addr", "add", "198.18.79.9/32", "dev", "lo"])
    host = Host(name="lo", ns=ns, ifname="lo", ip="198.18.79.9")
    t = captured_transfer(host, host, host, "lo", tmp_path / "lo.pcap")
    lines = monitor_pcap(tmp_path / "lo.pcap", tmp_path / "out")
    check_exact(lines, tmp_path / "out", t)


def test_veth_gro_capture_reassembles_exactly(spaces, tmp_path, need_tool):
    need_tool("tcpdump")
    need_tool("ethtool")
    a, b = spaces(2)
    client, server = veth_pair(a, b)
    # on the client: its TSO super-frames out, GRO-merged ones in
    t = captured_transfer(client, server, client, "rc0", tmp_path / "veth.pcap")
    lines = monitor_pcap(tmp_path / "veth.pcap", tmp_path / "out")
    check_exact(lines, tmp_path / "out", t)


def test_live_afpacket_on_a_gro_interface_reassembles_exactly(spaces, tmp_path, need_tool):
    need_tool("ethtool")
    a, b = spaces(2)
    client, server = veth_pair(a, b)
    out = tmp_path / "live"
    mon = netns.popen(b, [sys.executable, "-m", "xdpmtcp", "monitor", "--iface", "rc1",
                          "--backend", "afpacket", "--json", "--streams", str(out),
                          "--duration", "30"],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(mon.stdout.readline())["ready"]
        t = tcp_transfer(client, server, SENT, 0, port=5001, seed=4, timeout=60)
        time.sleep(0.5)
        mon.send_signal(2)
        stdout, stderr = mon.communicate(timeout=30)
    finally:
        if mon.poll() is None:
            mon.kill()
            mon.wait()
    assert mon.returncode == 0, stderr
    summary = json.loads(stdout.splitlines()[-1])
    port = summary["input"]["rc1"]
    # rc1 receives the client's segments GRO-merged (it sends nothing we see)
    assert port["rx_superframes"] > 0 and port["rx_oversize"] == 0
    assert port["kernel_drops"] == 0
    flow, c2s, _ = streams(out)
    assert sha(c2s) == t["client"]["sent_sha256"] and len(c2s) == SENT
    assert flow["c2s"]["gaps"] == []


def linktype(pcap):
    with open(pcap, "rb") as f:
        return int.from_bytes(f.read(24)[20:24], "little")


@pytest.mark.parametrize("link,want", [("LINUX_SLL2", 276), ("LINUX_SLL", 113)])
def test_cooked_capture_of_any_interface(spaces, tmp_path, need_tool, link, want):
    need_tool("tcpdump")
    (ns,) = spaces(1)
    netns.run(ns, ["ip", "addr", "add", "198.18.79.9/32", "dev", "lo"])
    host = Host(name="lo", ns=ns, ifname="lo", ip="198.18.79.9")
    dump = start_tcpdump(host, "any", str(tmp_path / "any.pcap"), extra=["-y", link])
    try:
        t = tcp_transfer(host, host, SENT, REPLY, port=5001, seed=5, timeout=60)
    finally:
        assert stop_tcpdump(dump) == 0
    assert linktype(tmp_path / "any.pcap") == want
    lines = monitor_pcap(tmp_path / "any.pcap", tmp_path / "out")
    check_exact(lines, tmp_path / "out", t)


def retag(src, dst, tags):
    """A copy of an Ethernet pcap with tags inserted after the MAC addresses
    of every record (this kernel has no VLAN devices to make them)."""
    blob = src.read_bytes()
    out, off = [blob[:24]], 24
    while off + 16 <= len(blob):
        incl, orig = struct.unpack_from("<II", blob, off + 8)
        fr = blob[off + 16:off + 16 + incl]
        out.append(blob[off:off + 8] + struct.pack("<II", incl + len(tags), orig + len(tags))
                   + fr[:12] + tags + fr[12:])
        off += 16 + incl
    dst.write_bytes(b"".join(out))
    return dst


@pytest.mark.parametrize("tags", [b"\x81\x00\x00\x07", b"\x88\xa8\x00\x05\x81\x00\x00\x07"],
                         ids=["vlan", "qinq"])
def test_tagged_capture(spaces, tmp_path, need_tool, tags):
    need_tool("tcpdump")
    need_tool("ethtool")
    a, b = spaces(2)
    client, server = veth_pair(a, b)
    t = captured_transfer(client, server, client, "rc0", tmp_path / "veth.pcap")
    # snaplen 262144 in the file: room for the tags of the longest record
    tagged = retag(tmp_path / "veth.pcap", tmp_path / "tagged.pcap", tags)
    lines = monitor_pcap(tagged, tmp_path / "out")
    check_exact(lines, tmp_path / "out", t)


# Kernel TCP over IPv6 (the lab's transfer speaks IPv4): the server
# receives N bytes and answers M, each side prints the sha256 of what it
# sent and received.
TRANSFER6 = r"""
import hashlib, json, os, socket, sys
role, ip, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def pump(s, n):
    data = os.urandom(n)
    s.sendall(data)
    return hashlib.sha256(data).hexdigest()
def drain(s):
    h = hashlib.sha256()
    while True:
        d = s.recv(1 << 16)
        if not d:
            return h.hexdigest()
        h.update(d)
if role == "server":
    l = socket.socket(socket.AF_INET6)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((ip, port)); l.listen(1)
    print(json.dumps({"ready": True}), flush=True)
    c, _ = l.accept()
    got = drain(c)
    sent = pump(c, n)
    c.close()
else:
    c = socket.create_connection((ip, port), timeout=60)
    sent = pump(c, n)
    c.shutdown(socket.SHUT_WR)
    got = drain(c)
print(json.dumps({"sent_sha256": sent, "received_sha256": got}), flush=True)
"""


@pytest.mark.parametrize("where", ["lo", "veth"])
def test_ipv6_capture_reassembles_exactly(spaces, tmp_path, need_tool, where):
    need_tool("tcpdump")
    if where == "lo":
        (a,) = spaces(1)
        b, ifname, ip = a, "lo", "2001:db8:79::9"
        netns.run(a, ["ip", "-6", "addr", "add", ip + "/128", "dev", "lo", "nodad"])
    else:
        need_tool("ethtool")
        a, b = spaces(2)
        veth_pair(a, b)
        ifname, ip = "rc0", "2001:db8:79::2"
        netns.run(a, ["ip", "-6", "addr", "add", "2001:db8:79::1/64", "dev", "rc0", "nodad"])
        netns.run(b, ["ip", "-6", "addr", "add", ip + "/64", "dev", "rc1", "nodad"])
    dump = start_tcpdump(Host(name="cap", ns=a), ifname, str(tmp_path / "v6.pcap"))
    srv = netns.popen(b, [sys.executable, "-c", TRANSFER6, "server", ip, "5001", str(REPLY)],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(srv.stdout.readline())["ready"]
        cli = netns.run(a, [sys.executable, "-c", TRANSFER6, "client", ip, "5001", str(SENT)],
                        timeout=90)
        out, err = srv.communicate(timeout=60)
        assert srv.returncode == 0, err
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
        assert stop_tcpdump(dump) == 0
    c, s = json.loads(cli.stdout.splitlines()[-1]), json.loads(out.splitlines()[-1])
    assert c["received_sha256"] == s["sent_sha256"]
    lines = monitor_pcap(tmp_path / "v6.pcap", tmp_path / "out")
    t = {"client": c, "server": s}
    check_exact(lines, tmp_path / "out", t)
    mon = lines[-1]["monitor"]
    assert mon["flows_ipv6"] == 1 and mon["ipv6_frames"] == mon["tcp_frames"]
    conn = [l for l in lines if l["event"] == "conn"][0]
    assert conn["id.resp_h"] == ip


def test_afpacket_pieces_left_by_a_full_burst_come_with_the_next_receive(spaces, tmp_path,
                                                                        need_tool):
    """A burst of 4 frames holds less than a super-frame's pieces: the port
    keeps the rest (xc_afpacket_pending) and hands them over on the next
    receives, though no new frame arrives; the stream is whole."""
    need_tool("ethtool")
    from xdpmtcp._core import lib
    from xdpmtcp.monitor import Monitor, MonitorRun, StreamWriter
    from xdpmtcp.monitor.runner import BULK_EVENTS
    from xdpmtcp.monitor.source import AFPACKET_FRAME_MAX
    from xdpmtcp.phy.burst import Burst
    from xdpmtcp.phy.port import Port
    a, b = spaces(2)
    client, server = veth_pair(a, b)
    with netns.in_netns(b):
        port = Port.open_afpacket("rc1")
    try:
        assert lib.xc_afpacket_set_frame_max(port.raw, AFPACKET_FRAME_MAX) == 0
        t = tcp_transfer(client, server, SENT, 0, port=5001, seed=8, timeout=60)
        writer = StreamWriter(tmp_path / "s")
        run = MonitorRun(Monitor(events=BULK_EVENTS), streams=writer)
        burst, held = Burst(4), 0
        while True:                    # everything is queued already: no new arrivals
            burst.clear()
            if not port.rx(burst):
                break
            held += lib.xc_afpacket_pending(port.raw) == 1
            run.feed(burst)
        left = lib.xc_afpacket_pending(port.raw)
        run.finish()
        writer.close(run.summary())
        st = port.afpacket_stats()
    finally:
        port.close()
    assert held > 0 and left == 0 and st["rx_superframes"] > 0
    flow, c2s, _ = streams(tmp_path / "s")
    assert sha(c2s) == t["client"]["sent_sha256"] and flow["c2s"]["gaps"] == []
