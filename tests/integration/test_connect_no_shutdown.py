"""`xdpmtcp connect --no-shutdown` keeps its sending side open, and a
response shorter than its Content-Length is warned about."""
import subprocess
import sys
import time

from xdpmtcp.lab.probes import SYSTEM_PYTHON
from xdpmtcp.lab.stackproc import ROOT

PORT = 8000

# One connection: read the request, then tell whether the client's FIN came
# within 0.5 s, in an HTTP response whose body is cut (10 of 100 bytes).
PEER_SERVER = r"""
import socket, sys
srv = socket.create_server((sys.argv[1], %d))
print("ready", flush=True)
c, _ = srv.accept()
c.recv(4096)
c.settimeout(0.5)
try:
    fin = c.recv(4096) == b""
except socket.timeout:
    fin = False
body = (b"fin  " if fin else b"open ") + b"abcde"
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body)
c.close()
""" % PORT


def connect(lab, *flags):
    server = lab.peer.popen([SYSTEM_PYTHON, "-c", PEER_SERVER, lab.peer.ip],
                            stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    r = subprocess.run([sys.executable, "-m", "xdpmtcp", "connect", "--netns", lab.stack.ns,
                        "-i", lab.stack.ifname, lab.peer.ip, str(PORT), "-o", "-", "--timeout", "20",
                        "--send", r"GET / HTTP/1.0\r\n\r\n", *flags],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    server.wait(10)
    return r


def test_default_half_closes(lab):
    r = connect(lab)
    assert r.returncode == 0, r.stderr
    assert "fin  abcde" in r.stdout


def test_no_shutdown_keeps_sending_side_open(lab):
    started = time.monotonic()
    r = connect(lab, "--no-shutdown")
    assert r.returncode == 0, r.stderr
    assert "open abcde" in r.stdout
    assert time.monotonic() - started < 15


def test_short_response_is_warned_about(lab):
    r = connect(lab)
    assert "Traceback" not in r.stderr
    assert ("xdpmtcp: warning: the HTTP response announced Content-Length 100 but 10 body "
            "bytes arrived") in r.stderr
