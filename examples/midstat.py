#!/usr/bin/env python3
"""midstat: a live table of the connections the monitor follows, with the
emulated TCP state of each side (mOS's midstat sample, in Python).

    examples/midstat.py --pcap trace.pcap [--interval 1]

Every --interval seconds of the input's clock (the packets' own time for a
capture) the table is printed; flows enter at MOS_ON_CONN_START and leave
at MOS_ON_CONN_END, states follow MOS_ON_TCP_STATE_CHANGE on both hooks.
"""
import argparse
import sys

import _bootstrap  # noqa: E402,F401  (first: the clone on sys.path, its .venv)

from xdpmtcp.commands.common import OneLineErrorParser, input_file, positive_seconds  # noqa: E402
from xdpmtcp.mos_api import *  # noqa: E402,F401,F403
from xdpmtcp.mos_api import (AF_INET, MOS_HK_RCV, MOS_HK_SND, MOS_ON_CONN_END,  # noqa: E402
                             MOS_ON_CONN_START, MOS_ON_TCP_STATE_CHANGE, MOS_SIDE_BOTH,
                             MOS_SIDE_CLI, MOS_SOCK_MONITOR_STREAM, MOS_TCP_STATE_CLI,
                             MOS_TCP_STATE_SVR, SOL_MONSOCKET, mtcp_app_join,
                             mtcp_create_context, mtcp_getpeername, mtcp_getsockopt,
                             mtcp_register_callback, mtcp_settimer, mtcp_socket, tcpstate)


class Midstat:
    def __init__(self, mctx, interval, out=sys.stdout):
        self.conns = {}
        self.interval = interval
        self.out = out
        self.prints = 0
        sock = mtcp_socket(mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_START, MOS_HK_SND, self.on_start)
        mtcp_register_callback(mctx, sock, MOS_ON_CONN_END, MOS_HK_SND, self.on_end)
        mtcp_register_callback(mctx, sock, MOS_ON_TCP_STATE_CHANGE, MOS_HK_SND, self.on_state)
        mtcp_register_callback(mctx, sock, MOS_ON_TCP_STATE_CHANGE, MOS_HK_RCV, self.on_state)
        mtcp_settimer(mctx, sock, interval, self.on_timer)

    def on_start(self, mctx, sock, side, event, arg):
        self.conns[sock] = {"addrs": mtcp_getpeername(mctx, sock, MOS_SIDE_BOTH),
                            "cli": "-", "svr": "-"}

    def on_end(self, mctx, sock, side, event, arg):
        self.conns.pop(sock, None)

    def on_state(self, mctx, sock, side, event, arg):
        c = self.conns.get(sock)
        if c is None:
            return
        opt = MOS_TCP_STATE_CLI if side == MOS_SIDE_CLI else MOS_TCP_STATE_SVR
        st = tcpstate(mtcp_getsockopt(mctx, sock, SOL_MONSOCKET, opt)).name[4:]
        c["cli" if side == MOS_SIDE_CLI else "svr"] = st

    def on_timer(self, mctx, sock, side, event, arg):
        self.print_table()
        mtcp_settimer(mctx, sock, self.interval, self.on_timer)

    def print_table(self):
        self.prints += 1
        w = self.out.write
        w("%-5s %-21s %-12s %-21s %-12s\n" % ("Proto", "Client Address", "Client State",
                                              "Server Address", "Server State"))
        for c in self.conns.values():
            (cip, cport), (sip, sport) = c["addrs"]
            w("%-5s %-21s %-12s %-21s %-12s\n" % ("tcp", "%s:%d" % (cip, cport), c["cli"],
                                                  "%s:%d" % (sip, sport), c["svr"]))
        w("\n")


def main(argv=None):
    p = OneLineErrorParser(description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pcap", type=input_file, required=True, help="capture to replay (live input: not yet)")
    p.add_argument("--interval", type=positive_seconds, default=1.0)
    args = p.parse_args(argv)
    mctx = mtcp_create_context(0, pcap=args.pcap)
    m = Midstat(mctx, args.interval)
    mtcp_app_join(mctx)
    m.print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
