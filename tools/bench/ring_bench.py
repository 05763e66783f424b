"""Reassembly ring throughput, the loop in C (ring_bench.c, next to this).

The driver is no part of the core library: this tool builds its own small
module with cffi, ring_bench.c with the core's ring (storage/ring.c and
the buffer pool it draws on), into build/bench/.  It prints one JSON line
per case: insert+read MB/s in order and with 2 % of segments overtaken by
the next one.
Usage: python tools/bench/ring_bench.py [--mb 512] [--seg 1448] [--cap 262144]
"""
import argparse
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "build", "bench")
MODULE = "_xdpmtcp_ring_bench"
# The core's sources the driver runs: the ring and what it calls.
CORE_SOURCES = ["storage/ring.c", "storage/bufpool.c"]


def _core_build():
    """xdpmtcp/_core/build_core.py of this tree, for its paths and flags
    (by path: an installed xdpmtcp may be another tree's)."""
    path = os.path.join(ROOT, "xdpmtcp", "_core", "build_core.py")
    spec = importlib.util.spec_from_file_location("_xdpmtcp_build_core", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load():
    """(ffi, lib) of the benchmark module, compiled into build/bench/."""
    from cffi import FFI
    core = _core_build()
    with open(os.path.join(HERE, "ring_bench.h")) as f:
        decl = f.read()
    ffi = FFI()
    ffi.cdef("#define XC_OVERLAP_FIRST ...\n#define XC_OVERLAP_LINUX ...\n" + decl)
    ffi.set_source(MODULE, '#include "api_ring.h"\n#include "ring_bench.h"\n',
                   sources=[os.path.join(HERE, "ring_bench.c")] +
                           [os.path.join(core.HERE, s) for s in CORE_SOURCES],
                   include_dirs=[HERE] + core.INCLUDE_DIRS,
                   extra_compile_args=core.COMPILE_ARGS)
    os.makedirs(OUT, exist_ok=True)
    ffi.compile(tmpdir=OUT)
    sys.path.insert(0, OUT)
    mod = importlib.import_module(MODULE)
    return mod.ffi, mod.lib


def run(ffi, lib, cap, policy, seg, total, reorder_pm):
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
    ffi, lib = load()
    total = args.mb * 1000 * 1000
    for name in ("first", "linux"):
        policy = getattr(lib, "XC_OVERLAP_" + name.upper())
        for label, pm in (("in-order", 0), ("2%-reordered", 20)):
            res = run(ffi, lib, args.cap, policy, args.seg, total, pm)
            print(json.dumps({"policy": name, "case": label, "seg": args.seg, "cap": args.cap, **res}))


if __name__ == "__main__":
    main()
