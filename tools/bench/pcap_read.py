#!/usr/bin/env python3
"""Capture read benchmark: MB/s of pcap the C core reads, normalises and
classifies (Python calls C once per burst of 256 frames), against
`tshark -r FILE -q` and `tcpdump -r FILE -w /dev/null` on the same file in
the same run.  Each is timed --repeat times on a warm page cache; the best
run counts.

Without --file, a capture is made first: an impaired kernel-to-kernel
transfer across the lab's bridge, taken with tcpdump on the client
(needs root; the lab is removed afterwards).
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from xdpmtcp.phy import Burst, PcapSource  # noqa: E402

DEFAULT_FAULTS = "drop=0.01,reorder=0.01,duplicate=0.005,seed=1"


def make_capture(path, mbytes, faults):
    from xdpmtcp.lab import Lab
    from xdpmtcp.lab.capture import capture_impaired_transfer
    with Lab.create_inline(prefix="xmbench") as lab:
        cap = capture_impaired_transfer(lab, mbytes * 1_000_000, faults, path,
                                        timeout=600)
    return cap


def ours(path):
    frames = 0
    burst = Burst(256)
    with PcapSource(path) as src:
        while True:
            burst.clear()
            n = src.read(burst)
            if not n:
                break
            frames += n
        st = src.stats()
    return frames, st


def run_tool(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def best_of(repeat, fn):
    best, result = None, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, result


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", help="capture to read (default: make one)")
    p.add_argument("--mbytes", type=int, default=200,
                   help="client->server MB of the capture made (server replies 1/4)")
    p.add_argument("--faults", default=DEFAULT_FAULTS, help="bridge faults of the capture made")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    out = Console()

    path = args.file
    if not path:
        path = str(ROOT / "build" / "bench" / "pcap_read.pcap")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        out.print(f"capturing {args.mbytes} MB across the impaired bridge ({args.faults}) ...")
        cap = make_capture(path, args.mbytes, args.faults)
        out.print(f"  capture drops {cap.capture_drops}, bridge c2s {cap.bridge['c2s']}")
    size = os.path.getsize(path)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # warm cache

    rows = []
    t, (frames, st) = best_of(args.repeat, lambda: ours(path))
    rows.append(("xdpmtcp C reader (read+classify)", t))
    rows.append(("tshark -r FILE -q", best_of(args.repeat, lambda: run_tool(
        ["tshark", "-r", path, "-q"]))[0]))
    rows.append(("tcpdump -r FILE -w /dev/null", best_of(args.repeat, lambda: run_tool(
        ["tcpdump", "-r", path, "-w", "/dev/null"]))[0]))

    table = Table(title=f"{path}: {size / 1e6:.1f} MB, {frames} frames "
                  f"(best of {args.repeat})")
    for col in ("reader", "seconds", "MB/s", "Mframes/s", "xdpmtcp is"):
        table.add_column(col, justify="right" if col != "reader" else "left")
    ours_t = rows[0][1]
    for name, secs in rows:
        ratio = "-" if secs is ours_t else f"{secs / ours_t:.1f}x faster"
        table.add_row(name, f"{secs:.3f}", f"{size / 1e6 / secs:.0f}",
                      f"{frames / 1e6 / secs:.2f}", ratio)
    out.print(table)
    skipped = {k: v for k, v in st.items() if v and k not in
               ("records", "frames", "bytes", "file_bytes", "sections", "interfaces")}
    out.print(f"reader counters: records {st['records']}, frames {st['frames']}"
              + (f", skipped {skipped}" if skipped else ", nothing skipped"))


if __name__ == "__main__":
    main()
