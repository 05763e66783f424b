#!/usr/bin/env python3
"""Sending through an impaired path: xdpmtcp against the kernel, cell by cell.

A client - bridge - server lab. On the server host, `xdpmtcp serve --mode
source` (the stack's sender) and a kernel Python sender; the kernel's
client on the client host downloads --mb megabytes from each in turn, while
the project's impairing bridge (xdpmtcp.lab.impair) drops, reorders and
duplicates frames of the data direction (server to client; ACKs pass
clean). Each cell runs both senders in the same minute, with the same
seeded faults.

Per cell: Mbit/s of each sender, the ratio (stack / kernel), segments each
retransmitted (ours from the engine's counters, the kernel's
tcpi_total_retrans), and whether both transfers arrived byte-exact (sha256
of the received bytes against the seeded pattern's). A table, then the
geometric mean of the ratios and the worst cell; --json FILE writes every
cell.

    tools/bench/impair_grid.py [--mb 20] [--quick] [--cc cubic] [--json grid.json]

Both senders use the same congestion control, --cc (cubic, the stack's
default): the kernel's sender sets it with TCP_CONGESTION, whatever the
host's default is (hosts that default to bbr would otherwise compare a
loss-based sender with one that ignores random loss).  --cc newreno runs
the kernel's reno against the stack's newreno.

--quick runs 4 cells (loss 1 %, and 2 % with 3 % reorder and 1 %
duplication, at 0 and 2 ms of delay) instead of the full grid (loss 0.5, 1,
2, 5 % x reorder 0, 3, 10 % x duplication 0, 1 %). Runs as root; makes
and removes its own lab.
"""
import argparse
import itertools
import json
import math
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from xdpmtcp.lab import Lab, kernel_peers  # noqa: E402
from xdpmtcp.lab.impair import impaired_path  # noqa: E402
from xdpmtcp.lab.probes import SYSTEM_PYTHON  # noqa: E402
from xdpmtcp.lab.stackproc import StackProcess  # noqa: E402
from xdpmtcp.progress import track  # noqa: E402

STACK_PORT, KERNEL_PORT = 5401, 5402
KERNEL_CC = {"cubic": "cubic", "newreno": "reno"}   # the stack's name -> the kernel's
SEED = 1
TCPI_TOTAL_RETRANS = 100           # byte offset in Linux's struct tcp_info

# the kernel's sender: for each connection, --mb of the seeded pattern,
# then one JSON line with its sha256 and tcpi_total_retrans
KERNEL_SENDER = kernel_peers._PATTERN + r"""
import hashlib, json, socket, struct, sys
ip, port, nbytes, cc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())  # accepted sockets inherit it
ls.bind((ip, port)); ls.listen(8); print("up", flush=True)
while True:
    s, _ = ls.accept()
    h = hashlib.sha256()
    for c in pattern_chunks(%d, nbytes):
        s.sendall(c); h.update(c)
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    s.close()
    print(json.dumps({"sha256": h.hexdigest(), "retrans": struct.unpack_from("I", info, %d)[0]}), flush=True)
""" % (SEED, TCPI_TOTAL_RETRANS)


def cells(quick):
    if quick:
        return [(1, 0, 0, 0), (2, 3, 1, 0), (1, 0, 0, 2), (2, 3, 1, 2)]
    grid = itertools.product((0.5, 1, 2, 5), (0, 3, 10), (0, 1))
    return [(loss, reorder, dup, 0) for loss, reorder, dup in grid] + [(1, 3, 1, 2), (1, 3, 1, 10)]


def faults(loss, reorder, dup, delay_ms, seed):
    spec = "drop=%g,reorder=%g,dup=%g,seed=%d" % (loss / 100, reorder / 100, dup / 100, seed)
    if delay_ms:
        spec += ",delay=1,delay_us=%d" % (delay_ms * 1000)
    return spec


def download(lab, port):
    """The client host downloads from port; its result (sha256, seconds)."""
    res = kernel_peers.bulk_client(lab.client, lab.server.ip, port, 0, timeout=300)
    if "error" in res:
        raise RuntimeError("download from port %d failed: %s" % (port, res))
    return res


def run_cell(lab, stack, kernel, cell, mb):
    loss, reorder, dup, delay_ms = cell
    out = {"loss_pct": loss, "reorder_pct": reorder, "dup_pct": dup, "delay_ms": delay_ms}
    nbytes = mb * 1_000_000
    for who, port in (("kernel", KERNEL_PORT), ("stack", STACK_PORT)):
        with impaired_path(lab, faults(loss, reorder, dup, delay_ms, 7), direction="s2c") as bridge:
            res = download(lab, port)
        if who == "kernel":
            sent = json.loads(kernel.stdout.readline())
            sha, retrans = sent["sha256"], sent["retrans"]
        else:
            conn = stack.wait_event("conn", 120)
            sha, retrans = conn["sha256_out"], conn["counters"]["retrans_segs"]
        out[who] = {"mbit_s": round(nbytes * 8 / res["seconds"] / 1e6, 1), "retrans": retrans,
                    "exact": res["bytes_recv"] == nbytes and res["sha256_recv"] == sha,
                    "bridge": bridge.counters}
    out["ratio"] = round(out["stack"]["mbit_s"] / out["kernel"]["mbit_s"], 3)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=int, default=20, help="megabytes per transfer (default 20)")
    p.add_argument("--quick", action="store_true", help="4 cells instead of the full grid")
    p.add_argument("--json", metavar="FILE", help="write every cell to FILE")
    p.add_argument("--cc", choices=sorted(KERNEL_CC), default="cubic",
                   help="congestion control of both senders (default cubic)")
    p.add_argument("--tcp", metavar="KEY=VALUE", action="append", default=[],
                   help="a tunable of the stack's sender, as serve --tcp (e.g. pacing=0); repeatable")
    args = p.parse_args()
    results = []
    with Lab.create_inline(prefix="xmgrid") as lab:
        kernel = lab.server.popen([SYSTEM_PYTHON, "-c", KERNEL_SENDER, lab.server.ip, str(KERNEL_PORT),
                                   str(args.mb * 1_000_000), KERNEL_CC[args.cc]],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert kernel.stdout.readline().strip() == "up"
            with StackProcess(lab.server, "serve", "-p", STACK_PORT, "--mode", "source",
                              "--bytes", args.mb * 1_000_000, "--seed", SEED,
                              "--tcp", "congestion=%s" % args.cc,
                              *[a for kv in args.tcp for a in ("--tcp", kv)]) as stack:
                stack.wait_event("ready")
                for cell in track(cells(args.quick), "cells"):
                    results.append(run_cell(lab, stack, kernel, cell, args.mb))
        finally:
            kernel.kill()
    report(results, args)


def report(results, args):
    t = Table(title="%d MB downloads through the impairing bridge (faults on the data direction), "
                    "both senders %s" % (args.mb, args.cc))
    for col in ("loss %", "reorder %", "dup %", "delay ms", "kernel Mbit/s", "xdpmtcp Mbit/s", "ratio",
                "kernel retrans", "xdpmtcp retrans", "exact"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(*(str(r[k]) for k in ("loss_pct", "reorder_pct", "dup_pct", "delay_ms")),
                  str(r["kernel"]["mbit_s"]), str(r["stack"]["mbit_s"]), "%.2fx" % r["ratio"],
                  str(r["kernel"]["retrans"]), str(r["stack"]["retrans"]),
                  "yes" if r["kernel"]["exact"] and r["stack"]["exact"] else "NO")
    out = Console(width=140)
    out.print(t)
    ratios = [r["ratio"] for r in results]
    geo = math.exp(sum(math.log(max(x, 1e-6)) for x in ratios) / len(ratios))
    worst = min(results, key=lambda r: r["ratio"])
    out.print("geometric mean of the ratios %.2fx; worst cell %.2fx (loss %g %%, reorder %g %%, dup %g %%, "
              "delay %g ms); byte-exact in %d of %d cells"
              % (geo, worst["ratio"], worst["loss_pct"], worst["reorder_pct"], worst["dup_pct"],
                 worst["delay_ms"], sum(r["kernel"]["exact"] and r["stack"]["exact"] for r in results),
                 len(results)))
    if args.json:
        Path(args.json).write_text(json.dumps({"mb": args.mb, "cc": args.cc, "cells": results, "geomean": geo},
                                              indent=1))


if __name__ == "__main__":
    main()
