"""Protocol hardening against the Linux kernel's TCP and tools we did not
write: the challenge-ACK side channel of CVE-2016-5696 is gone, nmap's
FIN/NULL/Xmas scans find a listening port open|filtered as on the kernel,
and a capture shows TSvals and IP IDs that belong to each connection alone.
The engine runs in this process; captures are taken in the peer namespace
and read with tshark."""
import subprocess
import time

import pytest

from xdpmtcp.lab.capture import start_tcpdump, stop_tcpdump, tshark_fields
from xdpmtcp.lab.probes import SYSTEM_PYTHON, send_raw
from xdpmtcp.lab.fixtures import engine_on
from xdpmtcp.tcp import TcpState
from xdpmtcp.wire import TcpFlags, build_tcp_frame

PORT = 8080
KERNEL_PORT = 8082     # a kernel listener in the stack namespace: the reference
CLOSED_PORT = 8083     # nobody listens (the stack's kernel answers)


@pytest.fixture
def engine(lab, netif):
    with engine_on(lab, netif, tcp_timewait=0.5) as eng:
        yield eng


def capture_from_stack(lab, pcap):
    """tcpdump on the peer of what the stack sends (its TCP only)."""
    return start_tcpdump(lab.peer, lab.peer.ifname, pcap, extra=["tcp", "and", "src", "host", lab.stack.ip])


def poll_for(eng, seconds):
    deadline = time.monotonic() + seconds
    eng.run_until(lambda: time.monotonic() >= deadline, seconds + 1)


def accept_one(eng, lst, timeout=5.0):
    assert eng.run_until(lambda: lst.pending(), timeout)
    return lst.accept()


HOLD_OPEN = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(s.getsockname()[1], flush=True)
s.settimeout(30)
got = s.recv(100)
s.sendall(b"still " + got)
time.sleep(0.5)
"""


def hold_open(lab, eng, lst):
    """A kernel client connected to lst; returns (its process, our end)."""
    p = lab.peer.popen([SYSTEM_PYTHON, "-c", HOLD_OPEN, lab.stack.ip, str(PORT)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn = accept_one(eng, lst)
    assert int(p.stdout.readline()) == conn.remote[1]
    return p, conn


def still_talks(eng, p, conn):
    conn.send(b"here")
    assert eng.run_until(lambda: conn.readable_bytes == 10, 5), p.stderr.read()
    assert conn.recv(100) == b"still here"
    p.wait(10)


def rst_burst(lab, conn, n, offset):
    """RSTs spoofed from conn's peer with sequence numbers rcv_nxt + offset.."""
    t = conn.c_info()
    return [build_tcp_frame(lab.peer.mac, lab.stack.mac, lab.peer.ip, lab.stack.ip,
                            conn.remote[1], PORT, (t.rcv_nxt + offset + i) & 0xffffffff, 0,
                            TcpFlags.RST, 0)
            for i in range(n)]


# --- RFC 5961 challenge ACKs: CVE-2016-5696 -------------------------------------------------


def test_challenge_acks_leak_nothing_to_an_off_path_attacker(lab, engine, need_tool, tmp_path):
    """The attack: 100 RSTs guessing into a victim connection's window, then
    1000 in-window RSTs on the attacker's own connection, whose challenge
    ACKs it counts.  With one engine-wide budget of 1000 a second, right
    guesses cost the attacker's count one ACK each (900 instead of 1000).
    Now the count is the same after right and after wrong guesses."""
    need_tool("tshark")
    need_tool("tcpdump")
    lst = engine.listen(PORT)
    victim_peer, victim = hold_open(lab, engine, lst)
    attacker_peer, attacker = hold_open(lab, engine, lst)
    seen = {}
    for guess in ("right", "wrong"):
        poll_for(engine, 1.1)                     # a new second, a new interval
        pcap = str(tmp_path / (guess + ".pcap"))
        dump = capture_from_stack(lab, pcap)
        v0, a0 = victim.counters(), attacker.counters()
        offset = 1000 if guess == "right" else 1 << 30
        send_raw(lab.peer, rst_burst(lab, victim, 100, offset) + rst_burst(lab, attacker, 1000, 1000))
        poll_for(engine, 0.3)
        stop_tcpdump(dump)
        v1, a1 = victim.counters(), attacker.counters()
        acks = tshark_fields(pcap, "tcp.flags == 0x010 && tcp.len == 0", "tcp.dstport")
        seen[guess] = {
            "victim_drew": v1["challenge_acks"] - v0["challenge_acks"],
            "victim_ignored": v1["rst_ignored"] - v0["rst_ignored"],
            "attacker_counted": sum(1 for (port,) in acks if int(port) == attacker.remote[1]),
            "victim_on_wire": sum(1 for (port,) in acks if int(port) == victim.remote[1]),
            "attacker_skipped": a1["challenge_acks_skipped"] - a0["challenge_acks_skipped"],
        }
    print(seen)
    right, wrong = seen["right"], seen["wrong"]
    assert right["victim_drew"] == right["victim_on_wire"] == 1        # the guesses hit ...
    assert wrong["victim_drew"] == 0 and wrong["victim_ignored"] == 100  # ... or missed
    assert right["attacker_counted"] == wrong["attacker_counted"] == 1  # and it cannot tell
    assert right["attacker_skipped"] == wrong["attacker_skipped"] == 999
    assert engine.c_stats()["challenge_acks_conn_limited"] >= 2 * 999 + 99
    for p, conn in ((victim_peer, victim), (attacker_peer, attacker)):
        assert conn.state == TcpState.ESTABLISHED
        still_talks(engine, p, conn)


# --- FIN, NULL and Xmas probes to a listening port ------------------------------------------

SCANS = {"FIN": TcpFlags.FIN, "NULL": TcpFlags(0), "Xmas": TcpFlags.FIN | TcpFlags.PSH | TcpFlags.URG}


def test_fin_null_xmas_probes_to_listener_are_dropped(lab, engine, need_tool, tmp_path):
    need_tool("tcpdump")
    need_tool("tshark")
    lst = engine.listen(PORT)
    pcap = str(tmp_path / "probes.pcap")
    dump = capture_from_stack(lab, pcap)

    def probe(sport, flags, dport=PORT, ack=0):
        return build_tcp_frame(lab.peer.mac, lab.stack.mac, lab.peer.ip, lab.stack.ip, sport, dport,
                               1000, ack, flags, 1024)

    send_raw(lab.peer, [probe(40000 + i, flags) for i, flags in enumerate(SCANS.values())])
    poll_for(engine, 0.3)
    assert lst.stats.probes_dropped == 3 and engine.c_stats()["rst_sent"] == 0
    # an ACK that is no cookie still draws a RST (RFC 9293 §3.10.7.2)
    send_raw(lab.peer, [probe(40010, TcpFlags.ACK, ack=0x5eed)])
    poll_for(engine, 0.3)
    stop_tcpdump(dump)
    answers = tshark_fields(pcap, "tcp", "tcp.dstport", "tcp.flags", "tcp.seq_raw")
    assert answers == [["40010", "0x0004", str(0x5eed)]], answers
    assert engine.c_stats()["rst_sent"] == 1 and lst.stats.cookies_rejected == 1


KERNEL_LISTENER = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
print("up", flush=True); time.sleep(60)
"""


def nmap_states(out):
    """{port: state} from nmap's grepable output."""
    line = next(l for l in out.splitlines() if "Ports:" in l)
    return {int(p.split("/")[0]): p.split("/")[1] for p in line.split("Ports:")[1].split("\t")[0].split(", ")}


@pytest.mark.parametrize("scan", ["-sF", "-sN", "-sX"])
def test_nmap_scan_finds_listener_open_filtered_like_the_kernel(lab, engine, need_tool, scan):
    need_tool("nmap")
    lst = engine.listen(PORT)
    kernel = lab.stack.popen([SYSTEM_PYTHON, "-c", KERNEL_LISTENER, lab.stack.ip, str(KERNEL_PORT)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert kernel.stdout.readline().strip() == "up"
        nmap = lab.peer.popen(["nmap", "-n", "-Pn", scan, "--max-retries", "1", "-oG", "-",
                               "-p", "%d,%d,%d" % (PORT, KERNEL_PORT, CLOSED_PORT), lab.stack.ip],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert engine.run_until(lambda: nmap.poll() is not None, 60)   # answer while it scans
        out, err = nmap.communicate()
        assert nmap.returncode == 0, err
    finally:
        kernel.kill()
        kernel.wait()
    states = nmap_states(out)
    assert states == {PORT: "open|filtered", KERNEL_PORT: "open|filtered", CLOSED_PORT: "closed"}, out
    assert lst.stats.probes_dropped >= 1 and engine.c_stats()["rst_sent"] == 0


# --- TSval and IP ID on the wire ------------------------------------------------------------

KERNEL_SERVER = r"""
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2]))); ls.listen(8); print("up", flush=True)
conns = [ls.accept()[0] for _ in range(int(sys.argv[3]))]
for _ in range(5):
    for c in conns:
        c.sendall(c.recv(100))
for c in conns:
    c.close()
"""


def test_tsvals_and_ip_ids_belong_to_each_connection(lab, engine, need_tool, tmp_path):
    """Two connections of the stack to a kernel server, with interleaved
    traffic: each connection's IP IDs count on from a start of its own, and
    each TSval is the stack's millisecond clock plus an offset of the
    connection's own (an observer learns neither the uptime nor how much
    the other connection sent)."""
    need_tool("tcpdump")
    need_tool("tshark")
    srv = lab.peer.popen([SYSTEM_PYTHON, "-c", KERNEL_SERVER, lab.peer.ip, "9002", "2"],
                         stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "up"
    pcap = str(tmp_path / "ids.pcap")
    dump = capture_from_stack(lab, pcap)
    with lab.stack.enter():
        conns = [engine.connect((lab.peer.ip, 9002)) for _ in range(2)]
    assert engine.run_until(lambda: all(c.state == TcpState.ESTABLISHED for c in conns), 5)
    clock_ms = time.monotonic_ns() // 10**6
    offsets = [c.c_info().ts_offset for c in conns]
    ports = [c.local[1] for c in conns]
    for i in range(5):
        for c in conns:
            c.send(b"ping %d" % i)
            assert engine.run_until(lambda: c.readable_bytes == 6, 5)
            c.recv(100)
    for c in conns:
        c.close()
    assert engine.run_until(lambda: srv.poll() is not None, 5)
    poll_for(engine, 0.2)
    stop_tcpdump(dump)
    rows = tshark_fields(pcap, "tcp", "tcp.srcport", "ip.id", "ip.flags.df", "tcp.options.timestamp.tsval")
    first_ids = []
    for port, offset in zip(ports, offsets):
        mine = [r for r in rows if int(r[0]) == port]
        assert len(mine) >= 7                                  # SYN, ACK, 5 data, ACKs, FIN
        ids = [int(r[1], 16) for r in mine]
        assert all((b - a) & 0xffff == 1 for a, b in zip(ids, ids[1:])), ids
        assert all(r[2] in ("1", "True") for r in mine)        # DF: the ID means nothing else
        tsval = int(mine[0][3])                                 # the SYN's
        assert abs(((tsval - offset) & 0xffffffff) - clock_ms) < 5000
        first_ids.append(ids[0])
    print("first IP IDs %s, TS offsets %s" % (first_ids, offsets))
    assert first_ids[0] != first_ids[1] and abs(first_ids[0] - first_ids[1]) != 1
    gap = (offsets[0] - offsets[1]) & 0xffffffff
    assert min(gap, (1 << 32) - gap) > 10_000                 # not one clock


def test_syn_ack_and_reset_carry_ip_id_zero_like_linux(lab, engine, need_tool, tmp_path):
    need_tool("tcpdump")
    need_tool("tshark")
    lst = engine.listen(PORT)
    pcap = str(tmp_path / "zero.pcap")
    dump = capture_from_stack(lab, pcap)
    p, conn = hold_open(lab, engine, lst)
    still_talks(engine, p, conn)
    send_raw(lab.peer, [build_tcp_frame(lab.peer.mac, lab.stack.mac, lab.peer.ip, lab.stack.ip, 40020,
                                        PORT, 1, 77, TcpFlags.ACK, 1024)])
    poll_for(engine, 0.3)
    stop_tcpdump(dump)
    rows = tshark_fields(pcap, "tcp", "tcp.flags", "ip.id", "tcp.dstport")
    synack = [r for r in rows if r[0] == "0x0012"]
    rst = [r for r in rows if r[0] == "0x0004"]
    ids = [int(r[1], 16) for r in rows if r[2] == str(conn.remote[1]) and r[0] != "0x0012"]
    assert synack and all(int(r[1], 16) == 0 for r in synack)
    assert rst and int(rst[0][1], 16) == 0
    # after the SYN-ACK, the connection's own counter
    assert len(ids) >= 2 and all((b - a) & 0xffff == 1 for a, b in zip(ids, ids[1:])), ids
