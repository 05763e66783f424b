"""The kernel's side of an experiment: tiny programs run with the system
Python inside a lab namespace, each printing one JSON line."""
import json

SYSTEM_PYTHON = "/usr/bin/python3"

# connect, send msg, read as many bytes back, close; reports errors by name.
CONNECT_ECHO = r"""
import json, socket, sys, time
ip, port, msg, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), float(sys.argv[4])
out = {"connected": False}
t = time.monotonic()
try:
    s = socket.create_connection((ip, port), timeout=timeout)
    out["connected"] = True
    out["connect_ms"] = round((time.monotonic() - t) * 1000, 2)
    if msg:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            c = s.recv(4096)
            if not c:
                break
            got += c
        out["reply"] = got.decode(errors="replace")
    s.close()
except OSError as e:
    out["error"] = type(e).__name__
    out["errno"] = e.errno
print(json.dumps(out))
"""

# send raw Ethernet frames (hex arguments) out of an interface.
SEND_RAW = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
print("{}")
"""


def run_json(host, script, *args, timeout=30):
    r = host.run([SYSTEM_PYTHON, "-c", script, *map(str, args)], timeout=timeout)
    return json.loads(r.stdout.strip().splitlines()[-1])


def connect_echo(host, ip, port, msg="", timeout=3.0):
    """From host, connect to ip:port and exchange msg; a dict of what happened."""
    return run_json(host, CONNECT_ECHO, ip, port, msg, timeout, timeout=timeout * 4 + 10)


def send_raw(host, frames, ifname=None):
    run_json(host, SEND_RAW, ifname or host.ifname, *[bytes(f).hex() for f in frames])
