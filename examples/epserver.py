#!/usr/bin/env python3
"""epserver: a static-file HTTP/1.1 server on xdpmtcp, written against the
mTCP dialect (xdpmtcp.mtcp_api) the way mTCP's own epserver is: one
context per core, a listening socket and an epoll per context, and an
event loop of mtcp_epoll_wait / mtcp_accept / mtcp_read / mtcp_write.
Files of SENDFILE_MIN bytes and more are not cached: their bodies go
with mtcp_sendfile, read in C straight into the send buffer.

It serves GET and HEAD for the files under ROOT, with keep-alive
(HTTP/1.1 by default, HTTP/1.0 on request) and "Connection: close".
"""
import argparse
import email.utils
import mimetypes
import os
import sys
import time

from _example import in_netns, note, run_cores, serving

from xdpmtcp.api import runtime
from xdpmtcp.netif import interface_ipv4
from xdpmtcp.commands.common import (OneLineErrorParser, existing_dir, netns_name, non_negative_int,
                                     port, positive_int)
from xdpmtcp.mtcp_api import (AF_INET, MTCP_EPOLL_CTL_ADD, MTCP_EPOLL_CTL_MOD, MTCP_EPOLLERR,
                              MTCP_EPOLLHUP, MTCP_EPOLLIN, MTCP_EPOLLOUT, SO_REUSEADDR, SOCK_STREAM,
                              SOL_SOCKET, mtcp_accept, mtcp_bind, mtcp_close, mtcp_destroy,
                              mtcp_epoll_create1, mtcp_epoll_ctl, mtcp_epoll_wait, mtcp_init,
                              mtcp_listen, mtcp_read, mtcp_sendfile, mtcp_setsockopt, mtcp_socket,
                              mtcp_write)

PROG = "epserver"
EPILOG = """\
The configuration file is mTCP's mtcp.conf format, for example:

    port = eth1              # the interface (the kernel keeps ARP, routes, SSH)
    num_cores = 1
    max_concurrency = 10000  # sockets per core
    max_num_buffers = 10000
    rcvbuf = 8192
    sndbuf = 8192
    tcp_timeout = 30
    tcp_timewait = 0
    stat_print = eth1        # a line of counters per second on stderr

examples:
    epserver.py -p /var/www -f epserver.conf
    epserver.py -p ./site -f lab.conf --port 8080 --netns xm3f9a1c-stack
    curl http://198.18.0.1:8080/index.html        # from another host

-N asks for that many cores, each a worker process with its own context on
its own receive queue (a NIC's RSS spreads the connections over them); on
an interface with fewer queues epserver says so and runs fewer (docs/api.md,
"Several cores").
SIGINT or SIGTERM stop it; it prints its totals and detaches XDP.
"""

MAX_EVENTS = 1024
READ_CHUNK = 65536
MAX_HEADER = 16384
SENDFILE_MIN = 256 * 1024     # larger files: mtcp_sendfile from the file, not cached


class Site:
    """Files under root, read once and kept (mTCP's epserver caches the
    whole directory at start; here on first request), but for large ones:
    those are opened per request and sent with mtcp_sendfile."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.cache = {}

    def lookup(self, target):
        """(body, ctype), body bytes or, for a large file, an open fd (the
        caller closes it); None when there is no such file."""
        path = target.split("?", 1)[0]
        hit = self.cache.get(path)
        if hit is not None:
            return hit
        full = os.path.realpath(os.path.join(self.root, path.lstrip("/")))
        if os.path.isdir(full):
            full = os.path.join(full, "index.html")
        if not (full == self.root or full.startswith(self.root + os.sep)) or not os.path.isfile(full):
            return None
        ctype = mimetypes.guess_type(full)[0] or "application/octet-stream"
        try:
            fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        if os.fstat(fd).st_size >= SENDFILE_MIN:
            return fd, ctype
        with os.fdopen(fd, "rb") as f:
            body = f.read()
        hit = (body, ctype)
        if len(self.cache) < 10000:
            self.cache[path] = hit
        return hit


def header_field(fields, name):
    """The value of header name (lower case) in fields (the lower-cased
    header lines, from the CRLF that ends the request line); b"" if absent."""
    at = fields.find(b"\r\n" + name + b":")
    if at < 0:
        return b""
    start = at + len(name) + 3
    end = fields.find(b"\r\n", start)
    return (fields[start:] if end < 0 else fields[start:end]).strip()


class Client:
    __slots__ = ("fd", "inbuf", "out", "close_after", "writing", "file", "file_off", "file_left")

    def __init__(self, fd):
        self.fd = fd
        self.inbuf = bytearray()
        self.out = bytearray()
        self.close_after = False
        self.writing = False
        self.file = None              # a body mtcp_sendfile sends after out: fd, offset, bytes left
        self.file_off = self.file_left = 0


class Server:
    def __init__(self, ctx, site, port, stop, backlog):
        self.ctx = ctx
        self.site = site
        self.stop = stop
        self.clients = {}
        self.requests = self.accepted = self.bytes_out = 0
        self._date = ""
        self._date_at = 0
        self._heads = {}                     # (status, type, length, keep-alive) -> response head, this second
        self.listener = mtcp_socket(ctx, AF_INET, SOCK_STREAM, 0)
        mtcp_setsockopt(ctx, self.listener, SOL_SOCKET, SO_REUSEADDR, 1)
        mtcp_bind(ctx, self.listener, ("0.0.0.0", port))
        mtcp_listen(ctx, self.listener, backlog)
        self.ep = mtcp_epoll_create1(ctx, 0)
        mtcp_epoll_ctl(ctx, self.ep, MTCP_EPOLL_CTL_ADD, self.listener, MTCP_EPOLLIN)

    def date(self):
        now = int(time.time())
        if now != self._date_at:
            self._date_at, self._date = now, email.utils.formatdate(now, usegmt=True)
            self._heads.clear()              # response heads carry the date
        return self._date

    def run(self):
        ctx = self.ctx
        while not self.stop:
            for events, fd in mtcp_epoll_wait(ctx, self.ep, MAX_EVENTS, 100):
                if fd == self.listener:
                    self.accept_all()
                    continue
                c = self.clients.get(fd)
                if c is None:
                    continue
                if events & MTCP_EPOLLIN:
                    self.on_readable(c)
                elif events & (MTCP_EPOLLERR | MTCP_EPOLLHUP):
                    self.close(c)
                    continue
                if events & MTCP_EPOLLOUT and fd in self.clients:
                    self.flush(c)
        for c in list(self.clients.values()):
            self.close(c)
        return self

    def accept_all(self):
        while True:
            try:
                fd, _ = mtcp_accept(self.ctx, self.listener)
            except BlockingIOError:
                return
            except OSError as e:             # ENFILE: the pool is full; try again later
                note(PROG, "accept: %s" % e.strerror)
                return
            self.accepted += 1
            self.clients[fd] = Client(fd)
            mtcp_epoll_ctl(self.ctx, self.ep, MTCP_EPOLL_CTL_ADD, fd, MTCP_EPOLLIN)

    def on_readable(self, c):
        eof = False
        while True:
            try:
                data = mtcp_read(self.ctx, c.fd, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:                  # reset by the peer
                self.close(c)
                return
            if not data:
                eof = True
                break
            c.inbuf += data
            if len(data) < READ_CHUNK:
                break                        # drained: nothing more arrives before the next wait
        self.process(c)
        if c.out or c.file is not None:
            self.flush(c)
        elif eof or c.close_after:
            self.close(c)

    def process(self, c):
        """Answer the complete requests in inbuf, in order; one whose body
        goes with sendfile holds the rest back until it is sent."""
        while not c.close_after and c.file is None:
            end = c.inbuf.find(b"\r\n\r\n")
            if end < 0:
                if len(c.inbuf) > MAX_HEADER:
                    self.respond(c, "431 Request Header Fields Too Large", b"", "text/plain", False, False)
                break
            head = bytes(c.inbuf[:end])
            del c.inbuf[:end + 4]
            self.handle(c, head)

    def handle(self, c, head):
        eol = head.find(b"\r\n")
        parts = (head if eol < 0 else head[:eol]).split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return self.respond(c, "400 Bad Request", b"bad request\n", "text/plain", False, False)
        method, target, version = parts
        fields = head[eol:].lower() if eol >= 0 else b""
        connection = header_field(fields, b"connection")
        length = header_field(fields, b"content-length")
        if length and not length.isdigit():
            return self.respond(c, "400 Bad Request", b"bad Content-Length\n", "text/plain", False, False)
        keep = (b"close" not in connection) if version == b"HTTP/1.1" else (b"keep-alive" in connection)
        head_only = method == b"HEAD"
        if not (method == b"GET" or head_only) or (length and int(length)):
            return self.respond(c, "405 Method Not Allowed", b"GET or HEAD only\n", "text/plain",
                                False, head_only)
        self.requests += 1
        hit = self.site.lookup(target.decode("latin-1"))
        if hit is None:
            return self.respond(c, "404 Not Found", b"not found\n", "text/plain", keep, head_only)
        self.respond(c, "200 OK", hit[0], hit[1], keep, head_only)

    def respond(self, c, status, body, ctype, keep, head_only):
        """body: bytes, or the fd of a large file (sent with mtcp_sendfile)."""
        size = len(body) if not isinstance(body, int) else os.fstat(body).st_size
        key = (status, ctype, size, keep)
        head = self._heads.get(key) if self._date_at == int(time.time()) else None
        if head is None:
            if len(self._heads) >= 1024:
                self._heads.clear()
            head = self._heads[key] = (
                "HTTP/1.1 %s\r\nDate: %s\r\nServer: xdpmtcp-epserver\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\nConnection: %s\r\n\r\n"
                % (status, self.date(), ctype, size, "keep-alive" if keep else "close")).encode()
        c.out += head
        if isinstance(body, int):
            if head_only or not size:
                os.close(body)
            else:
                c.file, c.file_off, c.file_left = body, 0, size
        elif not head_only:
            c.out += body
        if not keep:
            c.close_after = True

    def send_file(self, c):
        """The pending file body after out; False when the connection had
        to go (an error, or the file shrank below its Content-Length)."""
        while c.file_left:
            try:
                n = mtcp_sendfile(self.ctx, c.fd, c.file, c.file_off, c.file_left)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not n:
                return False                 # the file ended early: the length we promised is a lie
            self.bytes_out += n
            c.file_off += n
            c.file_left -= n
        os.close(c.file)
        c.file = None
        self.process(c)                      # requests that waited behind it
        return True

    def flush(self, c):
        while c.out or c.file is not None:
            while c.out:
                try:
                    n = mtcp_write(self.ctx, c.fd, c.out)
                except BlockingIOError:
                    break
                except OSError:
                    self.close(c)
                    return
                self.bytes_out += n
                del c.out[:n]
            if c.out or c.file is None:
                break
            if not self.send_file(c):
                self.close(c)
                return
            if c.file is not None:
                break                        # send buffer full
        if (c.out or c.file is not None) and not c.writing:
            c.writing = True
            mtcp_epoll_ctl(self.ctx, self.ep, MTCP_EPOLL_CTL_MOD, c.fd, MTCP_EPOLLIN | MTCP_EPOLLOUT)
        elif not c.out and c.file is None:
            if c.close_after:
                self.close(c)
            elif c.writing:
                c.writing = False
                mtcp_epoll_ctl(self.ctx, self.ep, MTCP_EPOLL_CTL_MOD, c.fd, MTCP_EPOLLIN)

    def close(self, c):
        if c.file is not None:
            os.close(c.file)
            c.file = None
        if self.clients.pop(c.fd, None) is not None:
            mtcp_close(self.ctx, c.fd)


def parse_args(argv=None):
    p = OneLineErrorParser(prog="epserver.py", description=__doc__, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-p", dest="root", metavar="ROOT", type=existing_dir, required=True,
                   help="directory of the files to serve")
    p.add_argument("-f", dest="conf", metavar="CONF", required=True,
                   help="mtcp.conf-style configuration (the interface is its 'port' line)")
    p.add_argument("-N", dest="cores", metavar="CORES", type=non_negative_int, default=0,
                   help="cores (contexts) to run; default: num_cores of CONF")
    p.add_argument("--port", type=port, default=80, help="TCP port to listen on (default 80)")
    p.add_argument("--backlog", type=positive_int, default=4096, help="listen backlog (default 4096)")
    p.add_argument("--netns", metavar="NS", type=netns_name,
                   help="run inside network namespace NS (a lab's stack side)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    site = Site(args.root)

    def serve(ctx, stop):
        server = Server(ctx, site, args.port, stop, args.backlog)
        serving()
        server.run()
        return {"accepted": server.accepted, "requests": server.requests, "bytes": server.bytes_out}

    def ready(cores):
        ports = runtime.current().config.ports
        addrs = ", ".join(a for ifname in ports for a in interface_ipv4(ifname))
        note(PROG, "ready: serving %s on tcp/%d of %s (%s), %d core(s); Ctrl-C stops"
             % (site.root, args.port, " ".join(ports), addrs, cores))

    totals = []
    try:
        with in_netns(args.netns):
            mtcp_init(args.conf)
            totals = run_cores(PROG, args.cores, serve, on_ready=ready)
    except (OSError, RuntimeError) as e:        # RuntimeError: XdpError (BCC, attach), a worker died
        note(PROG, str(e))
        return 1
    finally:
        mtcp_destroy()                       # closes the contexts: XDP detached, ports released
    for k, t in enumerate(totals):
        if t is not None:
            note(PROG, "core %d: %d connections, %d requests, %d bytes sent"
                 % (k, t["accepted"], t["requests"], t["bytes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
