"""Scale against the kernel's TCP: 20,000 idle connections held by
`xdpmtcp serve` (more than one peer process may hold: the descriptor
limit), every one established and served, RSS per connection within the
target; and a churn of short connections after which nothing Python or C
keeps per connection is left.  The 100,000-connection and 1,000,000-
connection runs are tools/bench/idle_scale.py and churn_soak.py --count
(docs/hardening.md)."""
from xdpmtcp.lab.scale import churn, hold_idle

IDLE = 20000
RSS_PER_IDLE_CONN_MAX = 12 * 1024        # the target (measured: about 3.3 KiB)
CHURN = 20000


def test_idle_connections_20000_held_and_served(lab):
    held_now = {}

    def on_held(res):
        held_now.update(res["held_stats"] or {})

    res = hold_idle(lab, IDLE, on_held=on_held)
    held, final = res["held"], res["final"]
    print("\n%d idle connections from %s: serve RssAnon %s MiB, %.0f B per connection (second half), "
          "%.0f B overall; open and echoed in %.1f s"
          % (IDLE, res["sources"], [round(r / 2**20, 1) for r in res["rss"]], res["rss_per_conn"],
             res["rss_per_conn_overall"], held["seconds"]))
    assert held["connected"] == IDLE and held["failed"] == 0, held
    assert held["echoed"] == IDLE, held                  # served, not just accepted
    assert held_now["tcbs_in_use"] == IDLE and held_now["tracked"]["conns"] == IDLE
    c = held_now["c"]
    assert c["refused_cap"] == 0 and c["refused_memory"] == 0 and c["tcbs_alloc_failed"] == 0
    assert c["flow_table_full"] == 0 and held_now["listener"]["accept_overflow"] == 0
    assert res["closed"]["closed"] == IDLE and res["closed"]["eof"] == IDLE   # serve closed each
    assert res["finished"] == IDLE and res["rc"] == 0
    assert final["tcbs_in_use"] == 0 and final["buffer_memory"] == 0
    assert final["tracked"]["conns"] == 0 and final["tracked"]["apps"] == 0
    assert res["rss_per_conn"] <= RSS_PER_IDLE_CONN_MAX, "%.0f B per idle connection" % res["rss_per_conn"]


def test_churn_leaves_no_connection_state_behind(lab):
    """CHURN short connections as fast as serve takes them; after them no
    block, Python connection, app, tuple or buffer storage is left, and
    Python's object count is what it was in the middle of the run."""
    res = churn(lab, CHURN, sample=1.0)
    mid = [s for s in res["samples"] if CHURN // 4 <= s["established"] < CHURN]
    final = res["final"]
    print("\nchurn %d: %.0f conn/s; samples %s" % (CHURN, res["rate"], res["samples"]))
    assert res["ok"] == CHURN and res["fail"] == 0, res["errors"]
    assert res["alive"] and res["rc"] == 0
    assert final["listener"]["established"] == CHURN
    assert final["tcbs_in_use"] == 0 and final["buffer_memory"] == 0
    assert final["tracked"] == dict(final["tracked"], conns=0, tuples=0, apps=0, finished=CHURN)
    assert final["c"]["tcbs_alloc_failed"] == 0 and final["c"]["slow_path"] == 0
    assert final["port"]["tx_in_flight"] == 0
    assert mid, res["samples"]
    # objects per connection would show as thousands here
    assert final["tracked"]["gc_objects"] <= mid[0]["gc_objects"] + 500, (mid[0], final["tracked"])
