"""The TCP engine against the Linux kernel's TCP on a real veth with the
XDP program and AF_XDP: fetches both ways, bulk transfers under faults,
options, many connections, closes, resets, timeouts, crafted segments."""
import errno
import os
import time

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.probes import send_raw
from xdpmtcp.lab.stackproc import StackProcess
from xdpmtcp.lab.fixtures import engine_on
from xdpmtcp.tcp import TcpState
from xdpmtcp.wire import TcpFlags, TcpOptions, build_tcp_frame

PORT = 8080


def serve(lab, *args):
    sp = StackProcess(lab.stack, "serve", "-p", PORT, *args)
    sp.wait_event("ready")
    return sp


# --- fetches ------------------------------------------------------------------


def test_curl_fetches_from_stack_server(lab, need_tool, tmp_path):
    need_tool("curl")
    body = os.urandom(3_000_000)
    (tmp_path / "big.bin").write_bytes(body)
    (tmp_path / "index.html").write_bytes(b"<h1>xdpmtcp</h1>\n")
    out = tmp_path / "got.bin"
    with serve(lab, "--mode", "http", "--root", tmp_path) as sp:
        url = "http://%s:%d/" % (lab.stack.ip, PORT)
        # keep-alive: two requests on one connection
        r = lab.peer.run(["curl", "-sS", "-o", str(out), "-o", "/dev/null", "-w", "%{http_code} %{num_connects}\n",
                          url + "big.bin", url], timeout=60)
        assert r.returncode == 0, r.stderr
        assert out.read_bytes() == body
        assert r.stdout.split() == ["200", "1", "200", "0"]       # second request reused it
        conn = sp.wait_event("conn")
        assert conn["bytes_out"] > len(body) and conn["error"] is None
        r = lab.peer.run(["curl", "-sS", "-H", "Connection: close", url], timeout=30)
        assert r.stdout == "<h1>xdpmtcp</h1>\n"


def test_python_socket_echo_both_ways(lab):
    with serve(lab, "--mode", "echo"):
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 5_000_000, seed=7)
        assert "error" not in res, res
        assert res["sha256_recv"] == res["sha256_sent"] and res["bytes_recv"] == 5_000_000


def test_stack_client_fetches_from_kernel_server(lab):
    srv = kernel_peers.start_bulk_server(lab.peer, lab.peer.ip, 9000, 4_000_000, seed=3)
    assert '"listening"' in srv.stdout.readline()
    sp = StackProcess(lab.stack, "connect", lab.peer.ip, 9000, "--send-bytes", 1_000_000)
    mine = sp.wait_event("conn", 60)
    theirs = __import__("json").loads(srv.stdout.readline())
    assert "error" not in theirs, (theirs, mine)
    assert sp.proc.wait(10) == 0
    assert mine["bytes_in"] == 4_000_000 and mine["sha256_in"] == theirs["sha256_sent"]
    assert theirs["bytes_recv"] == 1_000_000 and theirs["sha256_recv"] == mine["sha256_out"]


# --- bulk under faults ---------------------------------------------------------------

FAULTS = "drop=0.02,reorder=0.02,dup=0.01,seed=11,direction=both"
BULK = 200_000_000


def test_200mb_to_stack_under_faults(lab):
    with serve(lab, "--mode", "sink", "--faults", FAULTS) as sp:
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, BULK, timeout=300)
        assert "error" not in res, res
        conn = sp.wait_event("conn", 60)
        assert conn["bytes_in"] == BULK and conn["sha256_in"] == res["sha256_sent"]
        c = conn["counters"]
        assert c["ooo_segs_in"] > 0 and c["sacks_sent"] > 0      # we reassembled and SACKed
        assert c["dsacks_sent"] > 0                               # and reported duplicates
        print("to stack: %.1f MB/s; %s" % (BULK / res["seconds"] / 1e6,
                                          {k: c[k] for k in ("ooo_segs_in", "dup_segs_in", "sacks_sent", "dsacks_sent")}))


def test_200mb_from_stack_under_faults(lab):
    with serve(lab, "--mode", "source", "--bytes", BULK, "--faults", FAULTS) as sp:
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 0, timeout=300)
        assert "error" not in res, res
        conn = sp.wait_event("conn", 60)
        assert res["bytes_recv"] == BULK and res["sha256_recv"] == conn["sha256_out"]
        c = conn["counters"]
        # the recovery paths that ran: fast retransmit (SACK-chosen) and maybe RTO
        assert c["fast_retrans"] > 0 and c["sack_retrans"] > 0 and c["recoveries"] > 0
        print("from stack: %.1f MB/s; %s" % (BULK / res["seconds"] / 1e6,
              {k: c[k] for k in ("retrans_segs", "fast_retrans", "sack_retrans", "rto_retrans",
                                 "rto_events", "recoveries", "dsacks_in", "undos")}))


# --- options --------------------------------------------------------------------


def test_window_scaling_exceeds_64k_in_flight(lab):
    with serve(lab, "--mode", "source", "--bytes", 50_000_000) as sp:
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 0)
        conn = sp.wait_event("conn")
        assert res["sha256_recv"] == conn["sha256_out"]
        assert conn["counters"]["max_flight"] > 65535      # only possible with scaling


def test_sack_from_kernel_drives_recovery(lab):
    with serve(lab, "--mode", "source", "--bytes", 20_000_000,
               "--faults", "drop=0.01,seed=2,direction=tx") as sp:
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 0)
        conn = sp.wait_event("conn")
        assert res["sha256_recv"] == conn["sha256_out"]
        c = conn["counters"]
        assert c["sack_blocks_in"] > 0 and c["sack_retrans"] > 0   # the kernel SACKed, we used it


def test_peer_without_timestamps_or_sack(lab):
    lab.peer.run(["sysctl", "-qw", "net.ipv4.tcp_timestamps=0", "net.ipv4.tcp_sack=0"], check=True)
    with serve(lab, "--mode", "echo") as sp:
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, PORT, 2_000_000)
        assert res["sha256_recv"] == res["sha256_sent"]
        conn = sp.wait_event("conn")
        assert conn["counters"]["sacks_sent"] == 0


# --- many connections --------------------------------------------------------------


def test_1000_concurrent_connections(lab):
    with serve(lab, "--mode", "echo", "--backlog", 2048, "--tcp", "tcp_timewait=1") as sp:
        res = kernel_peers.many_clients(lab.peer, lab.stack.ip, PORT, 1000)
        assert res["concurrent"] == 1000 and res["ok"] == 1000, res
        time.sleep(1.5)                                    # TIME-WAIT of the closes we began
        sp.stop()
        final = [e for e in iter(lambda: sp.events.get(timeout=5), None) if e.get("event") == "engine"]
        assert final, sp.output()
        eng = final[-1]
        assert eng["tcbs_in_use"] == 0 and eng["buffer_memory"] == 0
        assert eng["port"]["tx_no_room"] == 0 and eng["port"]["tx_in_flight"] == 0
        assert eng["port"]["rx_ring_full"] == 0
        # every handshake and close ran in C: not one segment reached Python
        assert eng["c"]["slow_path"] == 0 and eng["py"]["slow_segments"] == 0
        assert eng["listener"]["established"] == 1000
        assert eng["c"]["listen_segments"] + eng["c"]["handshake_segments"] >= 2000   # SYN, ACK


# --- closes, resets, timeouts, crafted segments: the engine in this process ---------


@pytest.fixture
def engine(lab, netif):
    with engine_on(lab, netif, tcp_timewait=0.5, rto_min_ms=50, tcp_retries=4) as eng:
        yield eng


def poll_until(eng, predicate, timeout=10.0):
    return eng.run_until(predicate, timeout)


def accept_one(eng, lst, timeout=5.0):
    assert poll_until(eng, lambda: lst.pending(), timeout)
    return lst.accept()


def start_peer(lab, script, *args):
    import subprocess
    from xdpmtcp.lab.probes import SYSTEM_PYTHON
    return lab.peer.popen([SYSTEM_PYTHON, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


PEER_CLOSE_FIRST = r"""
import socket, sys, json
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"ping")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    c = s.recv(100)
    if not c: break
    data += c
print(json.dumps({"got": data.decode()}))
"""

STACK_CLOSE_FIRST = r"""
import socket, sys, json, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
data = b""
while True:
    c = s.recv(100)
    if not c: break
    data += c
time.sleep(0.2)
s.sendall(b"late")        # we are in CLOSE-WAIT: half-close still carries data
s.close()
print(json.dumps({"got": data.decode()}))
"""


def test_peer_closes_first(lab, engine):
    lst = engine.listen(PORT)
    p = start_peer(lab, PEER_CLOSE_FIRST, lab.stack.ip, PORT)
    conn = accept_one(engine, lst)
    assert poll_until(engine, lambda: conn.state == TcpState.CLOSE_WAIT)
    assert conn.recv(100) == b"ping" and conn.recv(100) == b""
    conn.send(b"pong")
    conn.close()                                   # LAST-ACK, then gone
    assert poll_until(engine, lambda: conn.released)
    assert p.communicate(timeout=10)[0].strip() == '{"got": "pong"}'
    assert engine.tcb_count() == 0


def test_stack_closes_first_then_time_wait(lab, engine):
    lst = engine.listen(PORT)
    p = start_peer(lab, STACK_CLOSE_FIRST, lab.stack.ip, PORT)
    conn = accept_one(engine, lst)
    conn.send(b"bye")
    conn.shutdown_write()
    assert poll_until(engine, lambda: conn.readable_bytes == 4)   # "late" after our FIN
    assert conn.recv(10) == b"late"
    assert poll_until(engine, lambda: conn.state == TcpState.TIME_WAIT)
    conn.close()
    assert poll_until(engine, lambda: conn.released, 3)            # 0.5 s TIME-WAIT
    assert p.communicate(timeout=10)[0].strip() == '{"got": "bye"}'


def test_simultaneous_close_with_kernel(lab, engine):
    # the kernel server closes as soon as it accepts; we close on connect:
    # the FINs cross on the wire
    srv = start_peer(lab, r"""
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 9001)); ls.listen(1); print("up", flush=True)
s, _ = ls.accept(); s.close(); print("closed", flush=True)
""", lab.peer.ip)
    assert srv.stdout.readline().strip() == "up"
    with lab.stack.enter():
        conn = engine.connect((lab.peer.ip, 9001))
    assert poll_until(engine, lambda: conn.state == TcpState.ESTABLISHED)
    conn.close()
    assert poll_until(engine, lambda: conn.released, 5)
    assert engine.tcb_count() == 0 and engine.ephemeral.in_use() == 0


def test_active_opens_are_steered_by_the_reserved_range_or_by_their_tuple(lab, engine, netif):
    # a port from the range reserved with the kernel needs no flows entry
    # (no bpf() call per connect); a port the application bound outside it
    # gets one, removed when the connection goes
    srv = start_peer(lab, r"""
import socket, sys
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 9001)); ls.listen(2); print("up", flush=True)
for _ in range(2):
    s, _ = ls.accept(); s.sendall(s.recv(64)); s.close()
""", lab.peer.ip)
    assert srv.stdout.readline().strip() == "up"
    lo, hi = engine.tunables.ephemeral_ports
    assert netif.program.ephemeral == (lo, hi)
    with lab.stack.enter():
        ranged = engine.connect((lab.peer.ip, 9001))
        bound = engine.connect((lab.peer.ip, 9001), local_port=40123)
    assert lo <= ranged.local[1] <= hi
    assert netif.program.owned()[1] == [(bound.local, bound.remote)]
    for conn in (ranged, bound):
        assert poll_until(engine, lambda: conn.state == TcpState.ESTABLISHED)
        conn.send(b"hello %d" % conn.local[1])
    for conn in (ranged, bound):
        assert poll_until(engine, lambda: conn.readable_bytes == len(b"hello %d" % conn.local[1]))
        assert conn.recv(64) == b"hello %d" % conn.local[1]
        conn.close()
    assert poll_until(engine, lambda: ranged.released and bound.released, 5)
    assert netif.program.owned()[1] == []
    assert srv.wait(10) == 0


def test_peer_reset_mid_transfer_is_econnreset(lab, engine):
    lst = engine.listen(PORT)
    p = start_peer(lab, kernel_peers.RESET_AFTER, lab.stack.ip, PORT, 100_000)
    conn = accept_one(engine, lst)
    assert poll_until(engine, lambda: conn.error or conn.state == TcpState.CLOSED)
    p.wait(10)
    got = 0
    with pytest.raises(ConnectionResetError):
        while True:
            try:
                got += len(conn.recv(1 << 20))
            except BlockingIOError:
                engine.poll(0.01)


def test_vanished_peer_times_out(lab, engine):
    lst = engine.listen(PORT)
    p = start_peer(lab, r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print("up", flush=True); time.sleep(30)
""", lab.stack.ip, PORT)
    conn = accept_one(engine, lst)
    assert p.stdout.readline().strip() == "up"
    # the peer's interface goes away: nothing we send is answered
    lab.peer.run(["ip", "link", "set", lab.peer.ifname, "down"], check=True)
    conn.send(b"x" * 10000)
    assert poll_until(engine, lambda: conn.state == TcpState.CLOSED, 30)
    assert conn.take_error() == errno.ETIMEDOUT
    assert conn.counters()["rto_events"] == 4                      # tcp_retries
    p.kill()


def crafted(lab, conn, flags, seq, ack, payload=b"", ts=None):
    frame = build_tcp_frame(lab.peer.mac, lab.stack.mac, lab.peer.ip, lab.stack.ip,
                            conn.remote[1], PORT, seq, ack, flags, 502,
                            options=TcpOptions(timestamp=ts) if ts else None, payload=payload)
    send_raw(lab.peer, [frame])


HOLD_OPEN = r"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"hello")
print("up", flush=True)
got = s.recv(100)
print(got.decode(), flush=True)
time.sleep(0.5)
"""


@pytest.mark.parametrize("attack", ["rst_in_window", "syn", "data_out_of_window"])
def test_crafted_segments_from_peer(lab, engine, attack):
    lst = engine.listen(PORT)
    p = start_peer(lab, HOLD_OPEN, lab.stack.ip, PORT)
    conn = accept_one(engine, lst)
    assert poll_until(engine, lambda: conn.readable_bytes == 5)
    t = conn.c_info()
    ts = (t.ts_recent + 1, 0) if t.flags & 0x2 else None
    before = conn.counters()
    if attack == "rst_in_window":
        crafted(lab, conn, TcpFlags.RST, (t.rcv_nxt + 1000) & 0xffffffff, 0)
        assert poll_until(engine, lambda: conn.counters()["challenge_acks"] > before["challenge_acks"], 3)
    elif attack == "syn":
        crafted(lab, conn, TcpFlags.SYN, (t.rcv_nxt + 5) & 0xffffffff, 0)
        assert poll_until(engine, lambda: conn.counters()["challenge_acks"] > before["challenge_acks"], 3)
    else:
        crafted(lab, conn, TcpFlags.ACK | TcpFlags.PSH, (t.rcv_nxt + 50_000_000) & 0xffffffff,
                t.snd_nxt, b"evil", ts=ts)
        assert poll_until(engine, lambda: conn.counters()["out_of_window"] > before["out_of_window"], 3)
        assert conn.counters()["bytes_received"] == 5
    # the connection survived: the kernel peer still talks to it
    assert conn.state == TcpState.ESTABLISHED
    assert conn.recv(10) == b"hello"
    conn.send(b"still here")
    assert poll_until(engine, lambda: conn.unsent_bytes == 0, 3)
    out, _ = p.communicate(timeout=10)
    assert out.split() == ["up", "still", "here"]
