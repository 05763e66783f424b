#!/usr/bin/env python3
"""Floods vs xdpmtcp and the kernel, in one lab run.

For each flood kind (hping3 --flood: SYN, SYN from random sources, ACK,
RST) the attacker in the peer namespace floods one port of the stack's
address for --seconds while a kernel client in the same namespace makes
short HTTP requests (one connection each, --rate per second) to that port:
first `xdpmtcp serve --mode http` (XDP attached, AF_XDP), then a kernel HTTP
server on another port of the same namespace and address, flooded the same
way.  A baseline without a flood comes first.  Reported: served %, p50/p99
latency of the answered requests, the attacker's pps (frames its interface
sent / time) and the stack's counters for the flood (a fresh serve per
kind, counters from its final "engine" line).  The peer's end of the veth
runs a pass-everything XDP program, without which a veth drops the SYN-ACKs
the steering program sends with XDP_TX (floods.peer_takes_xdp_tx).

    tools/bench/floods.py [--seconds 20] [--rate 50] [--kinds syn,ack] [--serve-tcp K=V] [--json]
"""
import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.lab import floods  # noqa: E402
from xdpmtcp.lab.stackproc import StackProcess  # noqa: E402
from xdpmtcp.progress import track  # noqa: E402

STACK_PORT = 8080
KERNEL_PORT = 8081
TARGET_SERVED_PCT, TARGET_P50_MS = 95.0, 50.0     # issue 10


def run_kind(lab, site, kind, args):
    tcp = sum((["--tcp", kv] for kv in args.serve_tcp), [])
    with StackProcess(lab.stack, "serve", "-p", STACK_PORT, "--mode", "http", "--root", site, *tcp) as sp:
        sp.wait_event("ready")
        flood = kind != "none"
        stack = floods.flood_phase(lab, STACK_PORT, kind, args.seconds, args.rate, flood=flood)
        alive = sp.proc.poll() is None
        kernel = floods.flood_phase(lab, KERNEL_PORT, kind, args.seconds, args.rate, flood=flood)
        rc = sp.stop()
        engine = sp.wait_event("engine", timeout=10)
    return {"kind": kind, "xdpmtcp": stack, "kernel": kernel, "serve_alive": alive, "serve_rc": rc,
            "counters": floods.stack_counters(engine)}


def fmt_ms(v):
    return "-" if v is None else ("%.0f" % v if v >= 10 else "%.1f" % v)


def print_table(rows):
    print("\n| flood | attacker pps | xdpmtcp served | p50 / p99 ms | kernel served | p50 / p99 ms | target |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        s, k = r["xdpmtcp"], r["kernel"]
        met = s["served_pct"] >= TARGET_SERVED_PCT and (s["p50_ms"] or 1e9) <= TARGET_P50_MS
        pps = "-" if r["kind"] == "none" else "{:,} / {:,}".format(s["attacker_pps"], k["attacker_pps"])
        print("| %s | %s | %.1f %% | %s / %s | %.1f %% | %s / %s | %s |" % (
            r["kind"], pps,
            s["served_pct"], fmt_ms(s["p50_ms"]), fmt_ms(s["p99_ms"]),
            k["served_pct"], fmt_ms(k["p50_ms"]), fmt_ms(k["p99_ms"]), "met" if met else "MISSED"))
    keys = ["xdp_syn_cookies", "xdp_cookie_rsts_dropped", "xdp_redirected", "rx_ring_full", "segs_in",
            "slow_path", "listen_segments", "syns",
            "cookies_sent", "cookies_accepted", "cookies_rejected", "syn_queue_overflow", "half_open_failed",
            "rst_sent", "established"]
    print("\nstack counters per flood (serve's final engine line; the kernel phase adds only xdp passed):\n")
    print("| flood | " + " | ".join(keys) + " | serve rc |")
    print("|---|" + "---|" * (len(keys) + 1))
    for r in rows:
        c = r["counters"]
        print("| %s | %s | %s |" % (r["kind"], " | ".join("{:,}".format(c[k]) for k in keys), r["serve_rc"]))
    for r in rows:
        for side in ("xdpmtcp", "kernel"):
            if r[side]["errors"]:
                at = r[side]["failed_at"]
                print("%s %s client errors: %s, %d failed requests started between %.1f s and %.1f s"
                      % (r["kind"], side, r[side]["errors"], len(at), at[0], at[-1]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=20, help="flood duration per server")
    p.add_argument("--rate", type=float, default=50, help="client requests per second")
    p.add_argument("--kinds", default="none," + ",".join(floods.FLOOD_KINDS),
                   help="comma-separated: none (baseline), " + ", ".join(floods.FLOOD_KINDS))
    p.add_argument("--serve-tcp", metavar="KEY=VALUE", action="append", default=[],
                   help="a tunable for serve (repeatable), e.g. tcp_timewait=2")
    p.add_argument("--json", action="store_true", help="one JSON line per flood kind")
    args = p.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k != "none" and k not in floods.FLOOD_KINDS]
    if unknown:
        p.error("unknown flood kind %s" % ", ".join(unknown))
    site = floods.write_site(tempfile.mkdtemp(prefix="xm-floods-"))
    rows = []
    with Lab.create(prefix="xmflood") as lab:
        lab.stack.run(["sysctl", "-qw", "net.ipv4.tcp_syncookies=1"])   # the kernel's default, stated
        floods.peer_takes_xdp_tx(lab)
        kernel_server = floods.start_kernel_http(lab.stack, site, KERNEL_PORT)
        try:
            for kind in track(kinds, "flood kinds", json_output=args.json):
                row = run_kind(lab, site, kind, args)
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
                else:
                    s, k = row["xdpmtcp"], row["kernel"]
                    print("%-16s xdpmtcp %5.1f %% p50 %s ms | kernel %5.1f %% p50 %s ms | %s pps"
                          % (kind, s["served_pct"], fmt_ms(s["p50_ms"]), k["served_pct"],
                             fmt_ms(k["p50_ms"]), "{:,}".format(s["attacker_pps"])), flush=True)
        finally:
            kernel_server.kill()
    if not args.json:
        print_table(rows)


if __name__ == "__main__":
    main()
