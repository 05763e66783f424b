#!/usr/bin/env python3
"""echo: every byte a client sends comes back, until the client closes;
then the connection is closed.  Written with the Pythonic facade
(xdpmtcp.Context, socket and epoll objects) to show it next to the mTCP
dialect of epserver.py and epwget.py.
"""
import argparse
import sys

from _example import StopFlag, in_netns, note

import xdpmtcp
from xdpmtcp.api import load_config
from xdpmtcp.api.constants import SO_REUSEADDR, SOL_SOCKET
from xdpmtcp.commands.common import OneLineErrorParser, netns_name, port
from xdpmtcp.mtcp_api import MTCP_EPOLLERR, MTCP_EPOLLHUP, MTCP_EPOLLIN, MTCP_EPOLLOUT

PROG = "echo"
HOLD_MAX = 16 << 20     # bytes held for a client that sends faster than it reads
EPILOG = """\
examples:
    echo.py -f lab.conf --port 7 --netns xm3f9a1c-stack
    printf 'hello\\n' | nc -q1 198.18.0.1 7        # from another host

CONF is an mtcp.conf-style file (see epserver.py --help); echo runs one
context (core 0).  SIGINT or SIGTERM stop it; it prints its totals.
"""


class Echo:
    def __init__(self, ctx, port, stop):
        self.ctx = ctx
        self.stop = stop
        self.listener = ctx.socket()
        self.listener.setblocking(False)
        self.listener.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        self.listener.bind(("0.0.0.0", port))
        self.listener.listen(1024)
        self.ep = ctx.epoll()
        self.ep.register(self.listener, MTCP_EPOLLIN)
        self.conns = {}            # fd -> [socket, pending bytes, events registered]
        self.accepted = self.echoed = 0

    def run(self):
        while not self.stop:
            for fd, events in self.ep.poll(0.1, 1024):
                if fd == self.listener.fileno():
                    self.accept_all()
                elif fd in self.conns:
                    self.serve(fd, events)
        for entry in list(self.conns.values()):
            entry[0].close()

    def accept_all(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            self.accepted += 1
            self.conns[sock.fileno()] = [sock, bytearray(), MTCP_EPOLLIN]
            self.ep.register(sock, MTCP_EPOLLIN)

    def serve(self, fd, events):
        entry = self.conns[fd]
        sock, pending = entry[0], entry[1]
        eof = False
        if events & (MTCP_EPOLLIN | MTCP_EPOLLERR | MTCP_EPOLLHUP):
            while len(pending) < HOLD_MAX:        # a client that never reads cannot eat our memory
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    break
                except OSError:
                    return self.drop(fd)
                if not data:
                    eof = True
                    break
                pending += data
        while pending:
            try:
                n = sock.send(pending)
            except BlockingIOError:
                break
            except OSError:
                return self.drop(fd)
            self.echoed += n
            del pending[:n]
        if eof and not pending:
            return self.drop(fd)
        # bytes held back: wait for room too (and only for room once the hold is full)
        want = MTCP_EPOLLIN | (MTCP_EPOLLOUT if pending else 0)
        if len(pending) >= HOLD_MAX:
            want = MTCP_EPOLLOUT
        if want != entry[2]:
            entry[2] = want
            self.ep.modify(sock, want)

    def drop(self, fd):
        sock = self.conns.pop(fd)[0]
        self.ep.unregister(sock)
        sock.close()


def main(argv=None):
    p = OneLineErrorParser(prog="echo.py", description=__doc__, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", dest="conf", metavar="CONF", required=True, help="mtcp.conf-style configuration")
    p.add_argument("--port", type=port, default=7, help="TCP port (default 7, the echo port)")
    p.add_argument("--netns", metavar="NS", type=netns_name, help="run inside network namespace NS")
    args = p.parse_args(argv)
    stop = StopFlag()
    try:
        with in_netns(args.netns):
            config = load_config(args.conf)
            with xdpmtcp.Context(config=config) as ctx:
                server = Echo(ctx, args.port, stop)
                note(PROG, "ready: echoing on tcp/%d of %s (%s); Ctrl-C stops"
                     % (args.port, ctx.name, ", ".join(ctx.local_addresses())))
                server.run()
    except (OSError, RuntimeError) as e:
        note(PROG, str(e))
        return 1
    note(PROG, "%d connections, %d bytes echoed" % (server.accepted, server.echoed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
