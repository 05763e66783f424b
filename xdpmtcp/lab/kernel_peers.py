"""TCP programs for the kernel's side of a lab, run with the system Python
in a namespace; each prints one JSON line.  They exercise the stack the
way real clients and servers do (blocking sockets, asyncio, SO_LINGER)."""
from .probes import SYSTEM_PYTHON, run_json

# Pattern bytes shared with xdpmtcp.apps.streams (random.Random(seed)).
_PATTERN = r"""
import random
def pattern_chunks(seed, n, chunk=262144):
    rng = random.Random(seed)
    while n > 0:
        k = min(n, chunk)
        yield rng.randbytes(k)
        n -= k
"""

# connect; send N pattern bytes; half-close; read to EOF; hashes both ways.
BULK_CLIENT = _PATTERN + r"""
import hashlib, json, socket, sys, time
ip, port, nbytes, seed, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
opts = sys.argv[6] if len(sys.argv) > 6 else ""
out = {}
t0 = time.monotonic()
try:
    s = socket.socket()
    if "rcvbuf" in opts:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(opts.split("rcvbuf=")[1].split(",")[0]))
    s.settimeout(timeout)
    s.connect((ip, port))
    t0 = time.monotonic()
    hashed = "nohash" not in opts
    sent = hashlib.sha256()
    if hashed:
        for c in pattern_chunks(seed, nbytes):
            s.sendall(c)
            sent.update(c)
    else:      # benchmarks: one block again and again, no per-byte work
        block, left = next(pattern_chunks(seed, 1 << 20, 1 << 20)), nbytes
        while left:
            k = min(left, len(block))
            s.sendall(block[:k] if k < len(block) else block)
            left -= k
    s.shutdown(socket.SHUT_WR)
    got = hashlib.sha256()
    n = 0
    buf = bytearray(1 << 20)
    while True:
        k = s.recv_into(buf)
        if not k:
            break
        if hashed:
            got.update(memoryview(buf)[:k])
        n += k
    info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    s.close()
    out.update(sha256_sent=sent.hexdigest(), bytes_sent=nbytes, sha256_recv=got.hexdigest(),
               bytes_recv=n, seconds=time.monotonic() - t0, tcp_info_hex=info.hex())
except OSError as e:
    out.update(error=type(e).__name__, errno=e.errno, seconds=time.monotonic() - t0)
print(json.dumps(out))
"""

# accept one connection; send N pattern bytes; half-close; read to EOF.
BULK_SERVER = _PATTERN + r"""
import hashlib, json, socket, sys, time
ip, port, nbytes, seed, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port))
ls.listen(8)
print(json.dumps({"event": "listening"}), flush=True)
ls.settimeout(timeout)
out = {"event": "done"}
try:
    s, peer = ls.accept()
    s.settimeout(timeout)
    t0 = time.monotonic()
    sent = hashlib.sha256()
    for c in pattern_chunks(seed, nbytes):
        s.sendall(c)
        sent.update(c)
    s.shutdown(socket.SHUT_WR)
    got = hashlib.sha256()
    n = 0
    while True:
        c = s.recv(1 << 20)
        if not c:
            break
        got.update(c)
        n += len(c)
    s.close()
    out.update(peer="%s:%d" % peer, sha256_sent=sent.hexdigest(), bytes_sent=nbytes,
               sha256_recv=got.hexdigest(), bytes_recv=n, seconds=time.monotonic() - t0)
except OSError as e:
    out.update(error=type(e).__name__, errno=e.errno)
print(json.dumps(out), flush=True)
"""

# N concurrent connections (asyncio): connect all, exchange a line on each,
# close all; counts what worked.
MANY_CLIENTS = r"""
import asyncio, json, resource, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
ip, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
async def one(i, opened, go):
    r, w = await asyncio.open_connection(ip, port)
    opened.append(i)
    await go.wait()
    msg = b"hello %d\n" % i
    w.write(msg)
    await w.drain()
    got = await r.readexactly(len(msg))
    w.close()
    await w.wait_closed()
    return got == msg
async def main():
    opened, go = [], asyncio.Event()
    tasks = [asyncio.create_task(one(i, opened, go)) for i in range(n)]
    t0 = time.monotonic()
    while len(opened) < n and time.monotonic() - t0 < timeout:
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.01)
    concurrent = len(opened)
    go.set()
    res = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout)
    ok = sum(1 for x in res if x is True)
    errs = sorted({type(x).__name__ for x in res if x is not True})
    return {"concurrent": concurrent, "ok": ok, "errors": errs, "seconds": time.monotonic() - t0}
print(json.dumps(asyncio.run(main())))
"""

# N HTTP/1.0 GETs of one path, each on a fresh connection, C at a time;
# prints {"ok", "errors": {name: count}, "bodies": distinct body lengths}.
HTTP_FETCHES = r"""
import asyncio, json, sys, time
ip, port, path, n, conc = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
async def one():
    r, w = await asyncio.open_connection(ip, port)
    w.write(b"GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(), ip.encode()))
    data = await r.read()
    w.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError(head[:40].decode(errors="replace"))
    return len(body)
async def main():
    left, out, errors, sem = n, [], {}, asyncio.Semaphore(conc)
    async def guarded():
        async with sem:
            try:
                out.append(await asyncio.wait_for(one(), 10))
            except Exception as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
    t0 = time.monotonic()
    await asyncio.gather(*(guarded() for _ in range(n)))
    return {"ok": len(out), "errors": errors, "bodies": sorted(set(out)), "seconds": time.monotonic() - t0}
print(json.dumps(asyncio.run(main())))
"""


def http_fetches(host, ip, port, path, n, concurrency=16, timeout=120.0):
    return run_json(host, HTTP_FETCHES, ip, port, path, n, concurrency, timeout=timeout)


# N connections opened in waves (so neither side's queues overflow) and in
# STEPS equal parts; after each part one line is echoed on each new
# connection and one JSON line printed, then the connections are held idle
# until a line (or EOF) on stdin; after the last part they are closed (in
# waves, each waiting for the server's FIN) and a last JSON line printed.  Optional: source addresses to
# bind to in turn; the descriptor limit is raised where root may.
IDLE_CLIENTS = r"""
import json, os, resource, selectors, socket, sys, time
ip, port, n, wave, steps, timeout = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                                     int(sys.argv[5]), float(sys.argv[6]))
sources = sys.argv[7].split(",") if len(sys.argv) > 7 and sys.argv[7] else []
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
want = max(hard, n + 1024)
try:                      # root may raise the hard limit (up to fs.nr_open)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
except (ValueError, OSError):
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
IP_BIND_ADDRESS_NO_PORT = 24    # the port is chosen at connect, per 4-tuple
sel = selectors.DefaultSelector()
socks, failed, echoed = [], 0, 0
errors = {}
opened = 0

def open_some(count, deadline):
    global failed, opened
    new = []
    for start in range(0, count, wave):
        left = 0
        for i in range(min(wave, count - start)):
            try:
                s = socket.socket()
            except OSError as e:
                failed += 1
                errors[e.strerror] = errors.get(e.strerror, 0) + 1
                continue
            s.setblocking(False)
            if sources:
                s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((sources[opened % len(sources)], 0))
            opened += 1
            s.connect_ex((ip, port))
            sel.register(s, selectors.EVENT_WRITE)
            left += 1
        while left and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                s = key.fileobj
                sel.unregister(s)
                left -= 1
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed += 1
                    errors[os.strerror(err)] = errors.get(os.strerror(err), 0) + 1
                    s.close()
                else:
                    new.append(s)
    return new

def echo(new, deadline):
    want, got, ok = {}, {}, 0
    for s in new:
        want[s] = b"hello %d\n" % s.fileno()
        s.send(want[s])
        sel.register(s, selectors.EVENT_READ)
    done = 0
    while done < len(new) and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            got[s] = got.get(s, b"") + s.recv(100)
            if len(got[s]) >= len(want[s]):
                sel.unregister(s)
                done += 1
                ok += got[s] == want[s]
    return ok

t0 = time.monotonic()
for step in range(steps):
    deadline = time.monotonic() + timeout
    new = open_some(n // steps + (n % steps if step == steps - 1 else 0), deadline)
    socks += new
    echoed += echo(new, deadline)
    print(json.dumps({"connected": len(socks), "failed": failed, "echoed": echoed, "errors": errors,
                      "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                      "seconds": time.monotonic() - t0}), flush=True)
    sys.stdin.readline()
# closed in waves, each clocked by the server: FIN, wait for the server's
# (EOF), close; a burst of 100,000 FINs would only measure the RX ring
eof = 0
for start in range(0, len(socks), wave):
    batch = socks[start:start + wave]
    for s in batch:
        s.shutdown(socket.SHUT_WR)
        sel.register(s, selectors.EVENT_READ)
    left, deadline = len(batch), time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            try:
                more = key.fileobj.recv(100)
            except OSError:
                more = b""
            if not more:
                sel.unregister(key.fileobj)
                left -= 1
                eof += 1
    for s in batch:
        try:
            sel.unregister(s)        # no EOF before the deadline
        except KeyError:
            pass
        s.close()
print(json.dumps({"closed": len(socks), "eof": eof}), flush=True)
"""


def start_idle_clients(host, ip, port, n, wave=500, steps=1, timeout=60.0, sources=()):
    """IDLE_CLIENTS in the background (stdin and stdout are pipes): after
    each of its JSON lines, call go_on() to go on.  sources: addresses of
    host to bind to in turn (one gives about 55,000 ports to one
    destination port); none: the kernel picks."""
    import subprocess
    return host.popen([SYSTEM_PYTHON, "-c", IDLE_CLIENTS, ip, str(port), str(n), str(wave), str(steps),
                       str(timeout), ",".join(sources)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      text=True)


def go_on(peer):
    """Let IDLE_CLIENTS go on past the line it printed last."""
    peer.stdin.write("go\n")
    peer.stdin.flush()


# connect, send some bytes, then abort with RST (SO_LINGER 0).
RESET_AFTER = r"""
import json, socket, struct, sys, time
ip, port, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((ip, port), timeout=5)
s.sendall(b"x" * nbytes)
time.sleep(0.2)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print(json.dumps({"reset": True}))
"""

# connect; send a request (may be empty); read N bytes; then reset
# (SO_LINGER 0) while the server still has bytes to send.
RESET_READER = r"""
import json, socket, struct, sys
ip, port, request, nbytes = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
s = socket.create_connection((ip, port), timeout=10)
s.sendall(request)
got = 0
while got < nbytes:
    chunk = s.recv(65536)
    if not chunk:
        break
    got += len(chunk)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print(json.dumps({"reset": True, "read": got}))
"""

# connect; write for T seconds and never read; report what the kernel took
# (bounded when the server applies backpressure); then reset.
WRITE_NO_READ = r"""
import json, select, socket, struct, sys, time
ip, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((ip, port), timeout=10)
s.setblocking(False)
block, sent, end = b"w" * 65536, 0, time.monotonic() + seconds
while time.monotonic() < end:
    select.select([], [s], [], 0.05)
    try:
        sent += s.send(block)
    except BlockingIOError:
        pass
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
print(json.dumps({"sent": sent}))
"""


def bulk_client(host, ip, port, nbytes, seed=1, timeout=120.0, opts=""):
    return run_json(host, BULK_CLIENT, ip, port, nbytes, seed, timeout, opts, timeout=timeout + 30)


def start_bulk_server(host, ip, port, nbytes, seed=1, timeout=120.0):
    """Started in the background; read its two JSON lines from stdout."""
    return host.popen([SYSTEM_PYTHON, "-c", BULK_SERVER, ip, str(port), str(nbytes), str(seed),
                       str(timeout)], stdout=__import__("subprocess").PIPE, text=True)


def many_clients(host, ip, port, n, timeout=60.0):
    return run_json(host, MANY_CLIENTS, ip, port, n, timeout, timeout=timeout * 2 + 30)


def reset_after(host, ip, port, nbytes):
    return run_json(host, RESET_AFTER, ip, port, nbytes, timeout=30)


def reset_reader(host, ip, port, nbytes, request=""):
    return run_json(host, RESET_READER, ip, port, request, nbytes, timeout=30)


def write_no_read(host, ip, port, seconds):
    return run_json(host, WRITE_NO_READ, ip, port, seconds, timeout=seconds + 30)


# The reference a Python programmer would write without xdpmtcp: asyncio
# Streams on the kernel's TCP, HTTP/1.1 keep-alive, one file from memory.
ASYNCIO_HTTP_SERVER = r"""
import asyncio, json, sys
ip, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = open(path, "rb").read()
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            close = b"connection: close" in head.lower()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: %s\r\n\r\n"
                         % (len(body), b"close" if close else b"keep-alive") + body)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    srv = await asyncio.start_server(handle, ip, port, backlog=4096, reuse_address=True)
    print(json.dumps({"ready": True}), flush=True)
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
"""

# n sequential round trips of size bytes on one connection; latency in µs.
ECHO_LATENCY = r"""
import json, socket, sys, time
ip, port, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((ip, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg, lat = b"e" * size, []
for _ in range(n):
    t = time.perf_counter_ns()
    s.sendall(msg)
    got = 0
    while got < size:
        got += len(s.recv(size - got))
    lat.append((time.perf_counter_ns() - t) / 1000)
s.close()
lat.sort()
print(json.dumps({"p50_us": lat[n // 2], "p99_us": lat[int(n * 0.99)], "n": n}))
"""

# The kernel's side of the echo latency reference.
ECHO_SERVER = r"""
import json, socket, sys
ip, port = sys.argv[1], int(sys.argv[2])
l = socket.create_server((ip, port), reuse_port=True)
print(json.dumps({"ready": True}), flush=True)
while True:
    c, _ = l.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.close()
"""


def start_script(host, script, *args):
    """A long-running peer program; returns once it printed its ready line."""
    import subprocess
    p = host.popen([SYSTEM_PYTHON, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if '"ready"' not in line:
        p.kill()
        raise RuntimeError("peer program did not start: %r" % line)
    return p


def echo_latency(host, ip, port, n=2000, size=64):
    return run_json(host, ECHO_LATENCY, ip, port, n, size, timeout=120)


# count short connections as fast as the server takes them: up to CONC at
# once, each connect, send 16 bytes, read them back, close (the client
# closes first: the TIME-WAITs are ours); one JSON line a second, a summary
# at the end.  Optional source addresses, bound in turn.
CHURN_CLIENTS = r"""
import json, os, selectors, socket, sys, time
ip, port, count, conc, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
sources = sys.argv[6].split(",") if len(sys.argv) > 6 and sys.argv[6] else []
IP_BIND_ADDRESS_NO_PORT = 24
msg = b"churn-soak-bytes"
sel = selectors.DefaultSelector()
live = {}                        # socket -> [bytes read, started at]
started = ok = fail = 0
errors = {}

def end(s, err=None):
    global ok, fail
    sel.unregister(s)
    del live[s]
    s.close()
    if err:
        fail += 1
        errors[err] = errors.get(err, 0) + 1
    else:
        ok += 1

t0 = time.monotonic()
next_report = t0 + 1
while ok + fail < count and time.monotonic() - t0 < limit:
    while started < count and len(live) < conc:
        started += 1
        try:
            s = socket.socket()
            s.setblocking(False)
            if sources:
                s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((sources[started % len(sources)], 0))
            s.connect_ex((ip, port))
        except OSError as e:
            fail += 1
            errors[e.strerror] = errors.get(e.strerror, 0) + 1
            continue
        live[s] = [b"", time.monotonic()]
        sel.register(s, selectors.EVENT_WRITE)
    for key, ev in sel.select(0.2):
        s = key.fileobj
        if ev & selectors.EVENT_WRITE:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                end(s, os.strerror(err))
                continue
            s.send(msg)
            sel.modify(s, selectors.EVENT_READ)
            continue
        try:
            more = s.recv(64)
        except OSError as e:
            end(s, e.strerror)
            continue
        if not more:
            end(s, "EOF before the reply")
            continue
        live[s][0] += more
        if len(live[s][0]) >= len(msg):
            end(s, None if live[s][0] == msg else "wrong reply")
    now = time.monotonic()
    if now >= next_report:
        next_report += 1
        for s in [s for s, v in live.items() if now - v[1] > 10]:
            end(s, "no reply in 10 s")
        print(json.dumps({"t": round(now - t0, 1), "ok": ok, "fail": fail}), flush=True)
print(json.dumps({"done": True, "ok": ok, "fail": fail, "errors": errors,
                  "seconds": round(time.monotonic() - t0, 2)}), flush=True)
"""


def start_churn_clients(host, ip, port, count, concurrency=64, limit=3600.0, sources=()):
    """CHURN_CLIENTS in the background; its stdout is a pipe of JSON lines."""
    import subprocess
    return host.popen([SYSTEM_PYTHON, "-c", CHURN_CLIENTS, ip, str(port), str(count), str(concurrency),
                       str(limit), ",".join(sources)], stdout=subprocess.PIPE, text=True)
