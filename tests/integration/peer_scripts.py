"""Small programs run with the system Python inside a lab namespace: the
kernel's side of a test.  Each prints one JSON line."""
import json

CONNECT_ECHO = r"""
import json, socket, sys, time
ip, port, msg, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), float(sys.argv[4])
out = {}
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
    out["connected"] = out.get("connected", False)
    out["error"] = type(e).__name__
    out["errno"] = e.errno
print(json.dumps(out))
"""

SEND_RAW = r"""
import socket, sys
ifname = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
print("{}")
"""


def run_json(host, script, *args, timeout=30):
    r = host.run(["/usr/bin/python3", "-c", script, *map(str, args)],
                 timeout=timeout)
    return json.loads(r.stdout.strip().splitlines()[-1])
