#!/usr/bin/env python3
"""Impairing bridge benchmark: kernel TCP throughput (iperf3) across the
AF_PACKET bridge, without and with faults, against a plain veth between
two namespaces, in the same run.  Also reports the bridge process's CPU
(user/system seconds) and its counters.  Runs as root; makes and removes
its own labs.
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.lab.impair import impaired_path  # noqa: E402

DEFAULT_FAULTS = "drop=0.02,reorder=0.02,duplicate=0.01,seed=1"


def iperf(client, server, seconds):
    srv = server.popen(["iperf3", "-s", "-1"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        r = client.run(["iperf3", "-c", server.ip, "-t", str(seconds), "-J"],
                       timeout=seconds + 30)
        srv.wait(10)
    finally:
        if srv.poll() is None:
            srv.kill()
    end = json.loads(r.stdout)["end"]
    return end["sum_received"]["bits_per_second"] / 1e9, end["sum_sent"].get("retransmits", 0)


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = 100.0
    return int(fields[11]) / tick, int(fields[12]) / tick


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--faults", default=DEFAULT_FAULTS)
    args = p.parse_args()
    out = Console()
    rows = []
    with Lab.create(prefix="xmbench") as lab:
        gbps, retr = iperf(lab.peer, lab.stack, args.seconds)
        rows.append(("plain veth (offloads off)", gbps, retr, "-", None))
    with Lab.create_inline(prefix="xmbench") as lab:
        for label, faults in (("bridge, no faults", None), (f"bridge, {args.faults}", args.faults)):
            with impaired_path(lab, faults) as br:
                u0, s0 = cpu_seconds(br.proc.pid)
                t0 = time.monotonic()
                gbps, retr = iperf(lab.client, lab.server, args.seconds)
                u1, s1 = cpu_seconds(br.proc.pid)
                wall = time.monotonic() - t0
            cpu = f"{(u1 - u0) / wall:.0%} user, {(s1 - s0) / wall:.0%} sys"
            rows.append((label, gbps, retr, cpu, br.counters))
    table = Table(title=f"kernel TCP, iperf3 -t {args.seconds}, one stream")
    for col in ("path", "Gbit/s", "vs plain", "retransmits", "bridge CPU"):
        table.add_column(col, justify="left" if col in ("path", "bridge CPU") else "right")
    plain = rows[0][1]
    for label, gbps, retr, cpu, _ in rows:
        table.add_row(label, f"{gbps:.2f}", f"{gbps / plain:.0%}", str(retr), cpu)
    out.print(table)
    for label, _, _, _, counters in rows[1:]:
        for d in ("c2s", "s2c"):
            c = counters[d]
            out.print(f"{label} {d}: received {c['received']} forwarded {c['forwarded']} "
                      f"dropped {c['dropped']} duplicated {c['duplicated']} "
                      f"reordered {c['reordered']} kernel_drops {c['kernel_drops']} "
                      f"no_room {c['no_room']}")


if __name__ == "__main__":
    main()
