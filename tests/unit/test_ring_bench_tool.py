"""tools/bench/ring_bench.py, the ring's benchmark: it builds its own
driver with the core's ring (the driver is no part of the library) and
measures a small stream."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "bench", "ring_bench.py")


def bench(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def test_ring_bench_measures_every_case():
    run = bench("--mb", "8")
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(r["policy"], r["case"]) for r in rows] == [
        ("first", "in-order"), ("first", "2%-reordered"),
        ("linux", "in-order"), ("linux", "2%-reordered")]
    whole = 8 * 1000 * 1000 // 1448 * 1448       # every whole segment, read back
    assert all(r["bytes"] == whole and r["seconds"] > 0 and r["MB/s"] > 0 for r in rows)


def test_ring_bench_refuses_a_ring_smaller_than_four_segments():
    run = bench("--mb", "1", "--cap", "100")
    assert run.returncode != 0 and "refused its arguments" in run.stderr
