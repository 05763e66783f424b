#!/usr/bin/env python3
"""Bulk TCP throughput: xdpmtcp against the Linux kernel on the same veth,
in the same run, with the same kernel peer program on the other end.

  kernel -> kernel   peer's Python client sends to a kernel listener in the
                     stack namespace (XDP attached: the port is not ours);
  kernel -> xdpmtcp  the same client sends to `xdpmtcp serve --mode sink`;
  kernel <- kernel   a kernel listener sends to the peer's client;
  kernel <- xdpmtcp  `xdpmtcp serve --mode source` sends to it;
  AF_XDP ceiling     1514-byte frames/s the C core takes off the ring
                     (tools/bench/rx_rate.py's measure), as MB/s of payload.

Each direction moves --mb megabytes; the table prints MB/s and ratios.
Runs as root; makes and removes its own lab.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.lab import kernel_peers  # noqa: E402
from xdpmtcp.lab.probes import SYSTEM_PYTHON  # noqa: E402
from xdpmtcp.lab.stackproc import StackProcess  # noqa: E402
from xdpmtcp.netif import NetIf  # noqa: E402
from xdpmtcp.progress import track  # noqa: E402

STACK_PORT, KERNEL_PORT = 5301, 5302

# a kernel listener in the stack namespace: sink or source, one connection
KERNEL_END = kernel_peers._PATTERN + r"""
import json, socket, sys
ip, port, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port)); ls.listen(1); print("up", flush=True)
s, _ = ls.accept()
block, left = next(pattern_chunks(1, 1 << 20, 1 << 20)), nbytes
while left:
    k = min(left, len(block)); s.sendall(block[:k] if k < len(block) else block); left -= k
s.shutdown(socket.SHUT_WR)
n = 0
buf = bytearray(1 << 20)
while True:
    k = s.recv_into(buf)
    if not k: break
    n += k
s.close(); print(json.dumps({"received": n}), flush=True)
"""


def kernel_run(lab, send_to_peer):
    """Kernel listener in the stack namespace, XDP attached and passing."""
    nbytes = ARGS.mb * 1_000_000
    srv = lab.stack.popen([SYSTEM_PYTHON, "-c", KERNEL_END, lab.stack.ip, str(KERNEL_PORT),
                           str(nbytes if send_to_peer else 0)], stdout=subprocess.PIPE, text=True)
    assert srv.stdout.readline().strip() == "up"
    res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, KERNEL_PORT,
                                   0 if send_to_peer else nbytes, timeout=300, opts="nohash")
    srv.wait(30)
    return nbytes / res["seconds"] / 1e6


def stack_run(lab, send_to_peer):
    nbytes = ARGS.mb * 1_000_000
    mode = ["--mode", "source", "--bytes", nbytes] if send_to_peer else ["--mode", "sink"]
    with StackProcess(lab.stack, "serve", "-p", STACK_PORT, *mode, "--count", 1, "--no-hash",
                      *ARGS.serve_args) as sp:
        sp.wait_event("ready")
        res = kernel_peers.bulk_client(lab.peer, lab.stack.ip, STACK_PORT,
                                       0 if send_to_peer else nbytes, timeout=300, opts="nohash")
        conn = sp.wait_event("conn", 60)
    if "error" in res:
        raise SystemExit("kernel peer failed: %s" % res)
    moved = res["bytes_recv"] if send_to_peer else conn["bytes_in"]
    if moved != nbytes:
        raise SystemExit("moved %d of %d bytes: %s %s" % (moved, nbytes, res, conn))
    return nbytes / res["seconds"] / 1e6, conn["counters"]


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=int, default=200, help="megabytes per direction (default 200)")
    p.add_argument("--runs", type=int, default=2, help="repetitions of every measure")
    p.add_argument("--tcp", action="append", default=[], metavar="KEY=VALUE",
                   help="tunable for the stack (xdpmtcp serve --tcp), e.g. rcvbuf=1048576")
    ARGS = p.parse_args()
    ARGS.serve_args = [a for kv in ARGS.tcp for a in ("--tcp", kv)]
    out = Console(width=130)
    rows = []
    with Lab.create(prefix="xb") as lab:
        with lab.stack.enter():
            guard = NetIf(lab.stack.ifname).open()   # XDP attached for the kernel runs too
        try:
            for run in track(range(ARGS.runs), "runs"):
                k_in = kernel_run(lab, send_to_peer=False)
                k_out = kernel_run(lab, send_to_peer=True)
                with lab.stack.enter():
                    guard.close()
                s_in, c_in = stack_run(lab, send_to_peer=False)
                s_out, c_out = stack_run(lab, send_to_peer=True)
                with lab.stack.enter():
                    guard = NetIf(lab.stack.ifname).open()
                rows.append((run, k_in, s_in, k_out, s_out, c_out))
        finally:
            with lab.stack.enter():
                guard.close()
    t = Table(title="bulk TCP, %d MB per direction, same veth, same run" % ARGS.mb)
    for col in ("run", "peer->kernel", "peer->xdpmtcp", "ratio",
                "peer<-kernel", "peer<-xdpmtcp", "ratio", "retrans out"):
        t.add_column(col, justify="right")
    for run, k_in, s_in, k_out, s_out, c_out in rows:
        t.add_row(str(run + 1), "%.0f MB/s" % k_in, "%.0f MB/s" % s_in, "%.2fx" % (s_in / k_in),
                  "%.0f MB/s" % k_out, "%.0f MB/s" % s_out, "%.2fx" % (s_out / k_out),
                  str(c_out["retrans_segs"]))
    if len(rows) > 1:
        def med(i):
            return sorted(r[i] for r in rows)[len(rows) // 2]
        t.add_row("median", "%.0f MB/s" % med(1), "%.0f MB/s" % med(2), "%.2fx" % (med(2) / med(1)),
                  "%.0f MB/s" % med(3), "%.0f MB/s" % med(4), "%.2fx" % (med(4) / med(3)), "")
    out.print(t)
    out.print("AF_XDP ceiling on this veth: run tools/bench/rx_rate.py (1514 B frames/s x 1460 B).")


if __name__ == "__main__":
    main()
