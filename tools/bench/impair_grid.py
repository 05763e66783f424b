#!/usr/bin/env python3
"""Sending (or receiving) through an impaired path: xdpmtcp against the
kernel, cell by cell.

A client - bridge - server lab. On the server host, `xdpmtcp serve` and a
kernel Python peer; the kernel's client on the client host moves --mb
megabytes to or from each in turn, while the project's impairing bridge
(xdpmtcp.lab.impair) drops, reorders and duplicates frames of the data
direction (ACKs pass clean). Each cell runs both in the same minute, with
the same seeded faults.

  --direction send     (default) the client downloads: the stack's sender
                       (`serve --mode source`) against the kernel's, faults
                       server to client
  --direction receive  the client uploads: the stack's receiver (`serve
                       --mode sink`) against the kernel's, faults client to
                       server; the sender is the client's kernel TCP in both

Per cell: Mbit/s of each (the median of --runs), the ratio (stack /
kernel), segments the sender retransmitted and the D-SACKs it received per
1,000 data segments (retransmissions the receiver got twice: spurious), and
whether every transfer arrived byte-exact (sha256 against the seeded
pattern's). A table, then the geometric mean of the ratios and the worst
cell; --json FILE writes every run of every cell.

    tools/bench/impair_grid.py [--mb 20] [--quick] [--runs 1] [--cc cubic]
                               [--direction send] [--tcp KEY=VALUE] [--json grid.json]

Both senders use the same congestion control, --cc (cubic, the stack's
default): the kernel's sender sets it with TCP_CONGESTION, whatever the
host's default is (hosts that default to bbr would otherwise compare a
loss-based sender with one that ignores random loss).  --cc newreno runs
the kernel's reno against the stack's newreno.

--quick runs 4 cells (loss 1 %, and 2 % with 3 % reorder and 1 %
duplication, at 0 and 2 ms of delay) instead of the full grid (loss 0.5, 1,
2, 5 % x reorder 0, 3, 10 % x duplication 0, 1 %, and two cells with
delay). Runs as root; makes and removes its own lab.
"""
import argparse
import itertools
import json
import math
import statistics
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
MSS = 1448
# byte offsets in Linux's struct tcp_info
TCPI_TOTAL_RETRANS, TCPI_DATA_SEGS_OUT, TCPI_DSACK_DUPS = 100, 156, 216

_TCP_INFO = r"""
def tcp_numbers(s):
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return {"retrans": struct.unpack_from("I", info, %d)[0], "data_segs": struct.unpack_from("I", info, %d)[0],
            "dsacks": struct.unpack_from("I", info, %d)[0]}
""" % (TCPI_TOTAL_RETRANS, TCPI_DATA_SEGS_OUT, TCPI_DSACK_DUPS)

# the kernel's sender: for each connection, --mb of the seeded pattern,
# then one JSON line with its sha256 and its tcp_info numbers
KERNEL_SENDER = kernel_peers._PATTERN + _TCP_INFO + r"""
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
    print(json.dumps(dict(sha256=h.hexdigest(), **tcp_numbers(s))), flush=True)
    s.close()
""" % SEED

# the kernel's receiver: for each connection, read to the end, close, then
# one JSON line with the sha256 of what came
KERNEL_SINK = r"""
import hashlib, json, socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port)); ls.listen(8); print("up", flush=True)
buf = bytearray(1 << 20)
while True:
    s, _ = ls.accept()
    h, n = hashlib.sha256(), 0
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        h.update(memoryview(buf)[:k]); n += k
    s.close()
    print(json.dumps({"sha256": h.hexdigest(), "bytes": n}), flush=True)
"""

# the client's numbers after an upload, from the tcp_info bulk_client returns
def _client_numbers(res):
    info = bytes.fromhex(res["tcp_info_hex"])
    get = lambda off: int.from_bytes(info[off:off + 4], "little")  # noqa: E731
    return {"retrans": get(TCPI_TOTAL_RETRANS), "data_segs": get(TCPI_DATA_SEGS_OUT),
            "dsacks": get(TCPI_DSACK_DUPS)}


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


def transfer(lab, port, upload_bytes):
    """The client downloads from port (upload_bytes 0) or uploads to it."""
    res = kernel_peers.bulk_client(lab.client, lab.server.ip, port, upload_bytes, timeout=300)
    if "error" in res:
        raise RuntimeError("transfer with port %d failed: %s" % (port, res))
    return res


class Peers:
    """The kernel's and the stack's end on the server host, for one direction."""

    def __init__(self, lab, args):
        self.send = args.direction == "send"
        self.nbytes = args.mb * 1_000_000
        if self.send:
            argv = [SYSTEM_PYTHON, "-c", KERNEL_SENDER, lab.server.ip, str(KERNEL_PORT),
                    str(self.nbytes), KERNEL_CC[args.cc]]
            mode = ["--mode", "source", "--bytes", self.nbytes, "--seed", SEED]
        else:
            argv = [SYSTEM_PYTHON, "-c", KERNEL_SINK, lab.server.ip, str(KERNEL_PORT)]
            mode = ["--mode", "sink"]
        self.kernel = lab.server.popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.kernel.stdout.readline().strip() == "up"
        self.stack = StackProcess(lab.server, "serve", "-p", STACK_PORT, *mode,
                                  "--tcp", "congestion=%s" % args.cc,
                                  *[a for kv in args.tcp for a in ("--tcp", kv)])

    def run(self, lab, who, spec):
        """One transfer; Mbit/s, the sender's numbers, byte-exact."""
        port = KERNEL_PORT if who == "kernel" else STACK_PORT
        direction = "s2c" if self.send else "c2s"
        with impaired_path(lab, spec, direction=direction) as bridge:
            res = transfer(lab, port, 0 if self.send else self.nbytes)
        if who == "kernel":
            end = json.loads(self.kernel.stdout.readline())
        else:
            conn = self.stack.wait_event("conn", 120)
            c = conn["counters"]
            end = {"sha256": conn["sha256_out" if self.send else "sha256_in"],
                   "retrans": c["retrans_segs"], "data_segs": c["data_segs_out"], "dsacks": c["dsacks_in"]}
        if self.send:
            numbers, exact = end, res["bytes_recv"] == self.nbytes and res["sha256_recv"] == end["sha256"]
        else:
            numbers, exact = _client_numbers(res), end["sha256"] == res["sha256_sent"]
        return {"mbit_s": round(self.nbytes * 8 / res["seconds"] / 1e6, 1), "exact": exact,
                "retrans": numbers["retrans"],
                "dsack_per_1000": round(1000 * numbers["dsacks"] / max(numbers["data_segs"], 1), 2),
                "bridge": bridge.counters}

    def close(self):
        self.kernel.kill()


def run_cell(lab, peers, cell, runs):
    loss, reorder, dup, delay_ms = cell
    out = {"loss_pct": loss, "reorder_pct": reorder, "dup_pct": dup, "delay_ms": delay_ms}
    for who in ("kernel", "stack"):
        each = [peers.run(lab, who, faults(loss, reorder, dup, delay_ms, 7 + i)) for i in range(runs)]
        mid = statistics.median(r["mbit_s"] for r in each)
        out[who] = {"mbit_s": mid, "runs": each, "exact": all(r["exact"] for r in each),
                    "retrans": statistics.median(r["retrans"] for r in each),
                    "dsack_per_1000": statistics.median(r["dsack_per_1000"] for r in each)}
    out["ratio"] = round(out["stack"]["mbit_s"] / out["kernel"]["mbit_s"], 3)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=int, default=20, help="megabytes per transfer (default 20)")
    p.add_argument("--quick", action="store_true", help="4 cells instead of the full grid")
    p.add_argument("--runs", type=int, default=1, help="transfers per cell and side; the median counts")
    p.add_argument("--direction", choices=("send", "receive"), default="send",
                   help="the stack sends (default) or receives")
    p.add_argument("--json", metavar="FILE", help="write every cell to FILE")
    p.add_argument("--cc", choices=sorted(KERNEL_CC), default="cubic",
                   help="congestion control of both senders (default cubic)")
    p.add_argument("--tcp", metavar="KEY=VALUE", action="append", default=[],
                   help="a tunable of the stack's end, as serve --tcp (e.g. pacing=1); repeatable")
    args = p.parse_args()
    results = []
    with Lab.create_inline(prefix="xmgrid") as lab:
        peers = Peers(lab, args)
        try:
            with peers.stack:
                peers.stack.wait_event("ready")
                for cell in track(cells(args.quick), "cells"):
                    results.append(run_cell(lab, peers, cell, args.runs))
        finally:
            peers.close()
    report(results, args)


def report(results, args):
    sender = "sender" if args.direction == "send" else "receiver"
    t = Table(title="%d MB through the impairing bridge (faults on the data direction), the stack's %s, "
                    "%s, median of %d" % (args.mb, sender, args.cc, args.runs))
    for col in ("loss %", "reorder %", "dup %", "delay ms", "kernel Mbit/s", "xdpmtcp Mbit/s", "ratio",
                "kernel retrans", "xdpmtcp retrans", "kernel D-SACK/1000", "xdpmtcp D-SACK/1000", "exact"):
        t.add_column(col, justify="right")
    for r in results:
        t.add_row(*(str(r[k]) for k in ("loss_pct", "reorder_pct", "dup_pct", "delay_ms")),
                  str(r["kernel"]["mbit_s"]), str(r["stack"]["mbit_s"]), "%.2fx" % r["ratio"],
                  str(r["kernel"]["retrans"]), str(r["stack"]["retrans"]),
                  str(r["kernel"]["dsack_per_1000"]), str(r["stack"]["dsack_per_1000"]),
                  "yes" if r["kernel"]["exact"] and r["stack"]["exact"] else "NO")
    out = Console(width=170)
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
        Path(args.json).write_text(json.dumps({"mb": args.mb, "cc": args.cc, "direction": args.direction,
                                               "runs": args.runs, "cells": results, "geomean": geo},
                                              indent=1))


if __name__ == "__main__":
    main()
