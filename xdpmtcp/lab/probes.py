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


# One TCP connection carrying seeded pseudo-random bytes both ways: the
# client sends its bytes and half-closes, the server reads to EOF, then
# replies with its bytes and closes.  Each side prints what it sent and
# received (count and sha256) as one JSON line.
TRANSFER = r"""
import hashlib, json, random, socket, sys
role, ip, port, nsend, seed, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
CHUNK = 1 << 16
def send_all(s):
    rng, h, left = random.Random(seed), hashlib.sha256(), nsend
    while left:
        data = rng.randbytes(min(CHUNK, left))
        s.sendall(data)
        h.update(data)
        left -= len(data)
    return h.hexdigest()
def recv_all(s):
    h, n = hashlib.sha256(), 0
    while True:
        data = s.recv(CHUNK)
        if not data:
            return n, h.hexdigest()
        h.update(data)
        n += len(data)
if role == "server":
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((ip, port))
    lsock.listen(1)
    lsock.settimeout(timeout)
    print(json.dumps({"ready": True}), flush=True)
    s, _ = lsock.accept()
    s.settimeout(timeout)
    got, got_sha = recv_all(s)
    sent_sha = send_all(s)
else:
    s = socket.create_connection((ip, port), timeout=timeout)
    sent_sha = send_all(s)
    s.shutdown(socket.SHUT_WR)
    got, got_sha = recv_all(s)
s.close()
print(json.dumps({"sent": nsend, "sent_sha256": sent_sha, "received": got, "received_sha256": got_sha}))
"""


def tcp_transfer(client, server, nbytes, reply_bytes=0, *, port=5001,
                 seed=1, timeout=120.0):
    """Kernel TCP from client to server.host.ip:port; returns
    {"client": {...}, "server": {...}} with sent/received counts and sha256
    of each side.  The two directions use different seeds."""
    import select
    import subprocess
    argv = [SYSTEM_PYTHON, "-c", TRANSFER]
    srv = server.popen(argv + ["server", server.ip, str(port), str(reply_bytes),
                               str(seed + 1), str(timeout)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([srv.stdout], [], [], 10)
        if not ready or not json.loads(srv.stdout.readline() or "{}").get("ready"):
            raise RuntimeError("transfer server did not start: "
                               + (srv.stderr.read() if srv.poll() is not None else "timeout"))
        cli = client.run(argv + ["client", server.ip, str(port), str(nbytes),
                                 str(seed), str(timeout)], timeout=timeout + 10)
        out, err = srv.communicate(timeout=timeout + 10)
        if srv.returncode:
            raise RuntimeError(f"transfer server failed: {err.strip()[-2000:]}")
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    return {"client": json.loads(cli.stdout.strip().splitlines()[-1]),
            "server": json.loads(out.strip().splitlines()[-1])}
