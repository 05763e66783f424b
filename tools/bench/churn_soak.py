#!/usr/bin/env python3
"""Connection churn soak: does `xdpmtcp serve --mode echo` stay flat?

A kernel client in the peer namespace opens a connection, exchanges a few
bytes, and closes it, at a steady rate (--rate per second) for --minutes.
Every --sample seconds the soak records the serve process's RSS
(/proc/PID/status VmRSS) and, from serve's periodic "stats" event,
connection blocks in use, buffer memory and the AF_XDP port's TX frames in
flight (the umem's free TX frames are its TX half minus those).  At the end
it compares the first minute with the last one and prints whether each
measure stayed flat (within --flat-pct, or a few units
for measures that sit near zero).

    tools/bench/churn_soak.py [--rate 200] [--minutes 10] [--json]

With --count N it runs N connections as fast as serve takes them instead
(kernel clients in --processes processes, --concurrency at once each, from
four source addresses): the first window of samples is compared with the
last one the same way, and the rate is printed.

    tools/bench/churn_soak.py --count 1000000 [--processes 2] [--concurrency 64]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from xdpmtcp.lab import Lab  # noqa: E402
from xdpmtcp.lab.probes import SYSTEM_PYTHON  # noqa: E402
from xdpmtcp.lab.scale import churn, proc_status_kib  # noqa: E402

PORT = 8080
# Measures that sit near zero at 200/s (a connection or two open at a sample)
# are flat when within this many units, whatever the percentage says.
ABS_SLACK = {"rss_kib": 0, "tcbs_in_use": 4, "tx_in_flight": 64, "buffer_memory": 1 << 20}

# Paced churn: each connection sends 16 bytes, reads them back and closes.
# Falls behind rather than bursting when a connection is slow; one JSON line
# per second so the soak sees progress, a summary line at the end.
CHURN_CLIENT = r"""
import json, socket, sys, time
ip, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
msg = b"churn-soak-bytes"
ok = fail = 0
errors = {}
t0 = time.monotonic()
next_t, next_report = t0, t0 + 1
while time.monotonic() - t0 < seconds:
    now = time.monotonic()
    if now < next_t:
        time.sleep(next_t - now)
    next_t += 1.0 / rate
    try:
        s = socket.create_connection((ip, port), timeout=3)
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            c = s.recv(64)
            if not c:
                break
            got += c
        s.close()
        if got == msg:
            ok += 1
        else:
            fail += 1
            errors["short_reply"] = errors.get("short_reply", 0) + 1
    except OSError as e:
        fail += 1
        errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
    if time.monotonic() >= next_report:
        next_report += 1
        print(json.dumps({"t": round(time.monotonic() - t0, 1), "ok": ok, "fail": fail}), flush=True)
print(json.dumps({"done": True, "ok": ok, "fail": fail, "errors": errors,
                  "seconds": round(time.monotonic() - t0, 1)}), flush=True)
"""




class Serve:
    """`xdpmtcp serve --json --stats-interval` in the stack namespace; keeps
    only the newest stats event and counts finished connections."""

    def __init__(self, lab, interval):
        argv = [sys.executable, "-m", "xdpmtcp", "serve", "--netns", lab.stack.ns,
                "-i", lab.stack.ifname, "--json", "-p", str(PORT), "--mode", "echo",
                "--stats-interval", str(interval)]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.ready = threading.Event()
        self.stats = None
        self.final = None
        self.conns = 0
        self.conn_errors = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            kind = ev.get("event")
            if kind == "conn":
                self.conns += 1
                self.conn_errors += bool(ev.get("error"))
            elif kind == "stats":
                self.stats = ev
            elif kind == "engine":
                self.final = ev
            elif kind == "ready":
                self.ready.set()

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        time.sleep(0.2)   # let the reader take the last line
        return rc


def sample(serve):
    st = serve.stats or {}
    return {"t": time.monotonic(), "rss_kib": proc_status_kib(serve.proc.pid, "VmRSS"),
            "tcbs_in_use": st.get("tcbs_in_use"), "buffer_memory": st.get("buffer_memory"),
            "tx_in_flight": st.get("port", {}).get("tx_in_flight"),
            "rx_ring_full": st.get("port", {}).get("rx_ring_full"), "conns": serve.conns}


def window_mean(samples, key, lo, hi):
    vals = [s[key] for s in samples if lo <= s["t"] < hi and s[key] is not None]
    return statistics.mean(vals) if vals else None


def pct(first, last):
    if first is None or last is None:
        return None
    if first == 0:
        return 0.0 if last == 0 else float("inf")
    return 100.0 * (last - first) / first


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=200, help="connections opened and closed per second")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--sample", type=float, default=5, help="seconds between samples")
    p.add_argument("--flat-pct", type=float, default=5, help="largest first-vs-last-minute change called flat")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    p.add_argument("--count", type=int, help="this many connections as fast as possible (no --rate, --minutes)")
    p.add_argument("--processes", type=int, default=2, help="--count: client processes")
    p.add_argument("--concurrency", type=int, default=64, help="--count: connections at once per process")
    args = p.parse_args()
    if args.count:
        return fast(args)
    seconds = args.minutes * 60
    window = min(60.0, seconds / 3)

    with Lab.create(prefix="xmsoak") as lab:
        # the client closes first: its TIME_WAITs, not ours, pile up
        lab.peer.run(["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000",
                      "net.ipv4.tcp_tw_reuse=1"])
        serve = Serve(lab, args.sample)
        if not serve.ready.wait(30):
            serve.stop()
            raise SystemExit("serve did not start: %s" % serve.proc.stderr.read())
        client = lab.peer.popen([SYSTEM_PYTHON, "-c", CHURN_CLIENT, lab.stack.ip, str(PORT),
                                 str(args.rate), str(seconds)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        last_client = {}

        def read_client():
            for line in client.stdout:
                last_client.update(json.loads(line))
        threading.Thread(target=read_client, daemon=True).start()

        t0 = time.monotonic()
        samples = []
        while client.poll() is None and serve.proc.poll() is None:
            time.sleep(args.sample)
            if serve.proc.poll() is not None:
                break
            s = sample(serve)
            samples.append(s)
            if not args.json:
                print("%6.0fs  rss %7d KiB  tcbs %5s  tx_in_flight %4s  conns %7d  client ok %7s fail %s"
                      % (s["t"] - t0, s["rss_kib"], s["tcbs_in_use"], s["tx_in_flight"], s["conns"],
                         last_client.get("ok"), last_client.get("fail")), flush=True)
        client.wait(60)
        time.sleep(0.5)
        alive = serve.proc.poll() is None
        rc = serve.stop()

    end = samples[-1]["t"] if samples else t0
    result = {"rate": args.rate, "minutes": args.minutes, "serve_alive_at_end": alive, "serve_rc": rc,
              "client": last_client, "served_conns": serve.conns, "conn_errors": serve.conn_errors,
              "measures": {}}
    for key in ("rss_kib", "tcbs_in_use", "tx_in_flight", "buffer_memory"):
        first = window_mean(samples, key, t0, t0 + window)
        last = window_mean(samples, key, end - window, end + 1)
        change = pct(first, last)
        flat = change is not None and (abs(change) <= args.flat_pct
                                       or abs(last - first) <= ABS_SLACK[key])
        result["measures"][key] = {"first_minute": first, "last_minute": last, "change_pct": change,
                                   "flat": flat}
    if serve.final:
        result["final"] = {k: serve.final[k] for k in ("c", "listener", "port", "xdp", "tcbs_in_use",
                                                       "buffer_memory", "app_failures")}
    if args.json:
        print(json.dumps(result))
        return
    print("\nchurn soak: %.0f conn/s for %.1f min; client ok %s fail %s; serve alive %s, rc %s"
          % (args.rate, args.minutes, last_client.get("ok"), last_client.get("fail"), alive, rc))
    print("%-14s %14s %14s %9s  %s" % ("measure", "first window", "last window", "change", "flat"))
    for key, m in result["measures"].items():
        fmt = lambda v: "-" if v is None else "%.1f" % v   # noqa: E731
        print("%-14s %14s %14s %8s%%  %s" % (key, fmt(m["first_minute"]), fmt(m["last_minute"]),
                                             fmt(m["change_pct"]), "yes" if m["flat"] else "NO"))
    if serve.final:
        f = serve.final
        print("final: tcbs_in_use %d, buffer_memory %d, c.slow_path %d, c.rst_sent %d, "
              "listener.established %d, port.rx_ring_full %d, tx_no_room %d"
              % (f["tcbs_in_use"], f["buffer_memory"], f["c"]["slow_path"], f["c"]["rst_sent"],
                 f["listener"]["established"], f["port"]["rx_ring_full"], f["port"]["tx_no_room"]))


FAST_MEASURES = ("rss_kib", "rss_anon_kib", "tcbs_in_use", "conns", "apps", "gc_objects", "buffer_memory",
                 "buffer_cached", "tx_in_flight")


def compare(samples, key, window, flat_pct, slack):
    """First window vs last window of samples (by their "t")."""
    end = samples[-1]["t"]
    first = window_mean(samples, key, samples[0]["t"], samples[0]["t"] + window)
    last = window_mean(samples, key, end - window, end + 1)
    change = pct(first, last)
    flat = change is not None and (abs(change) <= flat_pct or abs(last - first) <= slack)
    return {"first_window": first, "last_window": last, "change_pct": change, "flat": flat}


def fast(args):
    def show(smp):
        if not args.json:
            print("%6.0fs  rss %7d KiB (anon %7d)  tcbs %4d  conns %4d  gc_objects %6d  buffer %7d  "
                  "cached %8d  tx_in_flight %3d  served %8d"
                  % (smp["t"], smp["rss_kib"], smp["rss_anon_kib"], smp["tcbs_in_use"], smp["conns"],
                     smp["gc_objects"], smp["buffer_memory"], smp["buffer_cached"], smp["tx_in_flight"],
                     smp["established"]), flush=True)

    with Lab.create(prefix="xmchurn") as lab:
        res = churn(lab, args.count, processes=args.processes, concurrency=args.concurrency,
                    sample=args.sample, on_sample=show)
    samples = res.pop("samples")
    # while the clients ran: the drained tail would flatter the last window
    samples = [s for s in samples if s["client_ok"] < args.count] or samples
    window = min(60.0, samples[-1]["t"] / 3) if samples else 0
    live = args.processes * args.concurrency         # at most this many open at a sample
    slack = {"tcbs_in_use": 4 * live, "conns": live, "apps": live, "tx_in_flight": 64,
             "buffer_memory": live * 8192, "buffer_cached": 1 << 20, "gc_objects": 10 * live}
    res["window_s"] = window
    res["measures"] = {k: compare(samples, k, window, args.flat_pct, slack.get(k, 0))
                       for k in FAST_MEASURES} if samples else {}
    res["first_sample"], res["last_sample"] = (samples[0], samples[-1]) if samples else (None, None)
    if args.json:
        print(json.dumps(res, default=str))
        return
    f = res["final"] or {}
    print("\nchurn: %d connections in %.0f s, %.0f conn/s; client ok %d fail %d %s; serve alive %s, rc %s"
          % (args.count, res["seconds"], res["rate"], res["ok"], res["fail"], res["errors"] or "",
             res["alive"], res["rc"]))
    print("first sample %s\nlast sample  %s" % (res["first_sample"], res["last_sample"]))
    print("%-14s %14s %14s %9s  %s" % ("measure", "first window", "last window", "change", "flat"))
    for key, m in res["measures"].items():
        fmt = lambda v: "-" if v is None else "%.1f" % v   # noqa: E731
        print("%-14s %14s %14s %8s%%  %s" % (key, fmt(m["first_window"]), fmt(m["last_window"]),
                                             fmt(m["change_pct"]), "yes" if m["flat"] else "NO"))
    if f:
        print("final: tcbs_in_use %d, buffer_memory %d, tracked %s, c.slow_path %d, c.rst_sent %d, "
              "listener.established %d, cookies_sent %d, port.rx_ring_full %d, tx_no_room %d"
              % (f["tcbs_in_use"], f["buffer_memory"], f["tracked"], f["c"]["slow_path"], f["c"]["rst_sent"],
                 f["listener"]["established"], f["listener"]["cookies_sent"], f["port"]["rx_ring_full"],
                 f["port"]["tx_no_room"]))


if __name__ == "__main__":
    main()
