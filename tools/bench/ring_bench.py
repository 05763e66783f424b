"""Reassembly ring throughput, the loop in C (xc_ring_bench_run).

Prints one JSON line per case: insert+read MB/s in order and with 2 %
of segments overtaken by the next one.
Usage: python tools/bench/ring_bench.py [--mb 512] [--seg 1448] [--cap 262144]
"""
import argparse
import json

from xdpmtcp._core import ffi, lib


def run(cap, policy, seg, total, reorder_pm):
    out = ffi.new("uint64_t *")
    ns = lib.xc_ring_bench_run(cap, policy, seg, total, reorder_pm, 12345, out)
    if ns == 0:
        raise SystemExit("benchmark refused its arguments (cap must be >= 4 * seg)")
    return {"bytes": out[0], "seconds": ns / 1e9, "MB/s": round(out[0] / ns * 1e3, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=512, help="stream size per case (MB)")
    ap.add_argument("--seg", type=int, default=1448, help="segment size (bytes)")
    ap.add_argument("--cap", type=int, default=256 * 1024, help="ring capacity (bytes)")
    args = ap.parse_args()
    total = args.mb * 1000 * 1000
    for name in ("first", "linux"):
        policy = getattr(lib, "XC_OVERLAP_" + name.upper())
        for label, pm in (("in-order", 0), ("2%-reordered", 20)):
            res = run(args.cap, policy, args.seg, total, pm)
            print(json.dumps({"policy": name, "case": label, "seg": args.seg, "cap": args.cap, **res}))


if __name__ == "__main__":
    main()
