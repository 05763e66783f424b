"""Buffer memory against the kernel's TCP (issue 10): with default settings
`xdpmtcp serve` holds max_concurrency idle connections, because a buffer
costs storage only while it holds data; RSS per idle connection is measured
on the serve process.  The in-memory engine tests are in
tests/unit/test_tcp_memory.py."""
import json
import queue
import time

import pytest

from xdpmtcp.lab import kernel_peers
from xdpmtcp.lab.stackproc import StackProcess
from xdpmtcp.tunables import DEFAULTS

PORT = 8080
RSS_PER_IDLE_CONN_MAX = 12 * 1024      # the target


def rss_bytes(pid):
    """Anonymous resident memory: what the process allocated (file-backed
    pages of its libraries come and go with the machine's memory pressure)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon for pid %d" % pid)


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


def wait_conn_events(sp, n, timeout):
    """How many connections serve reported finished, waiting for n."""
    seen, end = 0, time.monotonic() + timeout
    while seen < n and time.monotonic() < end:
        try:
            ev = sp.events.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        if ev is None:
            break
        seen += ev.get("event") == "conn"
    return seen


def go_on(peer):
    peer.stdin.write("go\n")
    peer.stdin.flush()


@pytest.mark.parametrize("n, tcp", [(DEFAULTS.max_concurrency, None), (12000, "max_concurrency=12000")],
                         ids=["defaults", "max_concurrency-12000"])
def test_idle_connections_up_to_max_concurrency(lab, n, tcp):
    """Every connection up to max_concurrency established, served, held
    idle, with buffer_memory_max at its default (1 GiB: charged by
    capacity, 512 KiB each, it admitted about 2,000).  RSS per idle
    connection is the serve process's growth over the second half of them
    (the first half reuses memory the process freed at start)."""
    args = ["--mode", "echo", "--backlog", 2048] + (["--tcp", tcp] if tcp else [])
    sp = StackProcess(lab.stack, "serve", "-p", PORT, *args)
    with sp:
        sp.wait_event("ready")
        rss = [settle_rss(sp.proc.pid)]
        peer = kernel_peers.start_idle_clients(lab.peer, lab.stack.ip, PORT, n, wave=500, steps=2, timeout=40)
        steps = []
        try:
            for _ in range(2):
                steps.append(json.loads(peer.stdout.readline()))
                rss.append(settle_rss(sp.proc.pid))
                go_on(peer)
        finally:
            for _ in range(2 - len(steps)):
                go_on(peer)
        held = steps[-1]
        closed = json.loads(peer.stdout.readline())
        peer.wait(30)
        finished = wait_conn_events(sp, n, 30)          # every close has run ...
        time.sleep(0.5)                                  # ... and its last ACK arrived
        sp.stop()
        final = [e for e in iter(lambda: sp.events.get(timeout=10), None) if e.get("event") == "engine"]
    assert held["connected"] == n and held["failed"] == 0, held
    assert held["echoed"] == n, held                    # every one served, not just accepted
    assert closed["closed"] == n and finished == n
    assert final, sp.output()
    eng = final[-1]
    c = eng["c"]
    half = steps[0]["connected"]
    per_conn = (rss[2] - rss[1]) / (n - half)
    print("\n%d idle connections (%s): serve RSS %.1f -> %.1f -> %.1f MiB, %.2f KiB per idle connection "
          "(second half), %.2f KiB overall; buffer storage peak %d KiB; all open and echoed in %.1f s"
          % (n, tcp or "defaults", rss[0] / 2**20, rss[1] / 2**20, rss[2] / 2**20, per_conn / 1024,
             (rss[2] - rss[0]) / n / 1024, c["buffer_peak"] // 1024, held["seconds"]))
    assert c["refused_memory"] == 0 and c["refused_cap"] == 0
    assert eng["listener"]["refused_no_memory"] == 0
    assert c["rcv_dropped_memory"] == 0 and c["write_refused_memory"] == 0
    assert c["buffer_peak"] < 64 << 20                   # a line each: 4 KiB blocks, not 256 KiB ones
    assert c["rcvbuf_grown"] == 0                        # a line is no reason to autotune
    assert eng["tcbs_in_use"] == 0 and eng["buffer_memory"] == 0 and c["buffer_capacity"] == 0
    assert per_conn <= RSS_PER_IDLE_CONN_MAX, "%.0f bytes of RSS per idle connection" % per_conn
