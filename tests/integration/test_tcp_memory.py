"""Buffer memory against the kernel's TCP (issue 10): with default settings
`xdpmtcp serve` holds max_concurrency idle connections, because a buffer
costs storage only while it holds data; RSS per idle connection is measured
on the serve process.  The in-memory engine tests are in
tests/unit/test_tcp_memory.py."""
import json
import time

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.stackproc import StackProcess
from xdpmtcp.tunables import DEFAULTS

PORT = 8080
RSS_PER_IDLE_CONN_MAX = 12 * 1024      # the target


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def settle_rss(pid, seconds=3.0):
    """RSS once it stops moving (the server finishes what it was doing)."""
    last, end = rss_bytes(pid), time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.3)
        now = rss_bytes(pid)
        if now == last:
            return now
        last = now
    return last


def test_max_concurrency_idle_connections_with_default_settings(lab):
    n = DEFAULTS.max_concurrency                    # 10,000; 1 GiB charged by capacity admitted ~2,000
    sp = StackProcess(lab.stack, "serve", "-p", PORT, "--mode", "echo", "--backlog", 2048)
    with sp:
        sp.wait_event("ready")
        rss_before = settle_rss(sp.proc.pid)
        peer = kernel_peers.start_idle_clients(lab.peer, lab.stack.ip, PORT, n, wave=500, timeout=45)
        try:
            held = json.loads(peer.stdout.readline())
            assert held["connected"] == n and held["failed"] == 0, held
            assert held["echoed"] == n, held            # every one served, not just accepted
            rss_idle = settle_rss(sp.proc.pid)
        finally:
            peer.stdin.write("close\n")
            peer.stdin.flush()
        closed = json.loads(peer.stdout.readline())
        assert closed["closed"] == n
        peer.wait(30)
        time.sleep(6.0)                                  # the last FINs and ACKs
        sp.stop()
        final = [e for e in iter(lambda: sp.events.get(timeout=10), None) if e.get("event") == "engine"]
    assert final, sp.output()
    eng = final[-1]
    c = eng["c"]
    per_conn = (rss_idle - rss_before) / n
    print("idle connections: %d; serve RSS %.1f -> %.1f MiB: %.2f KiB per connection; "
          "buffer storage peak %d KiB (%d blocks reused of %s); opened in %.1f s"
          % (n, rss_before / 2**20, rss_idle / 2**20, per_conn / 1024, c["buffer_peak"] // 1024,
             eng.get("pool", {}).get("reused", -1), eng.get("pool", {}).get("gets", "?"),
             held["open_seconds"]))
    assert c["refused_memory"] == 0 and c["refused_cap"] == 0
    assert eng["listener"]["refused_no_memory"] == 0
    print(json.dumps(c)); print(json.dumps(eng["pool"])); print(eng["tcbs_in_use"], eng["listener"], eng["py"])
    assert c["rcv_dropped_memory"] == 0 and c["write_refused_memory"] == 0
    assert c["buffer_peak"] < DEFAULTS.buffer_memory_max // 4  # one line each: far from the cap
    assert eng["tcbs_in_use"] == 0 and eng["buffer_memory"] == 0 and c["buffer_capacity"] == 0
    assert per_conn <= RSS_PER_IDLE_CONN_MAX, "%.0f bytes of RSS per idle connection" % per_conn
