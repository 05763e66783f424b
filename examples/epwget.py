#!/usr/bin/env python3
"""epwget: an HTTP load generator on xdpmtcp, written against the mTCP
dialect like mTCP's epwget: NREQ GET requests for URL with CONCURRENCY
connections in flight per core, non-blocking connects and one epoll per
context.  Prints requests/s and latency percentiles (connect to last byte).

By default every request has its own connection ("Connection: close", as
mTCP's epwget); --keep-alive sends them one after another on CONCURRENCY
long-lived connections instead.
"""
import argparse
import errno
import json
import os
import socket
import sys
import time
import urllib.parse

from _example import CoreProgress, in_netns, note, run_cores, wanted_cores

from xdpmtcp.commands.common import (OneLineErrorParser, netns_name, non_negative_int, positive_int,
                                     positive_seconds)
from xdpmtcp.mtcp_api import (AF_INET, MTCP_EPOLL_CTL_ADD, MTCP_EPOLL_CTL_MOD, MTCP_EPOLLERR,
                              MTCP_EPOLLHUP, MTCP_EPOLLIN, MTCP_EPOLLOUT, SO_ERROR, SOCK_STREAM,
                              SOL_SOCKET, mtcp_close, mtcp_connect, mtcp_destroy, mtcp_epoll_create1,
                              mtcp_epoll_ctl, mtcp_epoll_wait, mtcp_getsockopt, mtcp_init, mtcp_read,
                              mtcp_socket, mtcp_write)
from xdpmtcp.progress import progress_bar

PROG = "epwget"
EPILOG = """\
examples:
    epwget.py http://198.18.0.2/index.html 10000 -c 100 -f epwget.conf
    epwget.py http://198.18.0.2:8080/ 50000 -c 64 --keep-alive -f lab.conf --netns xm3f9a1c-stack

CONF is an mtcp.conf-style file (see epserver.py --help); with one request
per connection set "tcp_timewait = 0" there, as mTCP's sample does, or
the 1000 reserved ephemeral ports run out while connections sit in
TIME-WAIT.  SIGINT or SIGTERM stop it early; it still prints what it measured.
"""

MAX_EVENTS = 1024


class Fetch:
    __slots__ = ("fd", "started", "sent_at", "connected", "inbuf", "header_end", "length", "status")

    def __init__(self, fd, now):
        self.fd = fd
        self.started = now
        self.sent_at = now
        self.connected = False
        self.reset_response()

    def reset_response(self):
        self.inbuf = bytearray()
        self.header_end = -1
        self.length = None
        self.status = 0


class Client:
    def __init__(self, ctx, target, nreq, concurrency, keep_alive, timeout, stop, progress):
        self.ctx = ctx
        self.progress = progress          # advanced once per request ended, well or not
        self.addr, self.request = target
        self.left = nreq                  # requests not yet started
        self.concurrency = concurrency
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.stop = stop
        self.fetches = {}
        self.latencies = []
        self.errors = {}
        self.statuses = {}
        self.bytes_in = 0
        self.connections = 0
        self.stalled = 0                  # connects put off: no connection block or port free
        self.ep = mtcp_epoll_create1(ctx, 0)

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1
        self.progress.advance()

    def start_one(self):
        ctx = self.ctx
        fd = mtcp_socket(ctx, AF_INET, SOCK_STREAM, 0)
        try:
            mtcp_connect(ctx, fd, self.addr)
        except BlockingIOError:
            pass
        except OSError as e:
            mtcp_close(ctx, fd)
            if e.errno in (errno.EAGAIN, errno.EADDRNOTAVAIL) and self.fetches:
                self.stalled += 1             # no block or port free now: one frees when a fetch ends
                return False
            self.error(e.strerror.split(":")[0])
            self.left -= 1
            return True
        self.left -= 1
        self.connections += 1
        f = Fetch(fd, time.monotonic())
        self.fetches[fd] = f
        mtcp_epoll_ctl(ctx, self.ep, MTCP_EPOLL_CTL_ADD, fd, MTCP_EPOLLOUT)
        return True

    def fill(self):
        while self.left > 0 and len(self.fetches) < self.concurrency:
            if not self.start_one():
                break

    def finish(self, f, ok_status=None):
        self.progress.advance()
        if ok_status is not None:
            self.latencies.append(time.monotonic() - f.sent_at)
            self.statuses[ok_status] = self.statuses.get(ok_status, 0) + 1
            if self.keep_alive and self.left > 0 and not self.stop:
                self.left -= 1
                f.reset_response()
                f.sent_at = time.monotonic()
                self.send(f)
                return
        self.fetches.pop(f.fd, None)
        mtcp_close(self.ctx, f.fd)

    def fail(self, f, what):
        self.error(what)
        self.fetches.pop(f.fd, None)
        mtcp_close(self.ctx, f.fd)

    def send(self, f):
        try:
            mtcp_write(self.ctx, f.fd, self.request)   # small: always fits an empty buffer
        except OSError as e:
            return self.fail(f, e.strerror.split(":")[0])

    def on_event(self, f, events):
        ctx = self.ctx
        if not f.connected:
            if not events & (MTCP_EPOLLOUT | MTCP_EPOLLERR | MTCP_EPOLLHUP):
                return
            err = mtcp_getsockopt(ctx, f.fd, SOL_SOCKET, SO_ERROR)
            if err:
                return self.fail(f, "connect: " + os.strerror(err))
            f.connected = True
            mtcp_epoll_ctl(ctx, self.ep, MTCP_EPOLL_CTL_MOD, f.fd, MTCP_EPOLLIN)
            f.sent_at = time.monotonic() if self.keep_alive else f.started
            return self.send(f)
        eof = False
        while True:
            try:
                data = mtcp_read(ctx, f.fd, 65536)
            except BlockingIOError:
                break
            except OSError as e:
                return self.fail(f, e.strerror.split(":")[0])
            if not data:
                eof = True
                break
            self.bytes_in += len(data)
            f.inbuf += data
        self.parse(f, eof)

    def parse(self, f, eof):
        if f.header_end < 0:
            end = f.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if eof:
                    self.fail(f, "closed before the response")
                return
            f.header_end = end + 4
            head = f.inbuf[:end].decode("latin-1").split("\r\n")
            try:
                f.status = int(head[0].split()[1])
            except (IndexError, ValueError):
                return self.fail(f, "bad status line")
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    f.length = int(value.strip())
        body = len(f.inbuf) - f.header_end
        if f.length is not None and body >= f.length:
            self.finish(f, f.status)
        elif f.length is None and eof:
            self.finish(f, f.status)          # a body delimited by the close
        elif eof:
            self.fail(f, "short body")

    def expire(self, now):
        for f in list(self.fetches.values()):
            if now - f.sent_at > self.timeout:
                self.fail(f, "timeout")

    def run(self):
        t0 = time.monotonic()
        last_check = t0
        self.fill()
        while (self.fetches or self.left > 0) and not self.stop:
            for events, fd in mtcp_epoll_wait(self.ctx, self.ep, MAX_EVENTS, 100):
                f = self.fetches.get(fd)
                if f is not None:
                    self.on_event(f, events)
            self.fill()
            now = time.monotonic()
            if now - last_check > 0.5:
                self.expire(now)
                last_check = now
        self.seconds = time.monotonic() - t0
        for f in list(self.fetches.values()):
            self.fail(f, "stopped")
        return self


def parse_url(url):
    """((ip, port), path, Host header); ValueError or OSError says why not."""
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or not u.hostname:
        raise ValueError("only http://HOST[:PORT]/PATH URLs")
    u.port                                  # ValueError if out of range
    ip = socket.gethostbyname(u.hostname)
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    host = u.hostname + ("" if u.port in (None, 80) else ":%d" % u.port)
    return (ip, u.port or 80), path, host


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


def parse_args(argv=None):
    p = OneLineErrorParser(prog="epwget.py", description=__doc__, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", metavar="URL", help="http://HOST[:PORT]/PATH to fetch")
    p.add_argument("nreq", metavar="NREQ", type=positive_int, help="requests in total (all cores)")
    p.add_argument("-c", dest="concurrency", metavar="CONCURRENCY", type=positive_int, default=100,
                   help="requests in flight per core (default 100)")
    p.add_argument("-N", dest="cores", metavar="CORES", type=non_negative_int, default=0,
                   help="cores (contexts); default: num_cores of CONF")
    p.add_argument("-f", dest="conf", metavar="CONF", required=True, help="mtcp.conf-style configuration")
    p.add_argument("-k", "--keep-alive", action="store_true",
                   help="reuse each connection for the next request (HTTP/1.1 keep-alive)")
    p.add_argument("--timeout", type=positive_seconds, default=10.0,
                   help="seconds one request may take (default 10)")
    p.add_argument("--netns", metavar="NS", type=netns_name, help="run inside network namespace NS")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = p.parse_args(argv)
    try:
        args.target = parse_url(args.url)
    except (ValueError, OSError) as e:       # OSError: the host name does not resolve
        p.error("URL %r: %s" % (args.url, e))
    return args


def main(argv=None):
    args = parse_args(argv)
    addr, path, host = args.target
    request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: xdpmtcp-epwget\r\nAccept: */*\r\n"
               "Connection: %s\r\n\r\n" % (path, host, "keep-alive" if args.keep_alive else "close")).encode()
    runs = []
    try:
        with in_netns(args.netns):
            mtcp_init(args.conf)
            cores = wanted_cores(PROG, args.cores)
            share = [args.nreq // cores + (k < args.nreq % cores) for k in range(cores)]
            with progress_bar("requests", args.nreq, json_output=args.json) as bar:
                shared = CoreProgress(bar, cores)

                def fetch(ctx, stop):
                    c = Client(ctx, (addr, request), share[ctx.core], args.concurrency, args.keep_alive,
                               args.timeout, stop, bar if cores == 1 else shared.for_core(ctx.core))
                    c.run()
                    return {"latencies": c.latencies, "errors": c.errors, "statuses": c.statuses,
                            "seconds": c.seconds, "connections": c.connections, "bytes": c.bytes_in}
                runs = [r for r in run_cores(PROG, cores, fetch, tick=shared.show) if r is not None]
    except (OSError, RuntimeError) as e:
        note(PROG, str(e))
        return 1
    finally:
        mtcp_destroy()
    if not runs:
        return 1
    lat = sorted(x for r in runs for x in r["latencies"])
    seconds = max(r["seconds"] for r in runs)
    errors = {}
    statuses = {}
    for r in runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
        for k, v in r["statuses"].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    done = len(lat)
    result = {
        "url": args.url, "requests": args.nreq, "completed": done, "errors": errors, "status": statuses,
        "seconds": round(seconds, 3), "requests_per_s": round(done / seconds, 1) if seconds else 0.0,
        "connections": sum(r["connections"] for r in runs), "bytes": sum(r["bytes"] for r in runs),
        "latency_ms": {name: round(percentile(lat, p) * 1000, 3)
                       for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
        "cores": len(runs),
        "per_core": [{"completed": len(r["latencies"]), "connections": r["connections"]} for r in runs],
    }
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        l = result["latency_ms"]
        print("%d of %d requests in %.2f s: %.1f requests/s over %d connection(s), %d bytes"
              % (done, args.nreq, seconds, result["requests_per_s"], result["connections"], result["bytes"]))
        print("latency (ms): p50 %.3f  p90 %.3f  p99 %.3f  max %.3f" % (l["p50"], l["p90"], l["p99"], l["max"]))
        print("status: %s   errors: %s" % (statuses or "-", errors or "none"))
    return 0 if done == args.nreq and not errors else 2


if __name__ == "__main__":
    sys.exit(main())
