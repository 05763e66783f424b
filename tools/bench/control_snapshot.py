"""What a `xdpmtcp trace` snapshot costs the context it reads.

In-memory engines (no wire): opens N connections, then serves snapshots
through the real ControlServer, as a context's loop would, to a
ControlClient in another process (as `xdpmtcp trace` is), and prints one
JSON line per run: the longest time one service() call held the loop (the
data path's stall: one chunk of rows), the whole snapshot's time as the
reader saw it (rows decoded into dicts included), and rows per second.
Usage: python tools/bench/control_snapshot.py [--conns 4000] [--runs 3]
"""
import argparse
import json
import os
import sys
import tempfile
import subprocess
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from xdpmtcp.control import paths                      # noqa: E402
from xdpmtcp.control.server import ROWS_PER_CHUNK, ControlServer   # noqa: E402
from xdpmtcp.tcp.loopback import ADDR_A, EnginePair    # noqa: E402


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
READER = r"""
import json, sys, time
from xdpmtcp.control.client import ControlClient
from xdpmtcp.control.paths import parse
t0 = time.perf_counter()
meta, rows = ControlClient(parse(sys.argv[1]), timeout=60).snapshot()
print(json.dumps({"rows": len(rows), "total_s": time.perf_counter() - t0}))
"""


def open_conns(p, n):
    lst = p.a.listen(7000, backlog=n)
    clients = []
    while len(clients) < n:
        clients += [p.b.connect((ADDR_A, 7000)) for _ in range(min(200, n - len(clients)))]
        p.run_until(lambda: lst.pending() + 0 >= len(clients), 10)
    return clients


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conns", type=int, default=4000, help="connections (both ends are rows: 2x)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    paths.CTL_DIR = __import__("pathlib").Path(tempfile.mkdtemp(prefix="xm-ctl-"))
    with EnginePair(max_concurrency=args.conns + 16, ephemeral_ports=(20000, 20000 + args.conns)) as p:
        open_conns(p, args.conns)
        srv = ControlServer(["bench"], lambda: {"role": "bench"}, lambda: [p.a, p.b]).open()
        addr = paths.discover()[0]
        for run in range(args.runs):
            reader = subprocess.Popen([sys.executable, "-c", READER, str(addr.path)], stdout=subprocess.PIPE,
                                      text=True, env=dict(os.environ, PYTHONPATH=ROOT))
            worst = 0
            while reader.poll() is None:
                t0 = time.perf_counter()
                srv.service(time.monotonic_ns())
                worst = max(worst, time.perf_counter() - t0)
                time.sleep(0.0002)      # the loop's batches in between
            out = json.loads(reader.stdout.read())
            print(json.dumps({"run": run + 1, "rows": out["rows"], "rows_per_chunk": ROWS_PER_CHUNK,
                              "longest_service_ms": round(worst * 1e3, 3),
                              "snapshot_s": round(out["total_s"], 3),
                              "rows_per_s": round(out["rows"] / out["total_s"])}), flush=True)
        srv.close()


if __name__ == "__main__":
    main()
