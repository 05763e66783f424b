#!/usr/bin/env python3
"""A large file downloaded with curl: examples/epserver.py (xdpmtcp, the
body sent with mtcp_sendfile) against nginx with sendfile on (one worker,
the kernel's TCP), both in the stack namespace of one lab, curl on the
peer, in the same run.

    tools/bench/file_download.py [--mb 200] [--runs 3] [--json]

Every run downloads the file once from each server (to /dev/null, timed
by curl) and prints Mbit/s and the ratio of that run; then the medians.
Before the runs each server's download is checked once against the
file's sha256.  Runs as root; makes and removes its own lab.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.lab.exampleproc import ExampleProcess, start_nginx, write_conf  # noqa: E402
from xdpmtcp.progress import track  # noqa: E402

EPSERVER_PORT, NGINX_PORT = 8080, 8081


def make_file(path, nbytes):
    """nbytes of random data at path; returns its sha256."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = nbytes
        while left:
            block = os.urandom(min(left, 1 << 20))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def download(lab, url, timeout):
    """(bytes, seconds) of one curl download to /dev/null from the peer."""
    r = lab.peer.run(["curl", "-s", "-S", "--max-time", str(timeout), "-o", "/dev/null",
                      "-w", "%{http_code} %{size_download} %{time_total}", url],
                     timeout=timeout + 30, check=False)
    code, size, secs = (r.stdout.split() + ["", "", ""])[:3]
    if r.returncode or code != "200":
        raise SystemExit("curl %s failed (%s): %s %s" % (url, r.returncode, r.stdout, r.stderr))
    return int(size), float(secs)


def digest(lab, url, timeout):
    r = lab.peer.run(["sh", "-c", "curl -s --max-time %d %s | sha256sum" % (timeout, url)],
                     timeout=timeout + 30, check=False)
    return r.stdout.split()[0] if r.stdout else ""


def median(values):
    v = sorted(values)
    return v[len(v) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mb", type=int, default=200, help="file size in megabytes (default 200)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", action="store_true", help="one JSON line per run, then the medians")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="xm-filedl-")
    try:
        site = os.path.join(work, "www")
        os.makedirs(site)
        nbytes = args.mb * 1_000_000
        want = make_file(os.path.join(site, "big.bin"), nbytes)
        timeout = max(60, args.mb)
        rows = []
        with Lab.create(prefix="xmfd") as lab:
            conf = write_conf(os.path.join(work, "mtcp.conf"), lab.stack.ifname, tcp_timewait=0)
            start_nginx(lab.stack, site, lab.stack.ip, NGINX_PORT, sendfile=True)
            urls = {name: "http://%s:%d/big.bin" % (lab.stack.ip, port)
                    for name, port in (("epserver", EPSERVER_PORT), ("nginx", NGINX_PORT))}
            with ExampleProcess(lab.stack, "epserver.py", "-p", site, "-f", conf,
                                "--port", EPSERVER_PORT) as srv:
                srv.wait_for("ready", 120)
                for name, url in urls.items():
                    got = digest(lab, url, timeout)
                    if got != want:
                        raise SystemExit("%s: sha256 %s, want %s" % (name, got, want))
                for run in track(range(1, args.runs + 1), "runs", json_output=args.json):
                    row = {"run": run}
                    for name in ("nginx", "epserver"):
                        size, secs = download(lab, urls[name], timeout)
                        if size != nbytes:
                            raise SystemExit("%s: %d of %d bytes" % (name, size, nbytes))
                        row[name + "_mbit_s"] = size * 8 / secs / 1e6
                    row["ratio"] = row["epserver_mbit_s"] / row["nginx_mbit_s"]
                    rows.append(row)
                    if args.json:
                        print(json.dumps(row), flush=True)
        med = {"run": "median", "epserver_mbit_s": median([r["epserver_mbit_s"] for r in rows]),
               "nginx_mbit_s": median([r["nginx_mbit_s"] for r in rows])}
        med["ratio"] = med["epserver_mbit_s"] / med["nginx_mbit_s"]
        if args.json:
            print(json.dumps(med), flush=True)
            return
        print("%d MB file, curl from the peer, same lab run (sha256 checked):" % args.mb)
        print("| run | epserver (mtcp_sendfile) | nginx (sendfile on) | ratio |")
        print("|---|---|---|---|")
        for r in rows + [med]:
            print("| %s | %.0f Mbit/s | %.0f Mbit/s | %.2fx |"
                  % (r["run"], r["epserver_mbit_s"], r["nginx_mbit_s"], r["ratio"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
