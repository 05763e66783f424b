"""Floods against a server in a lab while a legitimate client is served
(tools/bench/floods.py, tests/integration/test_floods.py).

The attacker is hping3 in the peer namespace; the legitimate client is the
kernel's TCP (system Python) in the same namespace, making one short HTTP
request per connection at a steady rate.  Either server sits in the stack
namespace on the stack's address: `xdpmtcp serve --mode http`, or a kernel
HTTP server on another port (the reference), each flooded the same way.

hping3 sends from a second address of the peer (ATTACKER_HOST, .3), not
the client's: its source ports sweep the whole range, and a flood SYN that
reuses a live client connection's 4-tuple would reset that connection on
any server (the kernel too), which measures hping3, not the server.  The
peer's kernel owns .3, so it answers SYN-ACKs with RSTs as an attacking
host's kernel would; --rand-source spoofs addresses nobody answers for."""
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time

from .._core import lib
from .probes import SYSTEM_PYTHON
from .topology import host_address

ATTACKER_HOST = 3          # host number of the attacker's address in the lab subnet

FLOOD_KINDS = {
    "syn": ["-S"],
    "syn-rand-source": ["-S", "--rand-source"],
    "ack": ["-A"],
    "rst": ["-R"],
}

BODY = b"<!DOCTYPE html><title>xdpmtcp</title>" + b"x" * 574 + b"\n"
PAGE = "index.html"

# Paced HTTP client: a thread per request so one slow answer never delays
# the schedule; each request is a new connection ("Connection: close").
HTTP_CLIENT = r"""
import json, socket, sys, threading, time
ip, port, rate, seconds, timeout, page, body_len = (sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),
    float(sys.argv[4]), float(sys.argv[5]), sys.argv[6], int(sys.argv[7]))
req = ("GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (page, ip)).encode()
results = []
lock = threading.Lock()

def one():
    t = time.monotonic()
    out = {"ok": False}
    stage = "connect"
    try:
        s = socket.create_connection((ip, port), timeout=timeout)
        stage = "reply"
        s.settimeout(max(0.01, timeout - (time.monotonic() - t)))
        s.sendall(req)
        got = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            got += c
        s.close()
        head, _, body = got.partition(b"\r\n\r\n")
        out["ok"] = head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] and len(body) == body_len
        if not out["ok"]:
            out["error"] = "bad_reply"
    except OSError as e:
        out["error"] = "%s:%s" % (stage, type(e).__name__)
    out["ms"] = (time.monotonic() - t) * 1000
    out["at"] = round(t - t0, 2)
    with lock:
        results.append(out)

threads = []
t0 = time.monotonic()
n = int(rate * seconds)
for i in range(n):
    delay = t0 + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    th = threading.Thread(target=one, daemon=True)
    th.start()
    threads.append(th)
for th in threads:
    th.join(timeout + 1)
errors = {}
for r in results:
    if not r["ok"]:
        errors[r["error"]] = errors.get(r["error"], 0) + 1
print(json.dumps({"sent": n, "ok": sum(r["ok"] for r in results), "errors": errors,
                  "ms_ok": sorted(r["ms"] for r in results if r["ok"]),
                  "failed_at": sorted(r["at"] for r in results if not r["ok"])}))
"""

# A kernel HTTP server with the backlog serve uses (1024): the reference.
KERNEL_HTTP = r"""
import http.server, socketserver, sys
root, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)
    def log_message(self, *a):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
srv = Server((ip, port), Handler)
print("listening", flush=True)
srv.serve_forever()
"""


def write_site(directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, PAGE), "wb") as fh:
        fh.write(BODY)
    return directory


def start_kernel_http(host, root, port):
    """The kernel reference server in host's namespace, ready to accept."""
    proc = host.popen([SYSTEM_PYTHON, "-c", KERNEL_HTTP, root, host.ip, str(port)],
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "listening":
        proc.kill()
        raise RuntimeError("kernel HTTP server did not start: %s" % proc.stderr.read())
    return proc


def tx_packets(host):
    """Frames host's lab interface has sent (the attacker's pps comes from it)."""
    r = host.run(["ip", "-s", "-j", "link", "show", "dev", host.ifname])
    return json.loads(r.stdout)[0]["stats64"]["tx"]["packets"]


def attacker_ip(lab):
    """The attacker's source address, added to the peer's interface once."""
    ip, prefixlen = host_address(lab.subnet, ATTACKER_HOST)
    r = lab.peer.run(["ip", "-j", "addr", "show", "dev", lab.peer.ifname])
    if ip not in r.stdout:
        lab.peer.run(["ip", "addr", "add", "%s/%d" % (ip, prefixlen), "dev", lab.peer.ifname])
    return ip


def peer_takes_xdp_tx(lab):
    """Attach a pass-everything XDP program to the peer's end of the veth:
    a veth hands the frames its other end sends with XDP_TX (the steering
    program's cookie SYN-ACKs) only to an end that runs an XDP program
    (docs/architecture.md); a NIC's wire needs nothing of the sort."""
    with lab.peer.enter():
        r = lib.xc_xdp_attach_pass(socket.if_nametoindex(lab.peer.ifname))
    if r < 0:
        raise OSError(-r, "cannot attach an XDP program to %s: %s" % (lab.peer.ifname, os.strerror(-r)))


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def flood_phase(lab, port, kind, seconds, rate, timeout=5.0, flood=True):
    """Flood port on the stack's address from the peer (hping3) for
    ``seconds`` while the paced client requests the page from it.  Returns
    served fraction, latency percentiles and the attacker's pps."""
    attacker = None
    tx0, t0 = tx_packets(lab.peer), time.monotonic()
    if flood:
        source = [] if "--rand-source" in FLOOD_KINDS[kind] else ["-a", attacker_ip(lab)]
        argv = ["hping3", "--flood", "-q", "-p", str(port), *source, *FLOOD_KINDS[kind], lab.stack.ip]
        attacker = lab.peer.popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)   # the flood is at full rate before the first request
    client = lab.peer.popen([SYSTEM_PYTHON, "-c", HTTP_CLIENT, lab.stack.ip, str(port), str(rate),
                             str(max(1.0, seconds - 0.5)), str(timeout), PAGE, str(len(BODY))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = _communicate(client, seconds + timeout + 30)
    flood_alive = attacker is None or attacker.poll() is None
    if attacker is not None:
        attacker.send_signal(signal.SIGINT)
        try:
            attacker.wait(5)
        except subprocess.TimeoutExpired:
            attacker.kill()
            attacker.wait()
    elapsed, sent = time.monotonic() - t0, tx_packets(lab.peer) - tx0
    res = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"sent": 0, "ok": 0,
                                                                        "errors": {"client": err}, "ms_ok": []}
    ms = res.pop("ms_ok")
    res.setdefault("failed_at", [])
    res.update(kind=kind if flood else "none", port=port, seconds=round(elapsed, 1),
               served_pct=100.0 * res["ok"] / res["sent"] if res["sent"] else 0.0,
               p50_ms=percentile(ms, 50), p99_ms=percentile(ms, 99),
               mean_ms=statistics.mean(ms) if ms else None,
               attacker_pps=round(sent / elapsed), attacker_frames=sent, attacker_ran=flood_alive)
    return res


def _communicate(proc, timeout):
    result = {}

    def run():
        result["out"], result["err"] = proc.communicate()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        proc.kill()
        t.join(5)
    return result.get("out", ""), result.get("err", "")


def stack_counters(engine_event):
    """The counters a flood report shows, from serve's engine/stats event."""
    c, lst, port, xdp = (engine_event[k] for k in ("c", "listener", "port", "xdp"))
    return {"xdp_redirected": xdp["redirected"], "xdp_passed": xdp["passed"],
            "xdp_no_socket": xdp["no_socket"], "xdp_syn_cookies": xdp["syn_cookies"],
            "xdp_cookie_rsts_dropped": xdp["cookie_rsts_dropped"],
            "xdp_syn_answer_failed": xdp["syn_answer_failed"],
            "xdp_syn_answer_stopped": xdp["syn_answer_stopped"], "rx_ring_full": port["rx_ring_full"],
            "rx_frames": port["rx_frames"], "tx_no_room": port["tx_no_room"],
            "segs_in": c["segs_in"], "fast_path": c["fast_path"], "slow_path": c["slow_path"],
            "py_slow_segments": engine_event["py"]["slow_segments"],
            "listen_segments": c["listen_segments"], "rst_sent": c["rst_sent"],
            "syns": lst["syns"], "cookies_sent": lst["cookies_sent"],
            "cookies_accepted": lst["cookies_accepted"], "cookies_rejected": lst["cookies_rejected"],
            "syn_queue_overflow": lst["syn_queue_overflow"], "half_open_failed": lst["half_open_failed"],
            "accept_overflow": lst["accept_overflow"], "established": lst["established"],
            "tcbs_in_use": engine_event["tcbs_in_use"]}


def counter_delta(after, before):
    return {k: v - before.get(k, 0) if k != "tcbs_in_use" else v for k, v in after.items()}
