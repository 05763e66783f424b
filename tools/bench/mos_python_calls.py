#!/usr/bin/env python3
"""Python calls per frame of the mOS dialect (xdpmtcp.mos_api) on a crafted
capture, counted with sys.setprofile (every Python function call and every
call into C from Python), and the run's frames per second without the
profiler.  Three runs: a listener without callbacks; a listener with a
callback on MOS_ON_CONN_START (fires once per flow); a listener whose SYN
filter takes no flow but with a MOS_ON_CONN_NEW_DATA callback.

    tools/bench/mos_python_calls.py [--flows N] [--segments K]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from montraffic import ACK, PSH, Conv, write_pcap  # noqa: E402
from xdpmtcp import mos_api as M  # noqa: E402


def capture(path, flows, segments):
    frames = []
    for i in range(flows):
        c = Conv(cport=20000 + i, sport=80)
        frames += c.handshake()
        for _ in range(segments):
            frames += [c.c(ACK | PSH, b"x" * 1000), c.s(ACK)]
        frames += c.close()
    write_pcap(path, frames)
    return len(frames)


def run(path, setup, profile):
    mctx = M.mtcp_create_context(0, pcap=str(path))
    s = M.mtcp_socket(mctx, M.AF_INET, M.MOS_SOCK_MONITOR_STREAM, 0)
    setup(mctx, s)
    calls = [0]

    def prof(frame, event, arg):
        if event in ("call", "c_call"):
            calls[0] += 1
    t = time.perf_counter()
    if profile:
        sys.setprofile(prof)
    try:
        M.mtcp_app_join(mctx)
    finally:
        sys.setprofile(None)
    dt = time.perf_counter() - t
    M.mtcp_destroy_context(mctx)
    return calls[0], dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, default=200)
    ap.add_argument("--segments", type=int, default=50)
    a = ap.parse_args()
    starts = []
    cases = {
        "no callbacks": lambda m, s: None,
        "CONN_START callback": lambda m, s: M.mtcp_register_callback(
            m, s, M.MOS_ON_CONN_START, M.MOS_HK_SND, lambda *x: starts.append(1)),
        "SYN filter takes no flow": lambda m, s: (
            M.mtcp_bind_monitor_filter(m, s, "dst port 443"),
            M.mtcp_register_callback(m, s, M.MOS_ON_CONN_NEW_DATA, M.MOS_NULL, lambda *x: None)),
    }
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.pcap"
        n = capture(path, a.flows, a.segments)
        print("%d flows, %d frames" % (a.flows, n))
        print("%-26s %14s %10s %12s" % ("run", "Python calls", "per frame", "frames/s"))
        for name, setup in cases.items():
            calls, _ = run(path, setup, True)
            _, dt = min((run(path, setup, False) for _ in range(3)), key=lambda x: x[1])
            print("%-26s %14d %10.3f %12.0f" % (name, calls, calls / n, n / dt))


if __name__ == "__main__":
    main()
