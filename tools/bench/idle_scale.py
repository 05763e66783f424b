#!/usr/bin/env python3
"""Idle connections at scale: how many can `xdpmtcp serve` hold, and what
does each cost?

Kernel clients in the lab's peer namespace (several source addresses, a
raised fd limit) open --conns connections to `serve --mode echo` in two
halves, echo one line on each and keep them idle.  Prints serve's RSS
(RssAnon) at start and after each half, the RSS per connection over the
second half (the first reuses memory freed at start), what the engine
counted while all were held, and the cost of one connection split into
its C block (struct xc_tcb and its share of the engine's arrays), its
Python objects (measured with tracemalloc on the same code over the
in-memory link: Connection, the echo app, the runner's and engine's
entries) and its buffers (storage held while idle: 0).

    tools/bench/idle_scale.py [--conns 100000] [--wave 500] [--json]
"""
import argparse
import gc
import json
import os
import sys
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.lab.scale import c_block_cost, hold_idle  # noqa: E402


def python_cost(n=1000):
    """Python bytes per accepted connection of serve's echo mode, traced:
    n connections over the in-memory link, accepted and given an EchoApp
    by a ConnectionRunner as serve does, one line echoed on each.  Only the
    accepting engine's side is traced (the clients exist before)."""
    from xdpmtcp.apps import ConnectionRunner, EchoApp
    from xdpmtcp.tcp import TcpState
    from xdpmtcp.tcp.loopback import ADDR_A, EnginePair

    with EnginePair() as p:
        lst = p.a.listen(8080, backlog=n)
        clients = [p.b.connect((ADDR_A, 8080)) for _ in range(n)]
        assert p.run_until(lambda: lst.pending() == n and
                           all(c.state == TcpState.ESTABLISHED for c in clients), 30)
        runner = ConnectionRunner(p.a)
        msg = b"hello 12345\n"
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            runner.add(lst.accept(), EchoApp())
        for c in clients:
            c.send(msg)

        def echoed():
            runner.step()
            return all(c.readable_bytes >= len(msg) for c in clients)
        assert p.run_until(echoed, 30)
        for c in clients:
            c.recv(64)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    return {"n": n, "bytes_per_conn": round((held - base) / n, 1)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conns", type=int, default=100000)
    p.add_argument("--wave", type=int, default=500, help="connections opened at once by the clients")
    p.add_argument("--tcp", action="append", default=[], metavar="KEY=VALUE", help="serve --tcp settings")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = p.parse_args()

    with Lab.create(prefix="xmidle") as lab:
        res = hold_idle(lab, args.conns, tcp=args.tcp, wave=args.wave, timeout=300)
    res["python"] = python_cost()
    maxc = max(args.conns, 10000)
    for s in res["tcp"]:
        if s.startswith("max_concurrency="):
            maxc = int(s.split("=")[1])
    res["c_block"] = c_block_cost(maxc)
    held, st = res["held"], res["held_stats"] or {}
    rss_conn = res["rss_per_conn"]
    buffers = (st.get("buffer_memory") or 0) / max(1, held["connected"])
    res["split"] = {"rss_per_conn": rss_conn, "c_block": res["c_block"]["total"],
                    "python_traced": res["python"]["bytes_per_conn"], "buffers": buffers,
                    "rest": rss_conn - res["c_block"]["total"] - res["python"]["bytes_per_conn"] - buffers}
    if args.json:
        print(json.dumps(res, default=str))
        return
    rss = res["rss"]
    print("idle scale: %d connections asked, from %d source addresses (%s)"
          % (args.conns, len(res["sources"]), ", ".join(res["sources"])))
    for i, step in enumerate(res["steps"]):
        print("  part %d: connected %d, failed %d, echoed %d after %.1f s; serve RssAnon %.1f MiB %s"
              % (i + 1, step["connected"], step["failed"], step["echoed"], step["seconds"],
                 rss[i + 1] / 2**20, step.get("errors") or ""))
    print("  serve RssAnon at start %.1f MiB, held %.1f MiB (VmRSS %.1f MiB)"
          % (rss[0] / 2**20, rss[-1] / 2**20, res["vm_rss"] / 2**20))
    print("  held: tcbs_in_use %s, buffer_memory %s, refused_cap %s, refused_memory %s, rx_ring_full %s"
          % (st.get("tcbs_in_use"), st.get("buffer_memory"), st.get("c", {}).get("refused_cap"),
             st.get("c", {}).get("refused_memory"), st.get("port", {}).get("rx_ring_full")))
    print("  RSS per connection: %.0f B (second half), %.0f B overall"
          % (rss_conn, res["rss_per_conn_overall"]))
    sp = res["split"]
    print("  per connection: C block %.0f B (struct xc_tcb %d B, malloc'ed %d B, arrays %.0f B) + "
          "Python %.0f B (traced) + buffers %.0f B; the rest %.0f B (allocator slack, OpenSSL hash "
          "contexts, dict growth)"
          % (sp["c_block"], res["c_block"]["tcb_struct"], res["c_block"]["tcb_malloc"],
             res["c_block"]["tables"], sp["python_traced"], sp["buffers"], sp["rest"]))
    f = res["final"] or {}
    print("  closed %s, serve finished %d, rc %s; final tcbs_in_use %s, buffer_memory %s"
          % (res["closed"].get("closed"), res["finished"], res["rc"], f.get("tcbs_in_use"),
             f.get("buffer_memory")))


if __name__ == "__main__":
    main()
