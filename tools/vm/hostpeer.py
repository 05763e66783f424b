"""The kernel peer on the host side of the guest's taps, and the guest's
way to drive it.

Runs inside the boot's host namespace (tools/vm/boot.py starts it with
`ip netns exec`), listening on the control tap only the guest reaches.
One JSON request per connection, one JSON answer:

  {"run": [argv...], "timeout": s}     run a peer tool to completion:
                                       {"rc", "stdout", "stderr"}
  {"write": "name", "data": base64}    a file in the peer's web root
  {"serve_http": port, "addr": a}      python -m http.server on that root,
                                       until the boot ends: {"pid"}
  {"stop_http": port}                  stop it: {"rc"}

Only the tools a kernel peer needs run (PEER_TOOLS), each in this
namespace: the host itself is not reachable from here but through them.
"""
import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time

PEER_TOOLS = {"curl", "ping", "nc", "wrk", "arping", "ip"}
MAX_REQUEST = 1 << 22


def handle(req, root, servers):
    if "run" in req:
        argv = [str(a) for a in req["run"]]
        if not argv or argv[0] not in PEER_TOOLS:
            return {"error": "not a peer tool: %r (allowed: %s)" % (argv[:1], sorted(PEER_TOOLS))}
        try:
            r = subprocess.run(argv, capture_output=True, timeout=float(req.get("timeout", 30)))
        except subprocess.TimeoutExpired as e:
            return {"rc": None, "stdout": (e.stdout or b"").decode(errors="replace"),
                    "stderr": "timed out after %ss" % req.get("timeout", 30)}
        return {"rc": r.returncode, "stdout": r.stdout.decode(errors="replace"),
                "stderr": r.stderr.decode(errors="replace")}
    if "write" in req:
        name = os.path.basename(req["write"])
        with open(os.path.join(root, name), "wb") as f:
            f.write(base64.b64decode(req["data"]))
        return {"ok": True}
    if "serve_http" in req:
        port = int(req["serve_http"])
        p = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", req["addr"],
                              "--directory", root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers[port] = p
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:          # answer once it listens
            try:
                socket.create_connection((req["addr"], port), 0.5).close()
                return {"pid": p.pid}
            except OSError:
                time.sleep(0.1)
        return {"error": "http.server on %s:%d did not listen within 10 s" % (req["addr"], port)}
    if "stop_http" in req:
        p = servers.pop(int(req["stop_http"]), None)
        if p is None:
            return {"error": "no http.server on port %s" % req["stop_http"]}
        p.terminate()
        return {"rc": p.wait(5)}
    return {"error": "unknown request %r" % sorted(req)}


def serve(addr, port, root):
    servers = {}
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(8)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("hostpeer: listening on %s:%d, web root %s" % (addr, port, root), flush=True)
    try:
        while True:
            conn, _ = ls.accept()
            with conn:
                data = b""
                while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                try:
                    answer = handle(json.loads(data), root, servers)
                except Exception as e:          # a bad request is answered, never fatal
                    answer = {"error": "%s: %s" % (type(e).__name__, e)}
                conn.sendall(json.dumps(answer).encode() + b"\n")
    finally:
        for p in servers.values():
            p.terminate()
            p.wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=7000)
    ap.add_argument("--root", required=True, help="web root for write/serve_http")
    a = ap.parse_args()
    os.makedirs(a.root, exist_ok=True)
    serve(a.addr, a.port, a.root)


if __name__ == "__main__":
    main()
