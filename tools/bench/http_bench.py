#!/usr/bin/env python3
"""HTTP on xdpmtcp vs the kernel, measured in one lab run.

Server side: examples/epserver.py (xdpmtcp, XDP attached), an asyncio
Streams server (what a Python programmer writes without xdpmtcp) and nginx
(one worker), the last two on the kernel's TCP in the same namespace (their
frames pass the attached XDP program), serve the same file; wrk on the
peer loads each, with keep-alive and with "Connection: close".

Latency: 64-byte echo round trips from the peer, one connection, to
`xdpmtcp serve --mode echo` and to a kernel echo server in the stack
namespace (p50, p99).

Client side: examples/epwget.py (xdpmtcp) and wrk (the kernel's TCP), both
in the stack namespace, fetch from nginx on the peer, one request per
connection and with keep-alive.

Cores: ``--cores 1,2`` measures epserver and epwget with each number of
contexts (worker processes), each in a lab whose veth has that many
queues (the peer spreads flows over them as a NIC's RSS does), and prints
the scaling factor against the first.  wrk, nginx and the workers share
this machine's cores, which bounds the factor.

    tools/bench/http_bench.py [--seconds 5] [--connections 50] [--runs 3] [--cores 1,2] [--json]

The tables show every run and the median of the runs.
"""
import argparse
import json
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from xdpmtcp.lab import Lab, kernel_peers  # noqa: E402
from xdpmtcp.lab.exampleproc import ExampleProcess, run_example, start_nginx, write_conf  # noqa: E402
from xdpmtcp.lab.stackproc import StackProcess  # noqa: E402
from xdpmtcp.progress import track  # noqa: E402

SERVERS = (("epserver", 8080), ("asyncio", 8083), ("nginx", 8081))

BODY = (b"<!DOCTYPE html><title>xdpmtcp</title>" + b"x" * 574 + b"\n")   # nginx's default page size


def wrk(host, url, seconds, connections, close):
    args = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % seconds, url]
    if close:
        args[1:1] = ["-H", "Connection: close"]
    r = host.run(args, timeout=seconds + 60)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", r.stdout).group(1))
    errors = re.search(r"Socket errors:.*|Non-2xx.*", r.stdout)
    return rate, errors.group(0).strip() if errors else ""


def epwget(lab, conf, url, nreq, connections, keep, cores=1):
    args = [url, nreq, "-c", connections, "-f", conf, "-N", cores, "--json"] + (["--keep-alive"] if keep else [])
    r = run_example(lab.stack, "epwget.py", *args, timeout=600, check=False)
    if not r.stdout.strip():
        raise SystemExit("epwget failed: %s" % r.stderr)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return res["requests_per_s"], res["errors"], res["latency_ms"]


def core_counts(text):
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("--cores takes numbers of cores, like 1,2")
    return counts


def measure(lab, args, site, work, run, cores):
    """One run's row with `cores` contexts: servers loaded by wrk, echo
    latency, clients against nginx on the peer."""
    conf = write_conf(os.path.join(work, "mtcp-%d.conf" % cores), lab.stack.ifname, tcp_timewait=0,
                      max_concurrency=16384, num_cores=cores,
                      **({"rss_key": lab.rss_key} if lab.rss_key else {}))
    row = {"run": run, "cores": cores}
    # one xdpmtcp process group per interface: epserver first, then epwget
    with ExampleProcess(lab.stack, "epserver.py", "-p", site, "-f", conf, "--port", 8080) as srv:
        srv.wait_for("ready:")                # once every core listens
        for close in (False, True):
            mode = "close" if close else "keepalive"
            for name, port in SERVERS:
                rate, err = wrk(lab.peer, "http://%s:%d/index.html" % (lab.stack.ip, port),
                                args.seconds, args.connections, close)
                row["%s_%s" % (name, mode)] = rate
                if err:
                    row["%s_%s_errors" % (name, mode)] = err
    if cores == 1:          # `xdpmtcp serve` runs one queue: a 1-queue lab only
        with StackProcess(lab.stack, "serve", "-p", 8084, "--mode", "echo", "--no-hash") as echo:
            echo.wait_event("ready")
            stack_lat = kernel_peers.echo_latency(lab.peer, lab.stack.ip, 8084)
        kern_lat = kernel_peers.echo_latency(lab.peer, lab.stack.ip, 8085)
        row.update(echo_p50_us=stack_lat["p50_us"], echo_p99_us=stack_lat["p99_us"],
                   kernel_echo_p50_us=kern_lat["p50_us"], kernel_echo_p99_us=kern_lat["p99_us"])
    for keep in (False, True):
        mode = "keepalive" if keep else "close"
        url = "http://%s:8082/index.html" % lab.peer.ip
        rate, errors, lat = epwget(lab, conf, url, args.requests, args.connections, keep, cores)
        row["epwget_%s" % mode] = rate
        row["epwget_%s_p99_ms" % mode] = lat["p99"]
        if errors:
            row["epwget_%s_errors" % mode] = errors
        row["wrk_client_%s" % mode], _ = wrk(lab.stack, url, args.seconds, args.connections, not keep)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5, help="wrk duration per measurement")
    p.add_argument("--connections", type=int, default=50, help="wrk connections / epwget concurrency")
    p.add_argument("--requests", type=int, default=30000, help="epwget requests per measurement")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--cores", type=core_counts, default=[1],
                   help="contexts to measure epserver and epwget with, e.g. 1,2 (default 1)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="xm-httpbench-")
    site = os.path.join(work, "www")
    os.makedirs(site)
    with open(os.path.join(site, "index.html"), "wb") as f:
        f.write(BODY)
    by_cores = {}
    for cores in args.cores:
        rows = by_cores[cores] = []
        with Lab.create(prefix="xmhb", queues=cores) as lab:
            start_nginx(lab.stack, site, lab.stack.ip, 8081)
            start_nginx(lab.peer, site, lab.peer.ip, 8082)
            helpers = [kernel_peers.start_script(lab.stack, kernel_peers.ASYNCIO_HTTP_SERVER, lab.stack.ip,
                                                 8083, os.path.join(site, "index.html")),
                       kernel_peers.start_script(lab.stack, kernel_peers.ECHO_SERVER, lab.stack.ip, 8085)]
            for run in track(range(1, args.runs + 1), "runs, %d core(s)" % cores, json_output=args.json):
                row = measure(lab, args, site, work, run, cores)
                rows.append(row)
                if args.json:
                    print(json.dumps(row), flush=True)
            for h in helpers:
                h.kill()
        if len(rows) > 1:
            rows.append(median_row(rows))
    if not args.json:
        for cores, rows in by_cores.items():
            print_tables(rows, args.connections, cores)
        if len(by_cores) > 1:
            print_scaling(by_cores)


def print_tables(rows, connections, cores):
    print("\n== %d core(s) ==" % cores)
    print("server (wrk -t1 -c%d from the peer), requests/s:" % connections)
    print("| run | mode | epserver | asyncio (kernel) | nginx | vs asyncio | vs nginx |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for mode, label in (("keepalive", "keep-alive"), ("close", "Connection: close")):
            e, a, n = r["epserver_" + mode], r["asyncio_" + mode], r["nginx_" + mode]
            print("| %s | %s | %.0f | %.0f | %.0f | %.2fx | %.2fx |" % (r["run"], label, e, a, n, e / a, e / n))
    echo_rows = [r for r in rows if "echo_p50_us" in r]
    if echo_rows:
        print("\n64-byte echo round trip from the peer, one connection, µs:")
        print("| run | xdpmtcp p50 | kernel p50 | ratio | xdpmtcp p99 | kernel p99 |")
        print("|---|---|---|---|---|---|")
    for r in echo_rows:
        print("| %s | %.0f | %.0f | %.2fx | %.0f | %.0f |" % (
            r["run"], r["echo_p50_us"], r["kernel_echo_p50_us"], r["echo_p50_us"] / r["kernel_echo_p50_us"],
            r["echo_p99_us"], r["kernel_echo_p99_us"]))
    print("\nclient (-c%d against nginx on the peer), requests/s:" % connections)
    print("| run | mode | epwget | wrk (kernel) | ratio | epwget p99 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        for mode, label in (("close", "one request per connection"), ("keepalive", "keep-alive")):
            e, k = r["epwget_" + mode], r["wrk_client_" + mode]
            print("| %s | %s | %.0f | %.0f | %.2fx | %.2f ms |"
                  % (r["run"], label, e, k, e / k, r["epwget_%s_p99_ms" % mode]))
    errs = {k: v for r in rows for k, v in r.items() if k.endswith("errors")}
    if errs:
        print("\nerrors:", errs)


def print_scaling(by_cores):
    """Each core count's median (or only run) against the first's."""
    base_cores = next(iter(by_cores))
    base = by_cores[base_cores][-1]
    print("\nscaling against %d core(s) (medians), requests/s:" % base_cores)
    print("| cores | epserver keep-alive | epserver close | epwget keep-alive | epwget close |")
    print("|---|---|---|---|---|")
    keys = ("epserver_keepalive", "epserver_close", "epwget_keepalive", "epwget_close")
    for cores, rows in by_cores.items():
        r = rows[-1]
        print("| %d | %s |" % (cores, " | ".join("%.0f (%.2fx)" % (r[k], r[k] / base[k]) for k in keys)))


def median_row(rows):
    """Each number's median over the runs (errors left out)."""
    out = {"run": "median"}
    for k, v in rows[0].items():
        if k != "run" and isinstance(v, (int, float)):
            vals = sorted(r[k] for r in rows if isinstance(r.get(k), (int, float)))
            out[k] = vals[len(vals) // 2]
    return out


if __name__ == "__main__":
    main()
