"""Buffer memory against the kernel's TCP (issue 10): with default settings
`xdpmtcp serve` holds max_concurrency idle connections, because a buffer
costs storage only while it holds data; RSS per idle connection is measured
on the serve process.  The in-memory engine tests are in
tests/unit/test_tcp_memory.py; 20,000 connections (max_concurrency raised)
in test_idle_scale.py."""
from xdpmtcp.lab.scale import hold_idle
from xdpmtcp.tunables import DEFAULTS

RSS_PER_IDLE_CONN_MAX = 12 * 1024      # the target


def test_idle_connections_up_to_max_concurrency(lab):
    """Every connection up to max_concurrency established, served, held
    idle, with buffer_memory_max at its default (1 GiB: charged by
    capacity, 512 KiB each, it admitted about 2,000).  RSS per idle
    connection is the serve process's growth over the second half of them
    (the first half reuses memory the process freed at start)."""
    n = DEFAULTS.max_concurrency
    res = hold_idle(lab, n, backlog=2048)
    held, eng = res["held"], res["final"]
    rss = res["rss"]
    print("\n%d idle connections (defaults): serve RSS %.1f -> %.1f -> %.1f MiB, %.2f KiB per idle connection "
          "(second half), %.2f KiB overall; buffer storage peak %d KiB; all open and echoed in %.1f s"
          % (n, rss[0] / 2**20, rss[1] / 2**20, rss[2] / 2**20, res["rss_per_conn"] / 1024,
             res["rss_per_conn_overall"] / 1024, eng["c"]["buffer_peak"] // 1024, held["seconds"]))
    assert held["connected"] == n and held["failed"] == 0, held
    assert held["echoed"] == n, held                    # every one served, not just accepted
    assert res["closed"]["closed"] == n and res["finished"] == n
    c = eng["c"]
    assert c["refused_memory"] == 0 and c["refused_cap"] == 0
    assert eng["listener"]["refused_no_memory"] == 0
    assert c["rcv_dropped_memory"] == 0 and c["write_refused_memory"] == 0
    assert c["buffer_peak"] < 64 << 20                   # a line each: 4 KiB blocks, not 256 KiB ones
    assert c["rcvbuf_grown"] == 0                        # a line is no reason to autotune
    assert eng["tcbs_in_use"] == 0 and eng["buffer_memory"] == 0 and c["buffer_capacity"] == 0
    assert res["rss_per_conn"] <= RSS_PER_IDLE_CONN_MAX, "%.0f bytes of RSS per idle connection" % res["rss_per_conn"]
